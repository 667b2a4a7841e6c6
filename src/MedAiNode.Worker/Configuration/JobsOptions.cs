namespace MedAiNode.Worker.Configuration;

/// <summary>Section "Jobs": the durable job queue.</summary>
public sealed class JobsOptions
{
    public const string Section = "Jobs";
    /// <summary>PostgreSQL connection string; empty keeps jobs in memory (one node; studies left unfinished are re-queued from the store at start).</summary>
    public string PostgresConnectionString { get; set; } = "";
    /// <summary>Analyses run at once on this node (one per GPU is usual); 0 on a node that only receives and delivers.</summary>
    public int InferenceSlots { get; set; } = 1;
    /// <summary>Workers for deliveries and fetches, separate from inference.</summary>
    public int IoWorkers { get; set; } = 2;
    /// <summary>Attempts for a transient failure before the job is left failed.</summary>
    public int Retries { get; set; } = 5;
    /// <summary>Attempts for a delivery before its job is left failed (results stay in the outbox and are re-queued at start).</summary>
    public int DeliveryRetries { get; set; } = 20;
    /// <summary>How often the store is checked for studies whose quiet period ended.</summary>
    public TimeSpan CompletionPollInterval { get; set; } = TimeSpan.FromMilliseconds(250);
    /// <summary>At shutdown, how long running jobs may take to finish before they are cancelled and handed back to the queue.</summary>
    public TimeSpan ShutdownTimeout { get; set; } = TimeSpan.FromSeconds(30);
    /// <summary>This node's name, unique among nodes sharing a database: deliveries of its outbox queue under it. Empty: the host name.</summary>
    public string NodeName { get; set; } = "";
    /// <summary>DicomWeb:Pacs name a node fetches a study from (WADO-RS) when it runs the job of a study another node received.
    /// Empty: such a job is handed to the node that received the study.</summary>
    public string FetchFrom { get; set; } = "";

    /// <summary>The node name as Hangfire queue names need it: lower case letters, digits and '_' (anything else becomes '_').</summary>
    public string EffectiveNodeName => System.Text.RegularExpressions.Regex.Replace(
        (string.IsNullOrWhiteSpace(NodeName) ? Environment.MachineName : NodeName).ToLowerInvariant(), "[^a-z0-9_]", "_");

    public IEnumerable<string> Validate()
    {
        if (InferenceSlots is < 0 or > 64) yield return $"{Section}:{nameof(InferenceSlots)} must be 0..64 (was {InferenceSlots})";
        if (InferenceSlots == 0 && string.IsNullOrWhiteSpace(PostgresConnectionString))
            yield return $"{Section}:{nameof(InferenceSlots)} 0 (receive and deliver only) needs {Section}:{nameof(PostgresConnectionString)}, so other nodes run the analyses";
        if (IoWorkers is < 1 or > 64) yield return $"{Section}:{nameof(IoWorkers)} must be 1..64 (was {IoWorkers})";
        if (Retries is < 0 or > 100) yield return $"{Section}:{nameof(Retries)} must be 0..100 (was {Retries})";
        if (DeliveryRetries is < 0 or > 100) yield return $"{Section}:{nameof(DeliveryRetries)} must be 0..100 (was {DeliveryRetries})";
        if (EffectiveNodeName.Length is < 1 or > 40) yield return $"{Section}:{nameof(NodeName)} must be 1..40 characters (was '{EffectiveNodeName}')";
        if (ShutdownTimeout < TimeSpan.Zero || ShutdownTimeout > TimeSpan.FromHours(1)) yield return $"{Section}:{nameof(ShutdownTimeout)} must be 0..1 h (was {ShutdownTimeout})";
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
