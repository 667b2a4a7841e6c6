using MedAiNode.Export;
using MedAiNode.Store;

namespace MedAiNode.Worker.Jobs;

public enum AnalysisStatus
{
    /// <summary>Results were written to the outbox.</summary>
    Succeeded,
    /// <summary>The selected series has the same instances as the last analysis: nothing to redo.</summary>
    Unchanged,
    /// <summary>Will never succeed (non-CT, no eligible series, a model that fails on this input); the reason says why.</summary>
    PermanentFailure,
}

public sealed record AnalysisOutcome(AnalysisStatus Status, string? SeriesInstanceUid = null, string? Fingerprint = null, string? Reason = null,
    IReadOnlyList<OutboxItem>? Results = null, IReadOnlyList<ModelFindings>? Findings = null);

/// <summary>What one model measured on the series it ran on, as the SR reports it: the input of the triage rules.</summary>
/// <param name="ModelSha256">The model's weights (the alert id changes with them).</param>
/// <param name="SeriesFingerprint">The analysed instances (the alert id changes with them).</param>
/// <param name="LabelNames">The manifest's label table, value to name.</param>
public sealed record ModelFindings(string ModelId, string ModelVersion, string ModelSha256, string SeriesInstanceUid, string SeriesFingerprint,
    IReadOnlyList<Measurement> Measurements, IReadOnlyDictionary<int, string> LabelNames);

/// <summary>Runs series selection, the models and the SEG/SR writers on one stored study. Throws for transient failures.</summary>
public interface IStudyAnalyzer
{
    Task<AnalysisOutcome> AnalyzeAsync(StudyRecord study, IProgress<double>? progress, CancellationToken ct);
}
