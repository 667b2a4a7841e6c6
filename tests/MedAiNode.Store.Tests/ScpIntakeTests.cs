using MedAiNode.Dicom;
using MedAiNode.Dicom.IO;
using MedAiNode.Dicom.Network.Client;
using MedAiNode.Dicom.Network.Dimse;
using MedAiNode.Dicom.Network.Services;

namespace MedAiNode.Store.Tests;

/// <summary>
/// The C-STORE SCP with the study store as its target, in process: each instance is parsed once (by the SCP), the
/// store files it from that parse, and the store's checks are the only ones (capacity with Store:MaxFillPercent, UIDs).
/// </summary>
public class ScpIntakeTests
{
    private static string Philips(int n) => TestData.Path_("ct", "philips-phantom-5mm", $"I{n * 10}.dcm");

    /// <summary>The study store's own target, except that the received file is overwritten with zeros just before the
    /// commit: whatever the store needs must come from the instance the SCP parsed, since the file no longer parses.</summary>
    private sealed class ZeroFileBeforeCommit(StudyStore store) : IDicomStoreTarget
    {
        private readonly IDicomStoreTarget _store = store;
        public int Commits;
        public string TempDirectory => _store.TempDirectory;
        public bool Fsync => _store.Fsync;
        public string? CheckCapacity() => _store.CheckCapacity();

        public ValueTask<string> CommitAsync(ReceivedInstance instance, CancellationToken ct)
        {
            Interlocked.Increment(ref Commits);
            File.WriteAllBytes(instance.TempPath, new byte[new FileInfo(instance.TempPath).Length]);
            return _store.CommitAsync(instance, ct);
        }
    }

    private static async Task<List<StoreResult>> SendAsync(int port, params string[] files)
    {
        var heads = files.Select(f => DicomFile.Open(f, new DicomReadOptions { StopBeforePixelData = true })).ToList();
        var proposals = DicomClient.StorageProposals(heads.Select(h => (h.Dataset.GetString(DicomTags.SOPClassUID)!, h.TransferSyntax.Uid)));
        var results = new List<StoreResult>();
        await using var a = await DicomClient.ConnectAsync(new DicomClientOptions { Port = port, CalledAE = "MEDAI", CallingAE = "CT_SCANNER" }, proposals);
        foreach (var f in files) results.Add(await a.StoreAsync(f));
        await a.ReleaseAsync();
        return results;
    }

    private static DicomServer Listen(IDicomStoreTarget target)
    {
        var server = new DicomServer(new DicomServerOptions { AETitle = "MEDAI", BindAddress = "127.0.0.1", Port = 0 }, target);
        server.Start();
        return server;
    }

    [Fact]
    public async Task The_store_files_what_the_scp_parsed_without_reading_the_file_again()
    {
        var store = new StudyStore(new StudyStoreOptions { Root = TestData.TempDir("scp-store") });
        var target = new ZeroFileBeforeCommit(store);
        await using var server = Listen(target);
        // One routine slice and one whose StudyPriorityID makes the study "stat": the priority input must reach the store too.
        var urgent = DicomFile.Open(Philips(2));
        urgent.Dataset.Set(DicomTags.StudyPriorityID, "HIGH");
        var urgentPath = Path.Combine(TestData.TempDir("scp-store-src"), "urgent.dcm");
        urgent.Save(urgentPath);

        var results = await SendAsync(server.Port, Philips(1), urgentPath);

        Assert.All(results, r => Assert.True(r.Success, $"0x{r.Status:X4} {r.ErrorComment}"));
        Assert.Equal(2, target.Commits);
        var sent = DicomFile.Open(Philips(1)).Dataset;
        var record = store.Get(sent.GetString(DicomTags.StudyInstanceUID)!)!;
        Assert.Equal(2, record.InstanceCount);
        var series = record.Series[sent.GetString(DicomTags.SeriesInstanceUID)!];
        Assert.Equal("CT", series.Modality);
        Assert.Equal(2, series.InstanceCount);
        Assert.Equal("stat", record.Priority);
        Assert.Equal(["CT_SCANNER"], record.CallingAeTitles);
        // What was filed is the zeroed file: reading it back would have failed, so the store never did.
        var filed = store.InstancePaths(record.StudyInstanceUid).ToList();
        Assert.Equal(2, filed.Count);
        Assert.Contains(filed, p => Path.GetFileNameWithoutExtension(p) == sent.GetString(DicomTags.SOPInstanceUID));
        foreach (var p in filed)
        {
            Assert.All(File.ReadAllBytes(p), b => Assert.Equal(0, b));
            Assert.ThrowsAny<DicomFormatException>(() => ReceivedInstance.Read(p, "CT_SCANNER"));
        }
        Assert.Empty(Directory.GetFiles(store.IncomingRoot));
    }

    [Fact]
    public async Task A_full_store_is_refused_0xA700_by_its_own_check_naming_Store_MaxFillPercent()
    {
        var store = new StudyStore(new StudyStoreOptions { Root = TestData.TempDir("scp-full"), MaxFillPercent = 90 });
        await using var server = Listen(store);
        store.FillPercentProbe = () => 91.5;

        var refused = Assert.Single(await SendAsync(server.Port, Philips(1)));

        Assert.Equal(DimseStatus.OutOfResources, refused.Status);
        Assert.Contains("Store:MaxFillPercent", refused.ErrorComment);
        Assert.Contains("91.5% full (limit 90%", refused.ErrorComment);
        Assert.Empty(Directory.GetFiles(store.StudiesRoot, "*.dcm", SearchOption.AllDirectories));
        Assert.Empty(Directory.GetFiles(store.IncomingRoot));

        // The same check lets the instance in once the store is below its limit again.
        store.FillPercentProbe = () => 89.5;
        var accepted = Assert.Single(await SendAsync(server.Port, Philips(1)));
        Assert.True(accepted.Success, $"0x{accepted.Status:X4} {accepted.ErrorComment}");
        Assert.Single(Directory.GetFiles(store.StudiesRoot, "*.dcm", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task An_instance_without_a_study_uid_is_quarantined_by_the_store_and_answered_0xC000()
    {
        var store = new StudyStore(new StudyStoreOptions { Root = TestData.TempDir("scp-quarantine") });
        await using var server = Listen(store);
        var file = DicomFile.Open(Philips(1));
        file.Dataset.Remove(DicomTags.StudyInstanceUID);
        var bad = Path.Combine(TestData.TempDir("scp-quarantine-src"), "no-study.dcm");
        file.Save(bad);

        var r = Assert.Single(await SendAsync(server.Port, bad));

        Assert.Equal(DimseStatus.CannotUnderstand, r.Status);
        Assert.Contains("StudyInstanceUID", r.ErrorComment);
        Assert.Single(Directory.GetFiles(store.QuarantineRoot, "*.dcm"));
        Assert.Contains("StudyInstanceUID", File.ReadAllText(Assert.Single(Directory.GetFiles(store.QuarantineRoot, "*.reason.txt"))));
        Assert.Empty(store.List());
        Assert.Empty(Directory.GetFiles(store.IncomingRoot));
    }
}
