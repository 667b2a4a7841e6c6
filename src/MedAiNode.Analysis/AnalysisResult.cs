using MedAiNode.Dicom;
using MedAiNode.Dicom.IO;
using MedAiNode.Imaging.Morphology;
using MedAiNode.Imaging.Series;
using MedAiNode.Imaging.Volumes;
using MedAiNode.Inference.Manifests;
using MedAiNode.Inference.Postprocessing;
using MedAiNode.Inference.SlidingWindow;
using MedAiNode.Results;

namespace MedAiNode.Analysis;

/// <summary>Why an analysis can never succeed on this input (wrong modality, no eligible series, a series that cannot form a volume).</summary>
public sealed class AnalysisRejectedException(string message) : Exception(message);

public sealed record LabelSummary(int Label, string Name, RegionStatistics Statistics);

/// <summary>Seconds per pipeline stage. Inference holds the sliding window, of which Model is ONNX Runtime's own run.</summary>
public sealed record StageTimes
{
    public double Select { get; init; }
    public double Assemble { get; init; }
    /// <summary>Orientation, model grid, intensity normalisation.</summary>
    public double Preprocess { get; init; }
    public double Inference { get; init; }
    public double Model { get; init; }
    /// <summary>Labels (argmax), filters, lesions, labels back onto the input grid.</summary>
    public double Postprocess { get; init; }
    /// <summary>Per-label statistics and the manifest's measurements.</summary>
    public double Measure { get; init; }
    /// <summary>SEG and SR.</summary>
    public double Results { get; init; }

    public IEnumerable<(string Stage, double Seconds)> All() =>
    [
        ("select", Select), ("assemble", Assemble), ("preprocess", Preprocess), ("inference", Inference), ("model", Model),
        ("postprocess", Postprocess), ("measure", Measure), ("results", Results),
    ];
}

/// <summary>
/// What one model's analysis of one series (or volume) produced: the labels on the input grid, what was measured,
/// and, for DICOM input, the series chosen and the SEG and SR written from exactly those labels and measurements.
/// </summary>
public sealed record AnalysisResult
{
    public required ModelManifest Model { get; init; }
    /// <summary>The ONNX Runtime execution provider that ran the model.</summary>
    public required string Provider { get; init; }
    /// <summary>Labels on the input volume's grid.</summary>
    public required LabelVolume Labels { get; init; }
    /// <summary>Labels on the grid the model ran on (orientation, spacing).</summary>
    public required LabelVolume ModelGridLabels { get; init; }
    public required IReadOnlyList<LabelSummary> LabelStatistics { get; init; }
    /// <summary>Every number measured, as the SR reports it (per segment, over several segments, per lesion).</summary>
    public required IReadOnlyList<Measurement> Measurements { get; init; }
    public required IReadOnlyList<LesionCandidate> Lesions { get; init; }
    /// <summary>What the manifest's anatomy rules found (body, lungs, airway, whether any lung is in view); null without such rules.</summary>
    public AnatomyReport? Anatomy { get; init; }
    public required SlidingWindowStats WindowStats { get; init; }
    public StageTimes Times { get; init; } = new();
    /// <summary>What a person should know: files skipped, series chosen and why, gaps, tilt, resampling, providers.</summary>
    public IReadOnlyList<string> Notes { get; init; } = [];

    // DICOM input only
    public SeriesSelectionResult? Selection { get; init; }
    public string? SeriesInstanceUid => Selection?.Chosen?.SeriesInstanceUid;
    public IReadOnlyList<MeasurementGroup> Groups { get; init; } = [];
    public DicomFile? Seg { get; init; }
    public DicomFile? Sr { get; init; }
    /// <summary>The "AI summary" Secondary Capture images (measurement page first, then key slices); one page only when
    /// nothing was found. Empty when the summary is off.</summary>
    public IReadOnlyList<DicomFile> Summary { get; init; } = [];

    public double TotalSeconds => Times.All().Where(t => t.Stage != "model").Sum(t => t.Seconds);

    /// <summary>Labels that have voxels on the input grid: the SEG's segments.</summary>
    public IEnumerable<int> PresentLabels => LabelStatistics.Where(s => s.Statistics.VoxelCount > 0).Select(s => s.Label);

    public int SegmentCount => Seg?.Dataset.GetSequence(DicomTags.SegmentSequence)?.Items.Count ?? 0;
}
