using Hangfire;
using Hangfire.Storage;
using MedAiNode.Store;

namespace MedAiNode.Worker.Jobs;

/// <summary>
/// What the nodes sharing one job storage know of a study: who analyses or analysed which content, and how it ended,
/// in the store's own <see cref="StudyState"/> names: Analysing (a job holds the claim), Analysed, Delivered, Failed
/// (the outcome of that content), or Queued (no job holds it: handed to another node, skipped, or reset for a re-run;
/// the next job claims it). Persisted as those names; "Released", written by earlier versions, reads as Queued.
/// </summary>
public sealed record LedgerEntry(StudyState State, string Fingerprint, string JobId, string Node, string? Reason, DateTimeOffset UpdatedAt)
{
    public bool IsFinished => State is StudyState.Analysed or StudyState.Delivered or StudyState.Failed;

    /// <summary>Reads a persisted state; unknown names (and the former "Released") are a claim nobody holds.</summary>
    public static StudyState ParseState(string? persisted) =>
        Enum.TryParse<StudyState>(persisted, ignoreCase: false, out var s) && Enum.IsDefined(s) ? s : StudyState.Queued;
}

public enum ClaimResult
{
    /// <summary>This job analyses the study.</summary>
    Run,
    /// <summary>The same content was already analysed (here or on another node); nothing to do.</summary>
    AlreadyDone,
    /// <summary>Another live job is analysing the same content.</summary>
    Duplicate,
    /// <summary>Another live job is analysing older content; this one should run after it.</summary>
    Busy,
}

/// <summary>
/// The cross-node record of each study, kept in the Hangfire storage itself (a hash per study, changed under a
/// distributed lock), so nodes sharing one PostgreSQL database never analyse the same content twice, and a study
/// sent to two nodes, re-queued after a crash, or recovered at start runs once. Works the same on in-memory storage.
/// </summary>
public sealed class StudyLedger(JobStorage storage, string node = "", string? postgresConnectionString = null)
{
    /// <summary>A server whose heartbeat is older than this is taken for dead (Hangfire beats every 30 s).</summary>
    private static readonly TimeSpan HeartbeatTimeout = TimeSpan.FromMinutes(2);

    private static readonly TimeSpan LockTimeout = TimeSpan.FromSeconds(30);
    /// <summary>How long a finished entry is kept; the same content arriving later than this is analysed again.</summary>
    public static readonly TimeSpan Retention = TimeSpan.FromDays(30);
    private static string Key(string studyUid) => "medainode:study:" + studyUid;

    public LedgerEntry? Get(string studyUid)
    {
        using var connection = storage.GetConnection();
        return Read(connection, studyUid);
    }

    /// <summary>Decides under the study's lock whether <paramref name="jobId"/> analyses this content, and if so records the claim.</summary>
    public (ClaimResult Result, LedgerEntry? Holder) Claim(string studyUid, string fingerprint, string jobId, string node)
    {
        using var connection = storage.GetConnection();
        using var _ = Lock(connection, studyUid);
        var entry = Read(connection, studyUid);
        if (entry is not null && entry.Fingerprint == fingerprint && entry.IsFinished) return (ClaimResult.AlreadyDone, entry);
        if (entry is { State: StudyState.Analysing } && entry.JobId != jobId && IsAlive(connection, entry.JobId))
            return (entry.Fingerprint == fingerprint ? ClaimResult.Duplicate : ClaimResult.Busy, entry);
        Write(connection, studyUid, new LedgerEntry(StudyState.Analysing, fingerprint, jobId, node, null, DateTimeOffset.UtcNow));
        return (ClaimResult.Run, entry);
    }

    /// <summary>Records how an analysis (or its delivery) ended, if the study's entry is still the one <paramref name="owns"/> recognises.</summary>
    public void Finish(string studyUid, Func<LedgerEntry, bool> owns, StudyState state, string? reason = null)
    {
        using var connection = storage.GetConnection();
        using var _ = Lock(connection, studyUid);
        var entry = Read(connection, studyUid);
        if (entry is null || !owns(entry)) return;
        Write(connection, studyUid, entry with { State = state, Reason = reason, UpdatedAt = DateTimeOffset.UtcNow });
    }

    /// <summary>Gives up a claim without an outcome (the job handed the study on or skipped it): the next job claims it.</summary>
    public void Release(string studyUid, string jobId, string reason) => Finish(studyUid, e => e.JobId == jobId, StudyState.Queued, reason);

    /// <summary>Forgets what was done, so a re-run requested by a person analyses again even unchanged content.</summary>
    public void Reset(string studyUid, string reason)
    {
        using var connection = storage.GetConnection();
        using var _ = Lock(connection, studyUid);
        var entry = Read(connection, studyUid);
        if (entry is null || entry.State == StudyState.Analysing) return;
        Write(connection, studyUid, entry with { State = StudyState.Queued, Reason = reason, UpdatedAt = DateTimeOffset.UtcNow });
    }

    // Hangfire.PostgreSql's distributed lock is a row that outlives a killed process for DistributedLockTimeout
    // (10 min), so a node killed inside Claim would block the study that long. On PostgreSQL the study lock is a
    // transaction-scoped advisory lock instead: the server drops it the moment the holder's connection goes.
    private IDisposable Lock(IStorageConnection connection, string studyUid) =>
        string.IsNullOrWhiteSpace(postgresConnectionString)
            ? connection.AcquireDistributedLock("medainode:lock:" + studyUid, LockTimeout)
            : PostgresAdvisoryLock.Acquire(postgresConnectionString, "medainode:lock:" + studyUid, LockTimeout);

    // A claim outlives its job only while the job can still run: enqueued, scheduled for a retry, awaiting, or
    // processing on a live server. A job left "processing" by a crashed node would otherwise block the study until
    // the storage's invisibility timeout (30 min on PostgreSQL) hands it out again.
    private bool IsAlive(IStorageConnection connection, string jobId)
    {
        var state = connection.GetStateData(jobId);
        switch (state?.Name)
        {
            case "Enqueued" or "Scheduled" or "Awaiting":
                return true;
            case "Processing":
                var serverId = state.Data.TryGetValue("ServerId", out var sid) ? sid : "";
                // Our own node under an earlier process id: that process is gone (server names are node-pid-role).
                if (node.Length > 0 && serverId.StartsWith(node + "-", StringComparison.Ordinal)
                    && !serverId.StartsWith($"{node}-{Environment.ProcessId}-", StringComparison.Ordinal))
                    return false;
                var server = storage.GetMonitoringApi().Servers().FirstOrDefault(s => s.Name == serverId);
                return server is not null && (server.Heartbeat is not { } beat || DateTime.UtcNow - beat < HeartbeatTimeout);
            default:
                return false;
        }
    }

    private static LedgerEntry? Read(IStorageConnection connection, string studyUid)
    {
        var h = connection.GetAllEntriesFromHash(Key(studyUid));
        if (h is null || !h.TryGetValue("state", out var state)) return null;
        return new LedgerEntry(LedgerEntry.ParseState(state), h.GetValueOrDefault("fingerprint") ?? "", h.GetValueOrDefault("job") ?? "", h.GetValueOrDefault("node") ?? "",
            h.GetValueOrDefault("reason") is { Length: > 0 } r ? r : null,
            DateTimeOffset.TryParse(h.GetValueOrDefault("updated"), out var t) ? t : DateTimeOffset.MinValue);
    }

    private static void Write(IStorageConnection connection, string studyUid, LedgerEntry e)
    {
        using var tx = connection.CreateWriteTransaction();
        tx.SetRangeInHash(Key(studyUid), new Dictionary<string, string>
        {
            ["state"] = e.State.ToString(), ["fingerprint"] = e.Fingerprint, ["job"] = e.JobId, ["node"] = e.Node,
            ["reason"] = e.Reason ?? "", ["updated"] = e.UpdatedAt.ToString("O"),
        });
        // Finished entries only guard against duplicates arriving close together; they need not live for ever.
        if (tx is JobStorageTransaction expiring)
        {
            if (e.State == StudyState.Analysing) expiring.PersistHash(Key(studyUid));
            else expiring.ExpireHash(Key(studyUid), Retention);
        }
        tx.Commit();
    }
}
