using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using MedAiNode.Dicom.IO;
using MedAiNode.Dicom.Network.Client;
using MedAiNode.Dicom.Network.Dimse;

namespace MedAiNode.Dicom.Network.Tests;

/// <summary>Orthanc as the PACS: our SCU stores to it, queries it (C-FIND) and retrieves from it (C-MOVE to our own SCP);
/// Orthanc pushes a study to our SCP through its REST API.</summary>
public class OrthancTests
{
    private sealed class Orthanc : IDisposable
    {
        private readonly PeerProcess _p;
        public int DicomPort { get; } = PeerProcess.FreePort();
        public int HttpPort { get; } = PeerProcess.FreePort();
        public HttpClient Http { get; }

        public Orthanc(int ourScpPort)
        {
            var dir = TestData.TempDir("orthanc");
            var config = new
            {
                Name = "medainode-test",
                StorageDirectory = Path.Combine(dir, "storage"),
                IndexDirectory = Path.Combine(dir, "index"),
                HttpPort,
                DicomPort,
                DicomAet = "ORTHANC",
                RemoteAccessAllowed = false,
                AuthenticationEnabled = false,
                DicomCheckCalledAet = true,
                DicomModalities = new Dictionary<string, object[]> { ["medai"] = ["MEDAI", "127.0.0.1", ourScpPort] },
                Plugins = Array.Empty<string>(),
                ConcurrentJobs = 1,
            };
            var cfg = Path.Combine(dir, "orthanc.json");
            File.WriteAllText(cfg, JsonSerializer.Serialize(config));
            _p = new PeerProcess("Orthanc", ["--logdir=" + dir, cfg]);
            _p.WaitForPort(HttpPort, 30000);
            _p.WaitForPort(DicomPort, 30000);
            Http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{HttpPort}/"), Timeout = TimeSpan.FromSeconds(60) };
        }

        public DicomClientOptions Scu() => new() { Host = "127.0.0.1", Port = DicomPort, CalledAE = "ORTHANC", CallingAE = "MEDAI" };

        public void Dispose()
        {
            Http.Dispose();
            _p.Dispose();
        }
    }

    [Fact]
    public async Task StoreFindMoveAndPush_WithOrthanc()
    {
        await using var scp = new TestScp();
        using var orthanc = new Orthanc(scp.Port);
        var files = Directory.GetFiles(TestData.Path_("ct", "philips-phantom-5mm"), "*.dcm").Order().ToArray();
        var first = DicomFile.Open(files[0]).Dataset;
        var study = first.GetString(DicomTags.StudyInstanceUID)!;
        var series = first.GetString(DicomTags.SeriesInstanceUID)!;

        // 1. Our C-STORE SCU fills the PACS.
        var proposals = DicomClient.StorageProposals([(first.GetString(DicomTags.SOPClassUID)!, DicomUids.ExplicitVRLittleEndian)]);
        await using (var a = await DicomClient.ConnectAsync(orthanc.Scu(), proposals))
            foreach (var f in files)
            {
                var r = await a.StoreAsync(f);
                Assert.True(r.Success, $"{r.Status:X4} {r.ErrorComment}");
            }
        var instances = await orthanc.Http.GetFromJsonAsync<string[]>("instances");
        Assert.Equal(files.Length, instances!.Length);

        // 2. C-FIND, Study Root, study and series level.
        var findContexts = new[] { DicomClient.Context(1, DicomUids.StudyRootQueryRetrieveInformationModelFind), DicomClient.Context(3, DicomUids.StudyRootQueryRetrieveInformationModelMove) };
        await using (var a = await DicomClient.ConnectAsync(orthanc.Scu(), findContexts))
        {
            var studies = await a.FindAsync(DicomClientAssociation.StudyRootQuery("STUDY"));
            var s = Assert.Single(studies);
            Assert.Equal(study, s.GetString(DicomTags.StudyInstanceUID));
            Assert.Equal(files.Length, s.GetValue<int>(DicomTags.NumberOfStudyRelatedInstances));
            Assert.Equal(first.GetString(DicomTags.PatientID), s.GetString(DicomTags.PatientID));

            var seriesFound = await a.FindAsync(DicomClientAssociation.StudyRootQuery("SERIES", study));
            var se = Assert.Single(seriesFound);
            Assert.Equal(series, se.GetString(DicomTags.SeriesInstanceUID));
            Assert.Equal("CT", se.GetString(DicomTags.Modality));

            Assert.Empty(await a.FindAsync(DicomClientAssociation.StudyRootQuery("STUDY", "1.2.3.999999")));

            // 3. C-MOVE to this node's own AE: Orthanc opens an association to our SCP and stores the series.
            var moved = await a.MoveAsync("MEDAI", study, series);
            Assert.True(moved.Success, $"{moved.Status:X4} {moved.ErrorComment}");
            Assert.Equal(files.Length, moved.Completed);
            Assert.Equal(0, moved.Failed);

            var unknown = await a.MoveAsync("NOBODY", study);
            Assert.True(DimseStatus.IsFailure(unknown.Status), $"0x{unknown.Status:X4}"); // Orthanc 1.10 answers 0xC000 rather than 0xA801
            Assert.False(unknown.Success);
        }
        Assert.Equal(files.Length, scp.StoredFiles().Length);

        // DCMTK's findscu sees the same study (a cross-check of what Orthanc holds).
        var find = Tool.Run("findscu", ["-S", "-aet", "MEDAI", "-aec", "ORTHANC", "-k", "QueryRetrieveLevel=STUDY", "-k", "StudyInstanceUID", "127.0.0.1", orthanc.DicomPort.ToString()]);
        Assert.Contains(study, find.StdErr + find.StdOut);

        // 4. Orthanc pushes the study to our SCP through its REST API; each copy replaces the earlier one.
        foreach (var f in scp.StoredFiles()) File.Delete(f);
        var studyIds = await orthanc.Http.GetFromJsonAsync<string[]>("studies");
        var push = await orthanc.Http.PostAsync("modalities/medai/store", new StringContent(JsonSerializer.Serialize(new { Resources = studyIds, Synchronous = true })));
        var body = await push.Content.ReadAsStringAsync();
        Assert.True(push.IsSuccessStatusCode, body);
        var stored = scp.StoredFiles();
        Assert.Equal(files.Length, stored.Length);
        foreach (var p in stored)
        {
            var got = DicomFile.Open(p);
            Assert.Equal(study, got.Dataset.GetString(DicomTags.StudyInstanceUID));
            Assert.Equal("ORTHANC", got.FileMetaInfo.GetString(DicomTags.SourceApplicationEntityTitle));
        }
        Assert.Empty(scp.IncomingFiles());
    }
}
