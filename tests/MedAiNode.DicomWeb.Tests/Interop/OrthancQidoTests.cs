using MedAiNode.Dicom;
using MedAiNode.DicomWeb.Qido;
using MedAiNode.DicomWeb.Tests.Support;

namespace MedAiNode.DicomWeb.Tests.Interop;

/// <summary>An Orthanc holding 12 synthetic studies (one instance each, dates 2024-01-01 .. 2024-01-12) and the real phantom CT.</summary>
public sealed class QidoFixture : IAsyncLifetime
{
    public OrthancServer Orthanc { get; } = new();
    public List<string> SyntheticStudies { get; } = new();
    public string PhantomStudy { get; private set; } = "";

    public async Task InitializeAsync()
    {
        var dir = TestData.TempDir("qido-src");
        for (var i = 0; i < 12; i++)
        {
            var study = DicomUidGenerator.Default.Generate();
            SyntheticStudies.Add(study);
            var f = Synthetic.Instance(study, DicomUidGenerator.Default.Generate(), patientId: i % 2 == 0 ? "EVEN" : "ODD", studyDate: new DateOnly(2024, 1, 1 + i));
            await Orthanc.UploadAsync(Synthetic.Save(f, dir));
        }
        foreach (var p in Synthetic.PhantomFiles) await Orthanc.UploadAsync(p);
        PhantomStudy = Dicom.IO.DicomFile.Open(Synthetic.PhantomFiles[0]).Dataset.GetString(DicomTags.StudyInstanceUID)!;
        Directory.Delete(dir, true);
    }

    public Task DisposeAsync()
    {
        Orthanc.Dispose();
        return Task.CompletedTask;
    }
}

public sealed class OrthancQidoTests(QidoFixture fx) : IClassFixture<QidoFixture>
{
    private (StandaloneDicomWebClient Client, CountingHandler Counter) Connect(int pageSize)
    {
        var counter = new CountingHandler();
        var o = Synthetic.Pacs(fx.Orthanc.DicomWebUrl);
        o.QidoPageSize = pageSize;
        return (new StandaloneDicomWebClient(o, customize: b => b.AddHttpMessageHandler(() => counter)), counter);
    }

    [Fact]
    public async Task Study_search_pages_through_every_study_with_limit_and_offset()
    {
        var (c, counter) = Connect(pageSize: 5);
        using var _ = c;
        var found = new List<string>();
        await foreach (var ds in c.Client.SearchAsync(new QidoQuery(QidoLevel.Studies)))
            found.Add(ds.GetString(DicomTags.StudyInstanceUID)!);
        Assert.Equal(13, found.Count); // 12 synthetic + the phantom
        Assert.Equal(found.Count, found.Distinct().Count());
        Assert.Superset(found.ToHashSet(), fx.SyntheticStudies.Append(fx.PhantomStudy).ToHashSet());
        // 5 + 5 + 3: the short third page ends the search.
        Assert.Equal(3, counter.Requests.Count);
        Assert.Contains(counter.Requests, u => u.Query.Contains("limit=5") && u.Query.Contains("offset=10"));
    }

    [Fact]
    public async Task Instance_search_in_a_series_pages_through_all_28_phantom_slices()
    {
        var (c, counter) = Connect(pageSize: 6);
        using var _ = c;
        var series = Dicom.IO.DicomFile.Open(Synthetic.PhantomFiles[0]).Dataset.GetString(DicomTags.SeriesInstanceUID)!;
        var q = new QidoQuery(QidoLevel.Instances) { StudyInstanceUid = fx.PhantomStudy, SeriesInstanceUid = series };
        q.Include(DicomTags.InstanceNumber);
        var sops = new List<string>();
        var numbers = new List<int>();
        await foreach (var ds in c.Client.SearchAsync(q))
        {
            sops.Add(ds.GetString(DicomTags.SOPInstanceUID)!);
            numbers.Add(ds.GetValue<int>(DicomTags.InstanceNumber));
        }
        var expected = Synthetic.PhantomFiles.Select(p => Dicom.IO.DicomFile.Open(p, new() { StopBeforePixelData = true }).Dataset.GetString(DicomTags.SOPInstanceUID)!).ToHashSet();
        Assert.Equal(28, sops.Count);
        Assert.True(expected.SetEquals(sops));
        Assert.Equal(28, numbers.Distinct().Count()); // includefield brought InstanceNumber back
        Assert.Equal(5, counter.Requests.Count); // 6*4 + 4
    }

    [Fact]
    public async Task Limit_and_offset_cut_the_result_and_match_keys_and_date_ranges_filter()
    {
        var (c, _) = Connect(pageSize: 4);
        using var __ = c;
        var all = await c.Client.SearchAsync(new QidoQuery(QidoLevel.Studies)).Select(d => d.GetString(DicomTags.StudyInstanceUID)).ToListAsync();
        var window = await c.Client.SearchAsync(new QidoQuery(QidoLevel.Studies) { Offset = 3, Limit = 7 }).Select(d => d.GetString(DicomTags.StudyInstanceUID)).ToListAsync();
        Assert.Equal(all.Skip(3).Take(7), window);

        var even = await c.Client.SearchAsync(new QidoQuery(QidoLevel.Studies).Match("PatientID", "EVEN")).ToListAsync();
        Assert.Equal(6, even.Count);
        Assert.All(even, d => Assert.Equal("EVEN", d.GetString(DicomTags.PatientID)));

        var q = new QidoQuery(QidoLevel.Studies).MatchDateRange(DicomTags.StudyDate, new DateOnly(2024, 1, 3), new DateOnly(2024, 1, 7));
        var inRange = await c.Client.SearchAsync(q).ToListAsync();
        Assert.Equal(5, inRange.Count);
        Assert.All(inRange, d => Assert.InRange(d.GetDate(DicomTags.StudyDate)!.Value, new DateOnly(2024, 1, 3), new DateOnly(2024, 1, 7)));

        var openEnded = await c.Client.SearchAsync(new QidoQuery(QidoLevel.Studies).MatchDateRange(DicomTags.StudyDate, new DateOnly(2024, 1, 10), null)).ToListAsync();
        Assert.Equal(3, openEnded.Count); // 10, 11, 12 January; the phantom is from 2015
    }

    [Fact]
    public async Task Series_search_with_includefield_returns_the_asked_attribute()
    {
        var (c, _) = Connect(pageSize: 100);
        using var __ = c;
        var q = new QidoQuery(QidoLevel.Series) { StudyInstanceUid = fx.PhantomStudy }.Include("NumberOfSeriesRelatedInstances");
        var series = await c.Client.SearchAsync(q).ToListAsync();
        var s = Assert.Single(series);
        Assert.Equal(28, s.GetValue<int>(DicomTags.NumberOfSeriesRelatedInstances));
        Assert.Equal("CT", s.GetString(DicomTags.Modality));
    }
}
