using MedAiNode.Store;
using MedAiNode.Worker.Configuration;
using MedAiNode.Worker.Observability;
using Microsoft.Extensions.Options;

namespace MedAiNode.Worker.Jobs;

/// <summary>Which job failed a study.</summary>
public enum JobStage { Analysis, Delivery }

/// <summary>
/// Ends a study Failed with its reason: in the store (the API and the dashboard show it), in the cross-node ledger
/// (other nodes adopt the outcome instead of trying the same content again) and in the metrics. Called by the job on a
/// permanent failure, and by <see cref="StudyRetryFilter"/> when a transient failure has used up its retries.
/// </summary>
public sealed partial class StudyFailures(StudyStore store, StudyLedger ledger, NodeMetrics metrics, IOptions<JobsOptions> options, ILogger<StudyFailures> log)
{
    public const string PermanentTag = "permanent", RetriesExhaustedTag = "retries_exhausted";

    private static readonly StudyState[] AnalysisStates = [StudyState.Queued, StudyState.Analysing];
    private static readonly StudyState[] DeliveryStates = [StudyState.Analysed];

    /// <param name="jobId">The analysis job whose ledger claim records the outcome (ignored for a delivery).</param>
    /// <param name="retriesExhausted">False for a permanent failure on its first attempt.</param>
    public TransitionResult Fail(string studyUid, JobStage stage, FailureVerdict verdict, string? jobId, bool retriesExhausted)
    {
        var node = options.Value.EffectiveNodeName;
        var reason = retriesExhausted ? $"{verdict.Reason} (retries exhausted)" : verdict.Reason;
        if (stage == JobStage.Analysis)
            ledger.Finish(studyUid, e => e.JobId == jobId, StudyState.Failed, reason);
        else
            ledger.Finish(studyUid, e => e.Node == node && e.State == StudyState.Analysed, StudyState.Failed, reason);
        var moved = store.Transition(studyUid, StudyState.Failed, reason, onlyFrom: stage == JobStage.Analysis ? AnalysisStates : DeliveryStates);
        var kind = retriesExhausted ? RetriesExhaustedTag : PermanentTag;
        if (moved.Moved)
            metrics.StudiesFailed.Add(1, new("stage", stage.ToString().ToLowerInvariant()), new("kind", kind), new("category", verdict.Category));
        StudyFailed(log, studyUid, stage, kind, reason, moved.ToString());
        return moved;
    }

    [LoggerMessage(EventId = 200, Level = LogLevel.Warning, Message = "Study {StudyInstanceUid} failed permanently ({Kind}, {Stage}): {Reason}; store: {Transition}")]
    private static partial void StudyFailed(ILogger logger, string studyInstanceUid, JobStage stage, string kind, string reason, string transition);
}
