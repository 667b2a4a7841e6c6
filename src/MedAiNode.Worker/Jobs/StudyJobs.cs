using Hangfire;
using Hangfire.Server;
using MedAiNode.Export;
using MedAiNode.Store;
using MedAiNode.Worker.Configuration;
using MedAiNode.Worker.Intake;
using MedAiNode.Worker.Observability;
using MedAiNode.Worker.Triage;
using Microsoft.Extensions.Options;

namespace MedAiNode.Worker.Jobs;

/// <summary>
/// The two durable jobs of a study: analyse (on the shared inference queues) then deliver (on the export queue of the
/// node whose outbox holds the results). Every state change goes through <see cref="StudyStore.Transition"/> and the
/// lifecycle table. <see cref="FailureClassifier"/> decides what a failure is: a permanent one ends the study Failed on
/// this attempt; a transient one throws and Hangfire retries it until <see cref="StudyRetryFilter"/> gives up and fails
/// the study. The <see cref="StudyLedger"/> makes sure the same content is analysed once across nodes.
/// </summary>
public sealed class StudyJobs(StudyStore store, IStudyAnalyzer analyzer, Outbox outbox, IEnumerable<IResultDestination> destinations,
    IEnumerable<IAlertDestination> alertDestinations, TriageService triage,
    IBackgroundJobClient jobs, StudyLedger ledger, StudyFetcher fetcher, IOptions<JobsOptions> options, NodeMetrics metrics, StudyFailures failures,
    ILogger<StudyJobs> log)
{
    // Queued or Complete on a first run; Analysing when a crash or retry interrupted an earlier attempt; Receiving just after a fetch.
    private static readonly StudyState[] StartFrom = [StudyState.Queued, StudyState.Complete, StudyState.Analysing];
    private static readonly StudyState[] StartAfterFetch = [.. StartFrom, StudyState.Receiving];
    private static readonly StudyState[] Running = [StudyState.Analysing];
    private static readonly StudyState[] Waiting = [StudyState.Queued, StudyState.Complete, StudyState.Analysing];

    public const string StatQueue = "stat";
    public const string RoutineQueue = "routine";

    private readonly JobsOptions _options = options.Value;

    private string Node => _options.EffectiveNodeName;

    /// <summary>The queue only one node's inference workers take: for a study that must run where it was received.</summary>
    public static string NodeQueue(string node) => "node_" + node;

    /// <summary>The queue of one node's deliveries: results wait in that node's outbox.</summary>
    public static string ExportQueue(string node) => "export_" + node;

    /// <summary>Puts a completed study on its queue. Safe to call twice, on one node or several: the ledger runs each content once.</summary>
    public static string EnqueueAnalysis(IBackgroundJobClient jobs, StudyRecord study, string fingerprint, string node) =>
        jobs.Enqueue<StudyJobs>(study.Priority == "stat" ? StatQueue : RoutineQueue,
            j => j.AnalyzeAsync(study.StudyInstanceUid, fingerprint, node, null, CancellationToken.None));

    public static string EnqueueDelivery(IBackgroundJobClient jobs, string studyUid, string node) =>
        jobs.Enqueue<StudyJobs>(ExportQueue(node), j => j.DeliverAsync(studyUid, null, CancellationToken.None));

    [JobDisplayName("Analyse study {0}")]
    public async Task AnalyzeAsync(string studyUid, string fingerprint, string receivedBy, PerformContext? context, CancellationToken ct)
    {
        var jobId = context?.BackgroundJob.Id ?? "direct-" + Guid.NewGuid().ToString("N");
        // Every line of the job carries this: readable in the simple console, properties in the JSON one.
        using var scope = log.BeginScope("study {StudyInstanceUid} job {JobId} on {Node}", studyUid, jobId, Node);
        if (context is not null)
            metrics.StageDuration.Record((DateTime.UtcNow - context.BackgroundJob.CreatedAt).TotalSeconds, Stage("queue"));

        var (claim, holder) = ledger.Claim(studyUid, fingerprint, jobId, Node);
        switch (claim)
        {
            case ClaimResult.AlreadyDone:
                log.LogInformation("Study {StudyInstanceUid}: this content was already {State} by node {Holder}; not analysed again", studyUid, holder!.State, holder.Node);
                Adopt(store, studyUid, holder, Node);
                return;
            case ClaimResult.Duplicate:
                log.LogInformation("Study {StudyInstanceUid}: job {Holder} on node {HolderNode} is analysing this content; this job ends", studyUid, holder!.JobId, holder.Node);
                return;
            case ClaimResult.Busy:
                // Newer content than the running analysis: run again once that one has finished, whichever way it ends.
                var queue = context?.BackgroundJob.Job.Queue ?? RoutineQueue;
                var next = jobs.ContinueJobWith<StudyJobs>(holder!.JobId, queue, j => j.AnalyzeAsync(studyUid, fingerprint, receivedBy, null, CancellationToken.None),
                    new Hangfire.States.EnqueuedState(queue), JobContinuationOptions.OnAnyFinishedState);
                log.LogInformation("Study {StudyInstanceUid}: job {Holder} analyses older content; job {Next} runs after it", studyUid, holder.JobId, next);
                return;
        }

        var fetched = false;
        if (receivedBy != Node)
        {
            if (string.IsNullOrWhiteSpace(_options.FetchFrom))
            {
                ledger.Release(studyUid, jobId, $"handed to node {receivedBy}");
                var handed = jobs.Enqueue<StudyJobs>(NodeQueue(receivedBy), j => j.AnalyzeAsync(studyUid, fingerprint, receivedBy, null, CancellationToken.None));
                log.LogInformation("Study {StudyInstanceUid} was received by node {ReceivedBy} and Jobs:FetchFrom is empty: handed to it as job {Next}", studyUid, receivedBy, handed);
                return;
            }
            var started = DateTimeOffset.UtcNow;
            try
            {
                await fetcher.FetchAsync(_options.FetchFrom, studyUid, ct);
            }
            catch (Exception e) when (FailureClassifier.Classify(e) is { IsPermanent: true } verdict)
            {
                failures.Fail(studyUid, JobStage.Analysis, verdict, jobId, retriesExhausted: false);
                return;
            }
            metrics.StageDuration.Record((DateTimeOffset.UtcNow - started).TotalSeconds, Stage("fetch"));
            fetched = true;
        }
        if (store.Get(studyUid) is null)
        {
            ledger.Release(studyUid, jobId, "not in the store");
            log.LogWarning("Study {StudyInstanceUid} is not in this node's store", studyUid);
            return;
        }
        var start = store.Transition(studyUid, StudyState.Analysing, onlyFrom: fetched ? StartAfterFetch : StartFrom);
        if (!start.Moved)
        {
            ledger.Release(studyUid, jobId, $"local state {start.From}");
            log.LogInformation("Study {StudyInstanceUid}: analysis skipped ({Refusal})", studyUid, start.Refusal);
            return;
        }

        var clock = DateTimeOffset.UtcNow;
        // What the intake left (a 300-slice series: about 120 MiB of parsing garbage and freed C heap) is given back
        // before the analysis reads its volume on top of it, as after each analysis below.
        GiveBackMemory();
        AnalysisOutcome outcome;
        try
        {
            outcome = await analyzer.AnalyzeAsync(store.Get(studyUid)!, new JobProgress(context), ct);
        }
        catch (Exception e) when (FailureClassifier.Classify(e) is { IsPermanent: true } verdict)
        {
            // Deterministic: the same input fails the same way, so no retry and no re-queue at start.
            failures.Fail(studyUid, JobStage.Analysis, verdict, jobId, retriesExhausted: false);
            return;
        }
        finally
        {
            // An analysis allocates volumes of hundreds of megabytes; once it is over they are garbage the server GC
            // would keep resident until memory is short, and the next analysis would start on top of it.
            GiveBackMemory();
        }
        metrics.StageDuration.Record((DateTimeOffset.UtcNow - clock).TotalSeconds, Stage("analysis"));
        switch (outcome.Status)
        {
            case AnalysisStatus.PermanentFailure:
                failures.Fail(studyUid, JobStage.Analysis, new FailureVerdict(FailureKind.Permanent, outcome.Reason ?? "analysis rejected the study", "AnalysisRejectedException"),
                    jobId, retriesExhausted: false);
                // Its "not analysed: why" summary page, when the analyser made one, is delivered; the study stays Failed.
                if (outcome.Results is { Count: > 0 }) EnqueueDelivery(jobs, studyUid, Node);
                return;
            case AnalysisStatus.Unchanged when outbox.HasUndelivered(studyUid, destinations, alertDestinations):
                // A late arrival reopened the study before its results or alert were all delivered: nothing is analysed
                // again, but what waits in the outbox still goes out (and a restart still finds it, as Analysed).
                ledger.Finish(studyUid, e => e.JobId == jobId, StudyState.Analysed, "selected series unchanged");
                if (store.Transition(studyUid, StudyState.Analysed, "selected series unchanged; earlier results still to deliver", onlyFrom: Running).Moved)
                    EnqueueDelivery(jobs, studyUid, Node);
                return;
            case AnalysisStatus.Unchanged:
                store.Transition(studyUid, StudyState.Delivered, "selected series unchanged since the last analysis", onlyFrom: Running);
                ledger.Finish(studyUid, e => e.JobId == jobId, StudyState.Delivered, "selected series unchanged");
                return;
            default:
                // Triage before the study is Analysed: a positive study's alert is in the outbox (fsynced) by then, so the
                // delivery job, or a restart's, sends it. A failure to write it is transient: the analysis is retried.
                var verdict = triage.Apply(studyUid, outcome);
                ledger.Finish(studyUid, e => e.JobId == jobId, StudyState.Analysed);
                var analysed = store.Transition(studyUid, StudyState.Analysed, null, r =>
                {
                    r.AnalysedSeriesUid = outcome.SeriesInstanceUid;
                    r.AnalysedFingerprint = outcome.Fingerprint;
                    r.Triage = verdict;
                }, onlyFrom: Running);
                if (analysed.Moved)
                {
                    if (verdict?.Positive == true) metrics.TriagePositive.Add(1);
                    EnqueueDelivery(jobs, studyUid, Node);
                }
                return;
        }
    }

    [JobDisplayName("Deliver results of study {0}")]
    public async Task DeliverAsync(string studyUid, PerformContext? context, CancellationToken ct)
    {
        using var scope = log.BeginScope("study {StudyInstanceUid} job {JobId} on {Node}", studyUid, context?.BackgroundJob.Id ?? "", Node);
        var started = DateTimeOffset.UtcNow;
        bool complete;
        try
        {
            complete = await outbox.DeliverAsync(studyUid, destinations, alertDestinations, ct);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            metrics.ExportFailures.Add(1);
            var verdict = FailureClassifier.Classify(e);
            if (!verdict.IsPermanent) throw; // retried: the outbox sends only what each destination still lacks
            failures.Fail(studyUid, JobStage.Delivery, verdict, null, retriesExhausted: false);
            return;
        }
        metrics.StageDuration.Record((DateTimeOffset.UtcNow - started).TotalSeconds, Stage("export"));
        if (!complete) throw new InvalidOperationException($"Some results of study {studyUid} were not accepted; retrying");
        ledger.Finish(studyUid, e => e.Node == Node && e.State == StudyState.Analysed, StudyState.Delivered);
        if (store.Transition(studyUid, StudyState.Delivered, onlyFrom: [StudyState.Analysed]).Moved) metrics.StudiesCompleted.Add(1);
    }

    /// <summary>Brings this node's record of a study in line with what was done with the same content, by this node
    /// earlier (the study was sent again unchanged) or by another node sharing the database.</summary>
    public static bool Adopt(StudyStore store, string studyUid, LedgerEntry done, string node)
    {
        var own = done.Node == node;
        var (to, reason) = done.State switch
        {
            StudyState.Failed => (StudyState.Failed, own ? done.Reason : $"failed on node {done.Node}: {done.Reason}"),
            // Our own results still wait in our outbox: the delivery job queued with them moves the study on.
            StudyState.Analysed when own => (StudyState.Analysed, "unchanged since the last analysis"),
            _ => (StudyState.Delivered, own ? "unchanged since the last analysis" : $"analysed by node {done.Node}"),
        };
        return store.Transition(studyUid, to, reason, onlyFrom: Waiting).Moved;
    }

    private static KeyValuePair<string, object?> Stage(string name) => new("stage", name);

    /// <summary>Garbage and freed memory back to the system: one compacting collection (tens of milliseconds against
    /// seconds of analysis), then the C heap, where what ONNX Runtime, the codecs and the summary's drawing freed stays
    /// in glibc's per-thread arenas until trimmed.</summary>
    private static void GiveBackMemory()
    {
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        MedAiNode.Inference.Runtime.NativeHeap.Trim();
    }
}

/// <summary>Analysis progress as a job parameter, shown on the dashboard's Progress page; written at most every 5 %.</summary>
internal sealed class JobProgress(PerformContext? context) : IProgress<double>
{
    private int _lastPercent = -1;

    public void Report(double value)
    {
        var percent = (int)Math.Clamp(value * 100, 0, 100);
        if (context is null || percent <= _lastPercent || _lastPercent >= 0 && percent < _lastPercent + 5 && percent != 100) return;
        _lastPercent = percent;
        context.SetJobParameter("progress", percent);
    }
}
