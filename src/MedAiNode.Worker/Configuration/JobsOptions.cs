namespace MedAiNode.Worker.Configuration;

/// <summary>Section "Jobs": the durable job queue.</summary>
public sealed class JobsOptions
{
    public const string Section = "Jobs";
    /// <summary>PostgreSQL connection string; empty keeps jobs in memory (one node; studies left unfinished are re-queued from the store at start).</summary>
    public string PostgresConnectionString { get; set; } = "";
    /// <summary>Analyses run at once on this node (one per GPU is usual).</summary>
    public int InferenceSlots { get; set; } = 1;
    /// <summary>Workers for deliveries and fetches, separate from inference.</summary>
    public int IoWorkers { get; set; } = 2;
    /// <summary>Attempts for a transient failure before the job is left failed.</summary>
    public int Retries { get; set; } = 5;
    /// <summary>How often the store is checked for studies whose quiet period ended.</summary>
    public TimeSpan CompletionPollInterval { get; set; } = TimeSpan.FromSeconds(1);

    public IEnumerable<string> Validate()
    {
        if (InferenceSlots is < 1 or > 64) yield return $"{Section}:{nameof(InferenceSlots)} must be 1..64 (was {InferenceSlots})";
        if (IoWorkers is < 1 or > 64) yield return $"{Section}:{nameof(IoWorkers)} must be 1..64 (was {IoWorkers})";
        if (Retries is < 0 or > 100) yield return $"{Section}:{nameof(Retries)} must be 0..100 (was {Retries})";
        if (CompletionPollInterval <= TimeSpan.Zero) yield return $"{Section}:{nameof(CompletionPollInterval)} must be positive";
    }
}

/// <summary>Section "Outbox": where results wait for delivery, and the folder destination of the embedded default.</summary>
public sealed class OutboxOptions
{
    public const string Section = "Outbox";
    /// <summary>Relative paths are under Store:Root.</summary>
    public string Folder { get; set; } = "outbox";
    /// <summary>A folder every result is also copied to; empty for none.</summary>
    public string ResultsFolder { get; set; } = "results";
}
