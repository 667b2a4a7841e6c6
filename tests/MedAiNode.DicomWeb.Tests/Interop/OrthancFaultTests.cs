using MedAiNode.Dicom;
using MedAiNode.Dicom.IO;
using MedAiNode.DicomWeb.Tests.Support;
using Xunit.Abstractions;

namespace MedAiNode.DicomWeb.Tests.Interop;

/// <summary>The PACS dies part way through a transfer and comes back on the same storage and port.</summary>
public sealed class OrthancFaultTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Stow_survives_the_PACS_being_killed_mid_request_and_restarted_with_nothing_lost_or_doubled()
    {
        using var orthanc = new OrthancServer();
        var o = Synthetic.Pacs(orthanc.DicomWebUrl);
        o.StowMaxInstances = 4; // 7 requests for the 28 slices
        o.MaxRetries = 8;
        o.RetryBaseDelay = TimeSpan.FromMilliseconds(200);
        var counter = new CountingHandler();
        using var c = new StandaloneDicomWebClient(o, customize: b => b.AddHttpMessageHandler(() => counter));
        Task? restart = null;
        var killed = 0;
        // Kill while the third request's body is on the wire: two batches are stored, the third is cut off.
        c.Client.StowPartWritten = (batch, part) =>
        {
            if (batch == 2 && part == 1 && Interlocked.Exchange(ref killed, 1) == 0)
            {
                orthanc.Kill();
                restart = Task.Run(async () =>
                {
                    await Task.Delay(1500);
                    orthanc.Start();
                });
            }
        };

        var result = await c.Client.StoreFilesAsync(Synthetic.PhantomFiles);
        await restart!;

        output.WriteLine($"requests {result.Requests}, attempts on the wire {counter.Attempts.Count}");
        Assert.Equal(1, killed);
        Assert.True(result.AllStored, string.Join("; ", result.Failures.Select(f => f.Message)));
        Assert.Equal(28, result.StoredCount);
        Assert.True(counter.Attempts.Count > 7, "the cut-off request must have been sent again");
        Assert.Equal(28, await orthanc.CountInstancesAsync());
        var uids = await orthanc.StoredSopInstanceUidsAsync();
        var expected = Synthetic.PhantomFiles.Select(p => DicomFile.Open(p, new() { StopBeforePixelData = true }).Dataset.GetString(DicomTags.SOPInstanceUID)!).ToHashSet();
        Assert.Equal(28, uids.Count);
        Assert.True(expected.SetEquals(uids));
    }

    [Fact]
    public async Task Wado_resumes_the_missing_instances_after_the_PACS_dies_mid_download()
    {
        using var orthanc = new OrthancServer();
        foreach (var p in Synthetic.PhantomFiles) await orthanc.UploadAsync(p);
        var study = DicomFile.Open(Synthetic.PhantomFiles[0], new() { StopBeforePixelData = true }).Dataset.GetString(DicomTags.StudyInstanceUID)!;
        var o = Synthetic.Pacs(orthanc.DicomWebUrl);
        o.MaxRetries = 8;
        o.RetryBaseDelay = TimeSpan.FromMilliseconds(200);
        using var c = new StandaloneDicomWebClient(o);
        Task? restart = null;
        var killed = 0;
        c.Client.WadoPartWritten = n =>
        {
            if (n == 5 && Interlocked.Exchange(ref killed, 1) == 0)
            {
                orthanc.Kill();
                restart = Task.Run(async () =>
                {
                    await Task.Delay(1000);
                    orthanc.Start();
                });
            }
        };
        var dir = TestData.TempDir("wado-fault");
        var result = await c.Client.RetrieveStudyAsync(study, dir);
        await restart!;

        Assert.Equal(1, killed);
        Assert.True(result.Resumes >= 1);
        Assert.Equal(28, result.Instances.Count);
        Assert.Equal(28, Directory.GetFiles(dir).Length); // and no partial temp file left
        foreach (var i in result.Instances)
            Assert.Equal(512 * 512 * 2, ((DicomElement)DicomFile.Open(i.Path).Dataset[DicomTags.PixelData]!).Length);
    }
}
