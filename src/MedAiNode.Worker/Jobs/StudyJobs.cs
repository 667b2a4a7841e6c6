using Hangfire;
using Hangfire.Server;
using MedAiNode.Export;
using MedAiNode.Store;
using MedAiNode.Worker.Observability;

namespace MedAiNode.Worker.Jobs;

/// <summary>
/// The two durable jobs of a study: analyse (on the inference queues) then deliver (on the export queue).
/// Transient failures throw and Hangfire retries them; permanent ones end in the store's Failed state with a reason.
/// </summary>
public sealed class StudyJobs
{
    public const string StatQueue = "stat";
    public const string RoutineQueue = "routine";
    public const string ExportQueue = "export";

    private readonly StudyStore _store;
    private readonly IStudyAnalyzer _analyzer;
    private readonly Outbox _outbox;
    private readonly IEnumerable<IResultDestination> _destinations;
    private readonly IBackgroundJobClient _jobs;
    private readonly NodeMetrics _metrics;
    private readonly ILogger<StudyJobs> _log;

    public StudyJobs(StudyStore store, IStudyAnalyzer analyzer, Outbox outbox, IEnumerable<IResultDestination> destinations,
        IBackgroundJobClient jobs, NodeMetrics metrics, ILogger<StudyJobs> log)
    {
        _store = store;
        _analyzer = analyzer;
        _outbox = outbox;
        _destinations = destinations;
        _jobs = jobs;
        _metrics = metrics;
        _log = log;
    }

    /// <summary>Puts a completed study on its queue. Safe to call twice: the job checks the study's state.</summary>
    public static string EnqueueAnalysis(IBackgroundJobClient jobs, StudyRecord study) =>
        jobs.Enqueue<StudyJobs>(study.Priority == "stat" ? StatQueue : RoutineQueue, j => j.AnalyzeAsync(study.StudyInstanceUid, null, CancellationToken.None));

    public static string EnqueueDelivery(IBackgroundJobClient jobs, string studyUid) =>
        jobs.Enqueue<StudyJobs>(ExportQueue, j => j.DeliverAsync(studyUid, CancellationToken.None));

    [AutomaticRetry(Attempts = 5, DelaysInSeconds = [10, 30, 60, 120, 300])]
    [JobDisplayName("Analyse study {0}")]
    public async Task AnalyzeAsync(string studyUid, PerformContext? context, CancellationToken ct)
    {
        using var scope = _log.BeginScope(new Dictionary<string, object> { ["StudyInstanceUid"] = studyUid, ["JobId"] = context?.BackgroundJob.Id ?? "" });
        var study = _store.Get(studyUid);
        if (study is null)
        {
            _log.LogWarning("Study {StudyInstanceUid} is not in this node's store", studyUid);
            return;
        }
        // Queued or Complete on first run; Analysing when a crash or retry interrupted an earlier attempt.
        if (!(_store.TryTransition(studyUid, StudyState.Queued, StudyState.Analysing)
              || _store.TryTransition(studyUid, StudyState.Complete, StudyState.Analysing)
              || _store.TryTransition(studyUid, StudyState.Analysing, StudyState.Analysing)))
        {
            _log.LogInformation("Study {StudyInstanceUid} is {State}; analysis skipped", studyUid, study.State);
            return;
        }
        var started = DateTimeOffset.UtcNow;
        var progress = new Progress<double>(p => _log.LogDebug("Study {StudyInstanceUid} analysis {Percent:F0}%", studyUid, p * 100));
        var outcome = await _analyzer.AnalyzeAsync(_store.Get(studyUid)!, progress, ct);
        _metrics.StageDuration.Record((DateTimeOffset.UtcNow - started).TotalSeconds, new KeyValuePair<string, object?>("stage", "analysis"));
        switch (outcome.Status)
        {
            case AnalysisStatus.PermanentFailure:
                _store.TryTransition(studyUid, StudyState.Analysing, StudyState.Failed, outcome.Reason);
                _metrics.StudiesFailed.Add(1);
                _log.LogWarning("Study {StudyInstanceUid} failed permanently: {Reason}", studyUid, outcome.Reason);
                return;
            case AnalysisStatus.Unchanged:
                _store.TryTransition(studyUid, StudyState.Analysing, StudyState.Delivered, "selected series unchanged since the last analysis");
                return;
            default:
                if (_store.TryTransition(studyUid, StudyState.Analysing, StudyState.Analysed, null, r =>
                    {
                        r.AnalysedSeriesUid = outcome.SeriesInstanceUid;
                        r.AnalysedFingerprint = outcome.Fingerprint;
                    }))
                    EnqueueDelivery(_jobs, studyUid);
                return;
        }
    }

    [AutomaticRetry(Attempts = 20, DelaysInSeconds = [5, 15, 30, 60, 120, 300, 600])]
    [JobDisplayName("Deliver results of study {0}")]
    public async Task DeliverAsync(string studyUid, CancellationToken ct)
    {
        var started = DateTimeOffset.UtcNow;
        bool complete;
        try
        {
            complete = await _outbox.DeliverAsync(studyUid, _destinations, ct);
        }
        catch (AggregateException)
        {
            _metrics.ExportFailures.Add(1);
            throw; // retried: the outbox sends only what each destination still lacks
        }
        _metrics.StageDuration.Record((DateTimeOffset.UtcNow - started).TotalSeconds, new KeyValuePair<string, object?>("stage", "export"));
        if (!complete) throw new InvalidOperationException($"Some results of study {studyUid} were not accepted; retrying");
        if (_store.TryTransition(studyUid, StudyState.Analysed, StudyState.Delivered)) _metrics.StudiesCompleted.Add(1);
    }
}
