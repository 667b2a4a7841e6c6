using Hangfire;
using Hangfire.Storage;

namespace MedAiNode.Worker.Jobs;

/// <summary>What the nodes sharing one job storage know of a study: who analyses or analysed which content, and how it ended.</summary>
public sealed record LedgerEntry(string State, string Fingerprint, string JobId, string Node, string? Reason, DateTimeOffset UpdatedAt)
{
    public const string Analysing = "Analysing", Analysed = "Analysed", Delivered = "Delivered", Failed = "Failed", Released = "Released";
    public bool IsFinished => State is Analysed or Delivered or Failed;
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
public sealed class StudyLedger(JobStorage storage, string node = "")
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
        using var _ = connection.AcquireDistributedLock("medainode:lock:" + studyUid, LockTimeout);
        var entry = Read(connection, studyUid);
        if (entry is not null && entry.Fingerprint == fingerprint && entry.IsFinished) return (ClaimResult.AlreadyDone, entry);
        if (entry is { State: LedgerEntry.Analysing } && entry.JobId != jobId && IsAlive(connection, entry.JobId))
            return (entry.Fingerprint == fingerprint ? ClaimResult.Duplicate : ClaimResult.Busy, entry);
        Write(connection, studyUid, new LedgerEntry(LedgerEntry.Analysing, fingerprint, jobId, node, null, DateTimeOffset.UtcNow));
        return (ClaimResult.Run, entry);
    }

    /// <summary>Records how an analysis (or its delivery) ended, if the study's entry is still the one <paramref name="owns"/> recognises.</summary>
    public void Finish(string studyUid, Func<LedgerEntry, bool> owns, string state, string? reason = null)
    {
        using var connection = storage.GetConnection();
        using var _ = connection.AcquireDistributedLock("medainode:lock:" + studyUid, LockTimeout);
        var entry = Read(connection, studyUid);
        if (entry is null || !owns(entry)) return;
        Write(connection, studyUid, entry with { State = state, Reason = reason, UpdatedAt = DateTimeOffset.UtcNow });
    }

    /// <summary>Forgets what was done, so a re-run requested by a person analyses again even unchanged content.</summary>
    public void Reset(string studyUid, string reason)
    {
        using var connection = storage.GetConnection();
        using var _ = connection.AcquireDistributedLock("medainode:lock:" + studyUid, LockTimeout);
        var entry = Read(connection, studyUid);
        if (entry is null || entry.State == LedgerEntry.Analysing) return;
        Write(connection, studyUid, entry with { State = LedgerEntry.Released, Reason = reason, UpdatedAt = DateTimeOffset.UtcNow });
    }

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
        return new LedgerEntry(state, h.GetValueOrDefault("fingerprint") ?? "", h.GetValueOrDefault("job") ?? "", h.GetValueOrDefault("node") ?? "",
            h.GetValueOrDefault("reason") is { Length: > 0 } r ? r : null,
            DateTimeOffset.TryParse(h.GetValueOrDefault("updated"), out var t) ? t : DateTimeOffset.MinValue);
    }

    private static void Write(IStorageConnection connection, string studyUid, LedgerEntry e)
    {
        using var tx = connection.CreateWriteTransaction();
        tx.SetRangeInHash(Key(studyUid), new Dictionary<string, string>
        {
            ["state"] = e.State, ["fingerprint"] = e.Fingerprint, ["job"] = e.JobId, ["node"] = e.Node,
            ["reason"] = e.Reason ?? "", ["updated"] = e.UpdatedAt.ToString("O"),
        });
        // Finished entries only guard against duplicates arriving close together; they need not live for ever.
        if (tx is JobStorageTransaction expiring)
        {
            if (e.State == LedgerEntry.Analysing) expiring.PersistHash(Key(studyUid));
            else expiring.ExpireHash(Key(studyUid), Retention);
        }
        tx.Commit();
    }
}
