using Microsoft.Extensions.Logging;
using static MedAiNode.Store.StudyState;

namespace MedAiNode.Store;

/// <summary>Where a study is in its lifecycle; the legal moves are in <see cref="StudyLifecycle"/>. The cross-node ledger uses the same names.</summary>
public enum StudyState
{
    /// <summary>Instances are arriving; complete after the quiet period.</summary>
    Receiving,
    /// <summary>Quiet period over; waiting to be queued.</summary>
    Complete,
    /// <summary>An analysis job is on its queue (stat or routine).</summary>
    Queued,
    /// <summary>A job is analysing it now, or was when the node stopped (a restart picks it up again).</summary>
    Analysing,
    /// <summary>Results are in the outbox; delivery pending.</summary>
    Analysed,
    /// <summary>Every destination accepted the results, or there was nothing new to send.</summary>
    Delivered,
    /// <summary>A permanent failure (non-CT, no eligible series, an input the SEG writer cannot take), or a transient
    /// one whose retries ran out; the reason says which. Final until a re-run or new content arrives.</summary>
    Failed,
}

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
    public static IReadOnlyDictionary<StudyState, IReadOnlyDictionary<StudyState, string>> Table { get; } = new Dictionary<StudyState, IReadOnlyDictionary<StudyState, string>>
    {
        [Receiving] = To((Complete, "quiet period over"), (Analysing, "fetched from the PACS by the node that analyses it")),
        [Complete] = To(
            (Queued, "analysis job enqueued"),
            (Analysing, "a job re-queued at start runs before the monitor queues it"),
            (Receiving, LateArrival), (Analysed, SameContentHere), (Delivered, SameContentAnywhere),
            (Failed, "same content failed on this or another node")),
        [Queued] = To(
            (Analysing, "job started"), (Analysed, SameContentHere), (Delivered, SameContentAnywhere),
            (Failed, "same content failed elsewhere, or the job failed before it could analyse")),
        [Analysing] = To(
            (Analysing, "retry of an interrupted or failed attempt"), (Analysed, "results in the outbox"),
            (Delivered, "selected series unchanged, or analysed by another node"), (Failed, "permanent failure, or retries exhausted")),
        [Analysed] = To(
            (Delivered, "every destination accepted the results"), (Failed, "delivery failed permanently or its retries ran out"),
            (Receiving, LateArrival), (Queued, Rerun)),
        [Delivered] = To((Receiving, LateArrival), (Queued, Rerun)),
        [Failed] = To((Receiving, "late arrival (new content may succeed)"), (Queued, Rerun)),
    };

    private const string LateArrival = "late arrival";
    private const string Rerun = "re-run requested";
    private const string SameContentHere = "same content analysed earlier by this node";
    private const string SameContentAnywhere = "same content analysed by this or another node";

    private static IReadOnlyDictionary<StudyState, string> To(params (StudyState State, string Why)[] moves) => moves.ToDictionary(m => m.State, m => m.Why);

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
