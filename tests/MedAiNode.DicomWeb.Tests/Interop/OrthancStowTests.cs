using MedAiNode.Dicom;
using MedAiNode.Dicom.IO;
using MedAiNode.DicomWeb.Qido;
using MedAiNode.DicomWeb.Stow;
using MedAiNode.DicomWeb.Tests.Support;

namespace MedAiNode.DicomWeb.Tests.Interop;

/// <summary>STOW-RS into a fresh Orthanc per test, so instance counts are exact.</summary>
public sealed class OrthancStowTests
{
    [Fact]
    public async Task Storing_the_phantom_series_in_batches_stores_each_instance_once_even_when_sent_twice()
    {
        using var orthanc = new OrthancServer();
        var o = Synthetic.Pacs(orthanc.DicomWebUrl);
        o.StowMaxInstances = 8;
        using var c = new StandaloneDicomWebClient(o);
        var progress = new List<StowProgress>();
        var result = await c.Client.StoreFilesAsync(Synthetic.PhantomFiles, progress: new SyncProgress<StowProgress>(progress.Add));

        Assert.True(result.AllStored, string.Join("; ", result.Failures.Select(f => f.Message)));
        Assert.Equal(28, result.StoredCount);
        Assert.Equal(4, result.Requests); // 8 + 8 + 8 + 4
        Assert.Equal(new[] { 8, 16, 24, 28 }, progress.Select(p => p.InstancesDone));
        Assert.All(result.Instances, i => Assert.Contains(i.SopInstanceUid!, i.RetrieveUrl));
        Assert.Equal(28, await orthanc.CountInstancesAsync());

        // The same UIDs again (a retried STOW): Orthanc keeps one copy of each.
        var again = await c.Client.StoreFilesAsync(Synthetic.PhantomFiles);
        Assert.True(again.AllStored);
        Assert.Equal(28, await orthanc.CountInstancesAsync());
        var uids = await orthanc.StoredSopInstanceUidsAsync();
        Assert.Equal(28, uids.Distinct().Count());
        Assert.Equal(28, uids.Count);
    }

    [Fact]
    public async Task Batch_by_bytes_sends_a_large_instance_alone()
    {
        using var orthanc = new OrthancServer();
        var o = Synthetic.Pacs(orthanc.DicomWebUrl);
        o.StowMaxBytes = 1_100_000; // two 531 KB CT slices fit, three do not
        using var c = new StandaloneDicomWebClient(o);
        var result = await c.Client.StoreFilesAsync(Synthetic.PhantomFiles.Take(5));
        Assert.True(result.AllStored);
        Assert.Equal(3, result.Requests);
        Assert.Equal(5, await orthanc.CountInstancesAsync());
    }

    [Fact]
    public async Task A_batch_with_one_invalid_instance_reports_only_that_instance()
    {
        using var orthanc = new OrthancServer();
        using var c = new StandaloneDicomWebClient(Synthetic.Pacs(orthanc.DicomWebUrl));
        var study = DicomUidGenerator.Default.Generate();
        var series = DicomUidGenerator.Default.Generate();
        var good = Enumerable.Range(1, 4).Select(n => Synthetic.Instance(study, series, instanceNumber: n)).ToList();
        // Valid Part 10 framing, but no SOP Instance UID: the PACS has to refuse it and cannot even name it.
        var bad = Synthetic.Instance(study, series, instanceNumber: 5);
        var badSop = bad.Dataset.GetString(DicomTags.SOPInstanceUID)!;
        bad.Dataset.Remove(DicomTags.SOPInstanceUID);
        var badBytes = bad.ToBytes();
        var instances = good.Take(2).Select(StowInstance.FromDicomFile)
            .Append(StowInstance.FromBytes(badBytes, sopInstanceUid: badSop))
            .Concat(good.Skip(2).Select(StowInstance.FromDicomFile)).ToList();

        var result = await c.Client.StoreAsync(instances);

        Assert.Equal(1, result.Requests);
        Assert.Equal(5, result.Instances.Count);
        var failure = Assert.Single(result.Failures);
        Assert.Equal(badSop, failure.SopInstanceUid);
        Assert.False(failure.IsStored);
        Assert.NotNull(failure.Message);
        Assert.Equal(4, result.StoredCount);
        Assert.Equal(4, await orthanc.CountInstancesAsync());
        var stored = (await orthanc.StoredSopInstanceUidsAsync()).ToHashSet();
        Assert.True(good.Select(g => g.Dataset.GetString(DicomTags.SOPInstanceUID)!).ToHashSet().SetEquals(stored));
    }

    [Fact]
    public async Task Instances_of_another_study_are_named_in_FailedSOPSequence_when_storing_to_a_study()
    {
        using var orthanc = new OrthancServer();
        using var c = new StandaloneDicomWebClient(Synthetic.Pacs(orthanc.DicomWebUrl));
        var study = DicomUidGenerator.Default.Generate();
        var series = DicomUidGenerator.Default.Generate();
        var files = Enumerable.Range(1, 3).Select(n => Synthetic.Instance(study, series, instanceNumber: n)).ToList();
        var stranger = Synthetic.Instance(DicomUidGenerator.Default.Generate(), DicomUidGenerator.Default.Generate());
        files.Insert(1, stranger);

        var result = await c.Client.StoreAsync(files.Select(StowInstance.FromDicomFile).ToList(), studyUid: study);

        var failure = Assert.Single(result.Failures);
        Assert.Equal(stranger.Dataset.GetString(DicomTags.SOPInstanceUID), failure.SopInstanceUid);
        Assert.Equal(StowInstanceStatus.Failed, failure.Status);
        Assert.NotNull(failure.FailureReason); // from the response's FailedSOPSequence
        Assert.Equal(3, result.StoredCount);
        Assert.Equal(3, await orthanc.CountInstancesAsync());
    }

    [Fact]
    public async Task A_file_that_is_not_DICOM_is_reported_without_being_sent_and_the_rest_are_stored()
    {
        using var orthanc = new OrthancServer();
        using var c = new StandaloneDicomWebClient(Synthetic.Pacs(orthanc.DicomWebUrl));
        var dir = TestData.TempDir("stow-mixed");
        var junk = Path.Combine(dir, "notes.dcm");
        await File.WriteAllTextAsync(junk, "this is not a DICOM file, only text that happens to end in .dcm");
        var result = await c.Client.StoreFilesAsync(Synthetic.PhantomFiles.Take(3).Append(junk));
        var failure = Assert.Single(result.Failures);
        Assert.Equal(junk, failure.SourcePath);
        Assert.StartsWith("not sent", failure.Message);
        Assert.Equal(3, result.StoredCount);
        Assert.Equal(3, await orthanc.CountInstancesAsync());
    }

    [Fact]
    public async Task Stored_SEG_like_instance_built_in_memory_can_be_found_again_with_QIDO()
    {
        using var orthanc = new OrthancServer();
        using var c = new StandaloneDicomWebClient(Synthetic.Pacs(orthanc.DicomWebUrl));
        var study = DicomUidGenerator.Default.Generate();
        var f = Synthetic.Instance(study, DicomUidGenerator.Default.Generate());
        var r = await c.Client.StoreAsync([StowInstance.FromDicomFile(f)], studyUid: study);
        Assert.True(r.AllStored);
        var found = await c.Client.SearchAsync(new QidoQuery(QidoLevel.Instances) { StudyInstanceUid = study }).ToListAsync();
        Assert.Equal(f.Dataset.GetString(DicomTags.SOPInstanceUID), Assert.Single(found).GetString(DicomTags.SOPInstanceUID));
    }
}

/// <summary>IProgress that reports on the caller's thread (Progress&lt;T&gt; posts to the thread pool and may report late).</summary>
public sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}
