using Microsoft.Extensions.Logging;

namespace MedAiNode.Store;

/// <summary>
/// The legal moves of a study between <see cref="StudyState"/>s. Every state change goes through this table
/// (<see cref="StudyStore.Transition"/>); a move it does not list is refused and logged with its reason.
/// </summary>
/// <remarks>
/// Receiving → Complete (quiet period over) → Queued (job enqueued) → Analysing → Analysed (results in the outbox)
/// → Delivered. Failed is final until a person asks for a re-run or new content arrives. The other moves cover
/// retries, crashes, late arrivals, other nodes and re-runs; each is named in <see cref="Table"/>.
/// </remarks>
public static class StudyLifecycle
{
    /// <summary>From each state, the states it may move to, and why each move exists.</summary>
    public static IReadOnlyDictionary<StudyState, IReadOnlyDictionary<StudyState, string>> Table { get; } =
        new Dictionary<StudyState, IReadOnlyDictionary<StudyState, string>>
        {
            [StudyState.Receiving] = new Dictionary<StudyState, string>
            {
                [StudyState.Complete] = "quiet period over",
                [StudyState.Analysing] = "fetched from the PACS by the node that analyses it",
            },
            [StudyState.Complete] = new Dictionary<StudyState, string>
            {
                [StudyState.Queued] = "analysis job enqueued",
                [StudyState.Analysing] = "a job re-queued at start runs before the monitor queues it",
                [StudyState.Receiving] = "late arrival",
                [StudyState.Analysed] = "same content analysed earlier by this node",
                [StudyState.Delivered] = "same content analysed by this or another node",
                [StudyState.Failed] = "same content failed on this or another node",
            },
            [StudyState.Queued] = new Dictionary<StudyState, string>
            {
                [StudyState.Analysing] = "job started",
                [StudyState.Analysed] = "same content analysed earlier by this node",
                [StudyState.Delivered] = "same content analysed by this or another node",
                [StudyState.Failed] = "same content failed elsewhere, or the job failed before it could analyse",
            },
            [StudyState.Analysing] = new Dictionary<StudyState, string>
            {
                [StudyState.Analysing] = "retry of an interrupted or failed attempt",
                [StudyState.Analysed] = "results in the outbox",
                [StudyState.Delivered] = "selected series unchanged, or analysed by another node",
                [StudyState.Failed] = "permanent failure, or retries exhausted",
            },
            [StudyState.Analysed] = new Dictionary<StudyState, string>
            {
                [StudyState.Delivered] = "every destination accepted the results",
                [StudyState.Failed] = "delivery failed permanently or its retries ran out",
                [StudyState.Receiving] = "late arrival",
                [StudyState.Queued] = "re-run requested",
            },
            [StudyState.Delivered] = new Dictionary<StudyState, string>
            {
                [StudyState.Receiving] = "late arrival",
                [StudyState.Queued] = "re-run requested",
            },
            [StudyState.Failed] = new Dictionary<StudyState, string>
            {
                [StudyState.Receiving] = "late arrival (new content may succeed)",
                [StudyState.Queued] = "re-run requested",
            },
        };

    /// <summary>Whether the table lists the move.</summary>
    public static bool Allows(StudyState from, StudyState to) => Table.TryGetValue(from, out var next) && next.ContainsKey(to);

    /// <summary>States no job moves on by itself: they change only on a late arrival or a re-run.</summary>
    public static bool IsFinal(StudyState state) => state is StudyState.Delivered or StudyState.Failed;

    /// <summary>States a restart picks up again (re-queued for analysis, or for delivery when Analysed). Never Failed.</summary>
    public static bool IsUnfinished(StudyState state) => state is StudyState.Complete or StudyState.Queued or StudyState.Analysing or StudyState.Analysed;
}

/// <summary>What <see cref="StudyStore.Transition"/> did: moved, or refused and why.</summary>
public readonly record struct TransitionResult(bool Moved, StudyState? From, StudyState To, string? Refusal)
{
    public static TransitionResult Done(StudyState from, StudyState to) => new(true, from, to, null);
    public static TransitionResult Refused(StudyState? from, StudyState to, string why) => new(false, from, to, why);
    public override string ToString() => Moved ? $"{From} -> {To}" : $"{From?.ToString() ?? "unknown"} -> {To} refused: {Refusal}";
}

/// <summary>The lifecycle's log lines (source-generated).</summary>
internal static partial class LifecycleLog
{
    [LoggerMessage(EventId = 100, Level = LogLevel.Information, Message = "Study {StudyInstanceUid}: {From} -> {To} ({Reason})")]
    public static partial void Moved(this ILogger log, string studyInstanceUid, StudyState from, StudyState to, string reason);

    [LoggerMessage(EventId = 101, Level = LogLevel.Warning, Message = "Study {StudyInstanceUid}: illegal move {From} -> {To} refused: {Refusal}")]
    public static partial void Illegal(this ILogger log, string studyInstanceUid, StudyState from, StudyState to, string refusal);

    [LoggerMessage(EventId = 102, Level = LogLevel.Information, Message = "Study {StudyInstanceUid}: move to {To} not made: {Refusal}")]
    public static partial void NotMoved(this ILogger log, string studyInstanceUid, StudyState to, string refusal);
}
