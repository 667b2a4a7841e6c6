using MedAiNode.Dicom;
using MedAiNode.Dicom.IO;
using MedAiNode.DicomWeb.Tests.Support;

namespace MedAiNode.DicomWeb.Tests.Interop;

/// <summary>An Orthanc holding the real 28-slice Philips phantom CT, uploaded through Orthanc's own REST API.</summary>
public sealed class PhantomFixture : IAsyncLifetime
{
    public OrthancServer Orthanc { get; } = new();
    public string Study { get; private set; } = "";
    public string Series { get; private set; } = "";
    public Dictionary<string, string> SourceBySop { get; } = new();

    public async Task InitializeAsync()
    {
        foreach (var p in Synthetic.PhantomFiles)
        {
            await Orthanc.UploadAsync(p);
            var ds = DicomFile.Open(p, new() { StopBeforePixelData = true }).Dataset;
            SourceBySop[ds.GetString(DicomTags.SOPInstanceUID)!] = p;
            Study = ds.GetString(DicomTags.StudyInstanceUID)!;
            Series = ds.GetString(DicomTags.SeriesInstanceUID)!;
        }
    }

    public Task DisposeAsync()
    {
        Orthanc.Dispose();
        return Task.CompletedTask;
    }
}

public sealed class OrthancWadoTests(PhantomFixture fx) : IClassFixture<PhantomFixture>
{
    private static byte[] PixelBytes(DicomFile f) => ((DicomElement)f.Dataset[DicomTags.PixelData]!).Buffer.GetData().ToArray();

    [Fact]
    public async Task Whole_study_is_streamed_to_one_file_per_instance_with_identical_pixels()
    {
        using var c = new StandaloneDicomWebClient(Synthetic.Pacs(fx.Orthanc.DicomWebUrl));
        var dir = TestData.TempDir("wado-study");
        var result = await c.Client.RetrieveStudyAsync(fx.Study, dir);

        Assert.Empty(result.Problems);
        Assert.Equal(28, result.Instances.Count);
        var files = Directory.GetFiles(dir);
        Assert.Equal(28, files.Length); // no temporary files left behind
        foreach (var inst in result.Instances)
        {
            Assert.Equal(Path.Combine(dir, inst.SopInstanceUid + ".dcm"), inst.Path);
            Assert.Equal(DicomUids.ExplicitVRLittleEndian, inst.TransferSyntaxUid);
            var got = DicomFile.Open(inst.Path);
            var src = DicomFile.Open(fx.SourceBySop[inst.SopInstanceUid]);
            Assert.Equal(inst.SopInstanceUid, got.Dataset.GetString(DicomTags.SOPInstanceUID));
            Assert.Equal(src.Dataset.GetString(DicomTags.ImagePositionPatient), got.Dataset.GetString(DicomTags.ImagePositionPatient));
            Assert.Equal(PixelBytes(src), PixelBytes(got));
        }
        Assert.Equal(result.Instances.Sum(i => i.Bytes), result.BytesReceived);
        // DCMTK reads what was written as a valid Part 10 file.
        var dump = Tool.Run("dcmdump", ["-q", "+P", "0008,0018", result.Instances.First().Path]);
        Assert.Equal(0, dump.ExitCode);
        Assert.Contains(result.Instances.First().SopInstanceUid, dump.StdOut);
    }

    [Fact]
    public async Task Series_and_single_instance_retrieve_and_metadata()
    {
        using var c = new StandaloneDicomWebClient(Synthetic.Pacs(fx.Orthanc.DicomWebUrl));
        var dir = TestData.TempDir("wado-series");
        var series = await c.Client.RetrieveSeriesAsync(fx.Study, fx.Series, dir);
        Assert.Equal(28, series.Instances.Count);

        var one = fx.SourceBySop.Keys.Order(StringComparer.Ordinal).First();
        var dir2 = TestData.TempDir("wado-instance");
        var single = await c.Client.RetrieveInstanceAsync(fx.Study, fx.Series, one, dir2);
        Assert.Equal(one, Assert.Single(single.Instances).SopInstanceUid);

        var meta = await c.Client.RetrieveMetadataAsync(fx.Study, fx.Series);
        Assert.Equal(28, meta.Count);
        Assert.True(fx.SourceBySop.Keys.ToHashSet().SetEquals(meta.Select(m => m.GetString(DicomTags.SOPInstanceUID)!)));
        Assert.All(meta, m => Assert.Equal(512, m.GetValue<int>(DicomTags.Rows)));
    }

    [Fact]
    public async Task Unknown_study_is_a_clear_error_not_an_empty_result()
    {
        using var c = new StandaloneDicomWebClient(Synthetic.Pacs(fx.Orthanc.DicomWebUrl));
        var e = await Assert.ThrowsAsync<DicomWebException>(() => c.Client.RetrieveStudyAsync("1.2.3.4.5.6.7", TestData.TempDir("wado-missing")));
        Assert.Equal(System.Net.HttpStatusCode.NotFound, e.StatusCode);
        Assert.False(e.IsUnavailable);
    }

    [Fact]
    public async Task A_UID_that_would_escape_the_url_or_folder_is_refused_before_sending()
    {
        using var c = new StandaloneDicomWebClient(Synthetic.Pacs(fx.Orthanc.DicomWebUrl));
        await Assert.ThrowsAsync<ArgumentException>(() => c.Client.RetrieveStudyAsync("../../etc", TestData.TempDir("wado-bad")));
    }
}
