namespace MedAiNode.Store;

/// <summary>One series of a study as it arrived: its modality and how many instances are in the store.</summary>
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
    /// <summary>What the triage rules found in the last analysis; null when no rule's model ran on it (or none is configured).</summary>
    public TriageRecord? Triage { get; set; }
    /// <summary>Patient and study attributes of received instances that break their VR's rules (attribute and rule, never
    /// the value): the instances were stored as received, and these values go unchanged into the results.</summary>
    public List<string> InvalidValues { get; set; } = new();
    public int Attempts { get; set; }
    public DateTimeOffset UpdatedAt { get; set; }

    /// <summary>A snapshot callers can read while arrivals keep changing the live record.</summary>
    public StudyRecord Copy()
    {
        var c = (StudyRecord)MemberwiseClone();
        c.CallingAeTitles = new List<string>(CallingAeTitles);
        c.InvalidValues = new List<string>(InvalidValues);
        c.Series = Series.ToDictionary(kv => kv.Key, kv => new SeriesRecord
            { SeriesInstanceUid = kv.Value.SeriesInstanceUid, Modality = kv.Value.Modality, InstanceCount = kv.Value.InstanceCount });
        return c;
    }
}

/// <summary>The triage outcome of a study's analysis: positive when any rule's finding is above its threshold.</summary>
public sealed record TriageRecord
{
    public bool Positive { get; init; }
    /// <summary>The alert written to the outbox for it (its idempotency key); null when negative or no webhook receives it.</summary>
    public string? AlertId { get; init; }
    /// <summary>Every rule whose model ran on the study, positive or not.</summary>
    public IReadOnlyList<TriageFinding> Findings { get; init; } = [];
}

/// <summary>One rule's result: the largest value of the measurement it selects (0 when the model found none of it).</summary>
public sealed record TriageFinding
{
    public string Rule { get; init; } = "";
    public string Model { get; init; } = "";
    public string SeriesInstanceUid { get; init; } = "";
    /// <summary>The manifest's measurement id (e.g. haemorrhageVolume, volume, lesionVolume).</summary>
    public string Measurement { get; init; } = "";
    public string Name { get; init; } = "";
    /// <summary>Names of the labels (segments) the value was measured on.</summary>
    public IReadOnlyList<string> Labels { get; init; } = [];
    /// <summary>The lesion number (as in the SR) when the value is one lesion's.</summary>
    public int? Lesion { get; init; }
    public double VolumeMl { get; init; }
    public double ThresholdMl { get; init; }
    public bool Positive { get; init; }
}

public sealed record StoredInstance(string StudyInstanceUid, string SeriesInstanceUid, string SopInstanceUid, string Path, bool ReplacedExisting);
