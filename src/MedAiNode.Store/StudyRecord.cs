namespace MedAiNode.Store;

/// <summary>Where a study is in its lifecycle; the legal moves are in <see cref="StudyLifecycle"/>. The cross-node ledger uses the same names.</summary>
public enum StudyState
{
    /// <summary>Instances are arriving; complete after the quiet period.</summary>
    Receiving,
    /// <summary>Quiet period over; waiting to be queued.</summary>
    Complete,
    Queued,
    Analysing,
    /// <summary>Results are in the outbox; delivery pending.</summary>
    Analysed,
    Delivered,
    /// <summary>A permanent failure (non-CT, no eligible series, an input the SEG writer cannot take), or a transient
    /// one whose retries ran out; the reason says which. Final until a re-run or new content arrives.</summary>
    Failed,
}

public sealed class SeriesRecord
{
    public string SeriesInstanceUid { get; set; } = "";
    public string Modality { get; set; } = "";
    public int InstanceCount { get; set; }
}

/// <summary>What the store knows of a study: its state, arrivals and the analysis that ran on it. Persisted as study.json.</summary>
public sealed class StudyRecord
{
    public string StudyInstanceUid { get; set; } = "";
    public StudyState State { get; set; }
    public DateTimeOffset FirstArrival { get; set; }
    public DateTimeOffset LastArrival { get; set; }
    public int InstanceCount { get; set; }
    public List<string> CallingAeTitles { get; set; } = new();
    /// <summary>"stat" or "routine": the queue its job goes to.</summary>
    public string Priority { get; set; } = "routine";
    public Dictionary<string, SeriesRecord> Series { get; set; } = new();
    /// <summary>The series the last analysis chose, and a fingerprint of its instances, so late arrivals re-analyse only when they change it.</summary>
    public string? AnalysedSeriesUid { get; set; }
    public string? AnalysedFingerprint { get; set; }
    public string? Reason { get; set; }
    public int Attempts { get; set; }
    public DateTimeOffset UpdatedAt { get; set; }

    /// <summary>A snapshot callers can read while arrivals keep changing the live record.</summary>
    public StudyRecord Copy()
    {
        var c = (StudyRecord)MemberwiseClone();
        c.CallingAeTitles = new List<string>(CallingAeTitles);
        c.Series = Series.ToDictionary(kv => kv.Key, kv => new SeriesRecord
            { SeriesInstanceUid = kv.Value.SeriesInstanceUid, Modality = kv.Value.Modality, InstanceCount = kv.Value.InstanceCount });
        return c;
    }
}

public sealed record StoredInstance(string StudyInstanceUid, string SeriesInstanceUid, string SopInstanceUid, string Path, bool ReplacedExisting);
