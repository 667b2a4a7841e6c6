using System.Text.Json.Nodes;
using MedAiNode.Dicom;
using MedAiNode.Export;
using MedAiNode.Imaging.Series;
using MedAiNode.Inference.Manifests;
using MedAiNode.Results;
using MedAiNode.Store;
using MedAiNode.Analysis;
using MedAiNode.Worker.Analysis;
using MedAiNode.Worker.Jobs;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Xunit.Abstractions;

namespace MedAiNode.Worker.Tests;

/// <summary>An analyzer that fails the way a real one does, counting its calls.</summary>
internal sealed class ThrowingAnalyzer(Func<Exception> fail) : IStudyAnalyzer
{
    private int _calls;
    public int Calls => Volatile.Read(ref _calls);

    public async Task<AnalysisOutcome> AnalyzeAsync(StudyRecord study, IProgress<double>? progress, CancellationToken ct)
    {
        Interlocked.Increment(ref _calls);
        await Task.Yield();
        throw fail();
    }
}

/// <summary>An analyzer that succeeds at once: one result (a copy of a CT slice) in the outbox.</summary>
internal sealed class OneResultAnalyzer(Outbox outbox) : IStudyAnalyzer
{
    public Task<AnalysisOutcome> AnalyzeAsync(StudyRecord study, IProgress<double>? progress, CancellationToken ct)
    {
        var result = MedAiNode.Dicom.IO.DicomFile.Open(TestData.Path_("ct", "philips-phantom-5mm", "I10.dcm"));
        result.Dataset.Set(DicomTags.StudyInstanceUID, study.StudyInstanceUid);
        result.Dataset.Set(DicomTags.SOPInstanceUID, study.StudyInstanceUid + ".99.1");
        return Task.FromResult(new AnalysisOutcome(AnalysisStatus.Succeeded, "series", "fingerprint", null, [outbox.Put(result)]));
    }
}

/// <summary>A PACS that fails every delivery the same way.</summary>
internal sealed class FailingDestination(Func<Exception> fail) : IResultDestination
{
    private int _calls;
    public int Calls => Volatile.Read(ref _calls);
    public string Name => "failing-pacs";

    public Task<IReadOnlyCollection<string>> DeliverAsync(IReadOnlyList<OutboxItem> items, CancellationToken ct)
    {
        Interlocked.Increment(ref _calls);
        throw fail();
    }
}

/// <summary>Which failures are permanent: decided in one place.</summary>
public class FailureClassifierTests
{
    public static TheoryData<Exception> Permanent() =>
    [
        new AnalysisRejectedException("no eligible series"), new ResultsInputException("no plane geometry"), new VolumeAssemblyException("gap"),
        new ManifestException("label has no Type code"), new DicomFormatException("truncated"), new NotSupportedException("JPEG 2000 12-bit"),
        new InvalidDataException("bad RLE segment"), new AggregateException(new DicomFormatException("a"), new NotSupportedException("b")),
    ];

    public static TheoryData<Exception> Transient() =>
    [
        new IOException("disk full"), new DicomFileChangedException("/store/1.2/3.4/5.6.dcm"), new HttpRequestException("connection refused"), new TimeoutException(), new OperationCanceledException(),
        new TaskCanceledException(), new OutOfMemoryException(), new InvalidOperationException("no model is ready: model 'x' not found"),
        new AggregateException(new HttpRequestException("503"), new DicomFormatException("a")),
    ];

    [Theory, MemberData(nameof(Permanent))]
    public void Input_that_can_never_succeed_is_permanent(Exception e)
    {
        var v = FailureClassifier.Classify(e);
        Assert.Equal(FailureKind.Permanent, v.Kind);
        Assert.False(string.IsNullOrWhiteSpace(v.Reason));
    }

    [Theory, MemberData(nameof(Transient))]
    public void Io_network_timeouts_cancellation_memory_and_missing_models_are_transient(Exception e) =>
        Assert.Equal(FailureKind.Transient, FailureClassifier.Classify(e).Kind);

    [Fact]
    public void The_reason_names_the_exception_and_its_message() =>
        Assert.Equal(("ResultsInputException: Source image 1.2 has no Rows/Columns.", "ResultsInputException"),
            (FailureClassifier.Classify(new ResultsInputException("Source image 1.2 has no Rows/Columns.")).Reason,
             FailureClassifier.Classify(new ResultsInputException("x")).Category));
}

/// <summary>
/// The lifecycle of a study in the service host, in process, on a fake clock: permanent failures end Failed on the first
/// attempt, transient ones when their retries run out, and a restart re-queues neither.
/// </summary>
[Collection(InProcessNodes.Name)]
public class StudyLifecycleTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(120);
    private static string[] Philips(int n) => Directory.GetFiles(TestData.Path_("ct", "philips-phantom-5mm"), "*.dcm").Order().Take(n).ToArray();
    private static string NewStudyUid() => $"1.2.826.0.1.3680043.10.78.{Environment.ProcessId}.{Guid.NewGuid().GetHashCode() & 0x7fffffff}";
    private static FakeTimeProvider NewClock() => new(new DateTimeOffset(2026, 11, 30, 8, 0, 0, TimeSpan.Zero));

    /// <summary>A restart on the same store: the failed study stays Failed and no job is queued for it.</summary>
    private static async Task AssertRestartDoesNotRequeueAsync(string root, string uid, string reason)
    {
        var analyzer = new ThrowingAnalyzer(() => new InvalidOperationException("must not run"));
        await using var node = await InProcessNode.StartAsync(root, NewClock(), analyzer);
        // The monitor's own recovery runs on a background thread (.NET 10 runs all of ExecuteAsync there), so an empty
        // job list right after start proves little: recovery is called here too and must find nothing to queue.
        Assert.Equal(0, node.Monitor.Recover());
        Assert.Empty(node.JobStates());
        var study = node.Store.Get(uid)!;
        Assert.Equal((StudyState.Failed, reason), (study.State, study.Reason));
        node.EndQuietPeriod();
        Assert.Equal(0, node.Monitor.Poll());
        Assert.Empty(node.JobStates());
        Assert.Equal(0, analyzer.Calls);
    }

    /// <summary>A second node started on the root a running node uses is refused before its store opens: it neither
    /// replays the first node's intake journal nor replaces it (it asks for another size, which would move the journal
    /// aside while the first still appends to it), and the first keeps receiving.</summary>
    [Fact]
    public async Task A_second_node_on_the_same_store_root_is_refused_and_leaves_the_first_nodes_journal_alone()
    {
        var root = TestData.TempDir("two-nodes");
        var analyzer = new ThrowingAnalyzer(() => new InvalidOperationException("not used"));
        await using var first = await InProcessNode.StartAsync(root, NewClock(), analyzer);
        var files = Philips(3);
        var uid = first.Receive(NewStudyUid(), files.Take(2));
        var journal = first.Store.JournalPath;
        var size = new FileInfo(journal).Length;

        var e = await Assert.ThrowsAsync<MedAiNode.Store.StoreInUseException>(() => InProcessNode.StartAsync(root, NewClock(), analyzer, "--Store:JournalSizeMiB=32"));
        Assert.Contains($"Store:Root {Path.GetFullPath(root)} is in use", e.Message);
        Assert.Equal(size, new FileInfo(journal).Length);
        Assert.False(File.Exists(journal + ".old"));

        first.Receive(uid, files.Skip(2));
        Assert.Equal(3, first.Store.Get(uid)!.InstanceCount);
    }

    [Fact]
    public async Task A_study_whose_seg_cannot_be_written_ends_failed_with_its_reason_in_one_attempt_and_is_not_requeued_at_restart()
    {
        var root = TestData.TempDir("lifecycle-seg");
        const string message = "Source image 1.2.3 lacks Image Position/Orientation (Patient) or Pixel Spacing; a SEG needs its plane geometry.";
        var analyzer = new ThrowingAnalyzer(() => new ResultsInputException(message));
        string uid, reason;
        await using (var node = await InProcessNode.StartAsync(root, NewClock(), analyzer))
        {
            uid = node.Receive(NewStudyUid(), Philips(3));
            Assert.Equal(StudyState.Receiving, node.Store.Get(uid)!.State);
            node.EndQuietPeriod();
            var study = await node.WaitForStateAsync(uid, s => s.State is StudyState.Failed or StudyState.Delivered or StudyState.Analysed, Timeout);
            reason = study.Reason!;
            Assert.Equal(StudyState.Failed, study.State);
            Assert.Equal("ResultsInputException: " + message, reason);
            Assert.Equal(1, study.Attempts);
            Assert.Equal(1, analyzer.Calls);
            await node.AssertJobStatesAsync("Succeeded"); // the job ended; no retry was scheduled
            Assert.Equal(StudyState.Failed, new StudyLedger(node.Jobs).Get(uid)!.State); // other nodes adopt it

            // Visible in the API, the metrics and the dashboard.
            var api = JsonNode.Parse(await node.GetTextAsync("/api/studies"))!.AsArray().Single(s => s!["studyInstanceUid"]!.GetValue<string>() == uid)!;
            Assert.Equal(("Failed", reason), (api["state"]!.GetValue<string>(), api["reason"]!.GetValue<string>()));
            await node.WaitForMetricAsync(l => l.StartsWith("medainode_studies_failed_total{") && l.Contains("kind=\"permanent\"")
                && l.Contains("category=\"ResultsInputException\"") && l.Contains("stage=\"analysis\"") && l.TrimEnd().EndsWith(" 1"));
            await node.WaitForMetricAsync(l => l.StartsWith("medainode_studies{") && l.Contains("state=\"Failed\"") && l.TrimEnd().EndsWith(" 1"));
            var page = await node.GetTextAsync("/hangfire/studies");
            Assert.Contains(uid, page);
            Assert.Contains("a SEG needs its plane geometry", page);
        }
        await AssertRestartDoesNotRequeueAsync(root, uid, reason);
    }

    [Fact]
    public async Task A_transient_failure_is_retried_and_the_study_stays_analysing_meanwhile()
    {
        var analyzer = new ThrowingAnalyzer(() => new IOException("outbox volume not mounted"));
        await using var node = await InProcessNode.StartAsync(TestData.TempDir("lifecycle-retry"), NewClock(), analyzer, "--Jobs:Retries=3");
        var uid = node.Receive(NewStudyUid(), Philips(2));
        node.EndQuietPeriod();
        var sw = System.Diagnostics.Stopwatch.StartNew();
        while (!node.JobStates().Contains("Scheduled"))
        {
            Assert.True(sw.Elapsed < Timeout, "no retry was scheduled: " + string.Join(",", node.JobStates()));
            await Task.Delay(50);
            node.Clock.Advance(TimeSpan.FromSeconds(1));
        }
        var study = node.Store.Get(uid)!;
        Assert.Equal((StudyState.Analysing, null, 1), (study.State, study.Reason, study.Attempts));
        Assert.Equal(1, analyzer.Calls);
    }

    [Fact]
    public async Task When_the_retries_of_a_transient_failure_run_out_the_study_is_failed_with_the_last_reason_and_not_requeued()
    {
        var root = TestData.TempDir("lifecycle-exhausted");
        var analyzer = new ThrowingAnalyzer(() => new IOException("outbox volume not mounted"));
        string uid, reason;
        await using (var node = await InProcessNode.StartAsync(root, NewClock(), analyzer, "--Jobs:Retries=0"))
        {
            uid = node.Receive(NewStudyUid(), Philips(2));
            node.EndQuietPeriod();
            var study = await node.WaitForStateAsync(uid, s => s.State == StudyState.Failed, Timeout);
            reason = study.Reason!;
            Assert.Equal("IOException: outbox volume not mounted (retries exhausted)", reason);
            await node.AssertJobStatesAsync("Failed"); // Hangfire's own record of the job stays for the operator
            Assert.Equal(1, analyzer.Calls);
            await node.WaitForMetricAsync(l => l.StartsWith("medainode_studies_failed_total{") && l.Contains("kind=\"retries_exhausted\"") && l.Contains("category=\"IOException\""));
        }
        await AssertRestartDoesNotRequeueAsync(root, uid, reason);
    }

    [Theory]
    [InlineData(false, "DicomFormatException: the PACS cannot parse the SEG", "permanent", "")]
    [InlineData(true, "IOException: connection reset by the PACS", "retries_exhausted", " (retries exhausted)")]
    public async Task A_delivery_that_fails_permanently_or_runs_out_of_retries_fails_the_study_and_is_not_requeued(bool transient, string reason, string kind, string suffix)
    {
        var root = TestData.TempDir("lifecycle-delivery");
        var message = reason[(reason.IndexOf(": ", StringComparison.Ordinal) + 2)..];
        var pacs = new FailingDestination(() => transient ? new IOException(message) : new DicomFormatException(message));
        string uid;
        await using (var node = await InProcessNode.StartAsync(root, NewClock(), s =>
                     {
                         s.AddSingleton<IStudyAnalyzer>(sp => new OneResultAnalyzer(sp.GetRequiredService<Outbox>()));
                         s.AddSingleton<IResultDestination>(pacs);
                     }, "--Jobs:DeliveryRetries=0"))
        {
            uid = node.Receive(NewStudyUid(), Philips(2));
            node.EndQuietPeriod();
            var study = await node.WaitForStateAsync(uid, s => s.State is StudyState.Failed or StudyState.Delivered, Timeout);
            Assert.Equal((StudyState.Failed, reason + suffix), (study.State, study.Reason));
            Assert.Equal(1, pacs.Calls);
            await node.AssertJobStatesAsync(transient ? ["Succeeded", "Failed"] : ["Succeeded", "Succeeded"]); // analysis, delivery
            await node.WaitForMetricAsync(l => l.StartsWith("medainode_studies_failed_total{") && l.Contains($"kind=\"{kind}\"") && l.Contains("stage=\"delivery\""));
        }
        await AssertRestartDoesNotRequeueAsync(root, uid, reason + suffix);
    }

    [Fact]
    public async Task An_enhanced_ct_study_through_the_real_analyzer_ends_failed_with_its_reason_in_one_attempt_and_is_not_requeued()
    {
        var root = TestData.TempDir("lifecycle-enhanced");
        var file = Path.Combine(TestData.TempDir("enhanced-ct"), "enhanced-ct.dcm");
        var uid = NewStudyUid();
        EnhancedCt.Write(file, uid);
        Assert.Equal(EnhancedCt.SopClassUid, MedAiNode.Dicom.IO.DicomFile.Open(file).Dataset.GetString(DicomTags.SOPClassUID));
        string reason;
        await using (var node = await InProcessNode.StartAsync(root, NewClock(), analyzer: null, "--Jobs:Retries=2"))
        {
            node.Receive(uid, [file]);
            node.EndQuietPeriod();
            var study = await node.WaitForStateAsync(uid, s => s.State is StudyState.Failed or StudyState.Analysed or StudyState.Delivered || node.JobStates().Contains("Scheduled"),
                TimeSpan.FromMinutes(5));
            output.WriteLine($"{study.State}: {study.Reason}");
            Assert.Equal(StudyState.Failed, study.State);
            Assert.Equal(1, study.Attempts);
            await node.AssertJobStatesAsync("Succeeded"); // permanent: no retry
            reason = study.Reason!;
            Assert.False(string.IsNullOrWhiteSpace(reason));
        }
        await AssertRestartDoesNotRequeueAsync(root, uid, reason);
    }
}
