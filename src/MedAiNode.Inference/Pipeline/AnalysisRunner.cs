using System.Globalization;
using System.Text.Json;
using MedAiNode.Dicom;
using MedAiNode.Dicom.IO;
using MedAiNode.Imaging.Nifti;
using MedAiNode.Imaging.Series;
using MedAiNode.Imaging.Volumes;
using MedAiNode.Inference.Manifests;
using MedAiNode.Inference.Runtime;
using MedAiNode.Inference.SlidingWindow;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace MedAiNode.Inference.Pipeline;

public sealed record AnalysisOutput(SegmentationResult Result, string LabelMapPath, string MeasurementsPath, string? SeriesInstanceUid, IReadOnlyList<string> Notes);

/// <summary>What `medainode analyze` does: read a DICOM folder or NIfTI file, pick a model and series, segment, write outputs.</summary>
public sealed class AnalysisRunner(ModelSessionCache sessions, IReadOnlyList<ModelManifest> models, ILogger? logger = null, IDicomFrameDecoder? frameDecoder = null)
{
    private readonly ILogger _log = logger ?? NullLogger.Instance;

    public const string DefaultCtModel = "ct-lung-quant";

    public AnalysisOutput Run(string input, string outDir, string? modelId = null, IProgress<InferenceProgress>? progress = null, CancellationToken ct = default)
    {
        var notes = new List<string>();
        Volume volume;
        string? seriesUid = null;
        string modality;
        ModelManifest manifest;
        if (File.Exists(input) && (input.EndsWith(".nii", StringComparison.OrdinalIgnoreCase) || input.EndsWith(".nii.gz", StringComparison.OrdinalIgnoreCase)))
        {
            manifest = Pick(modelId, null);
            volume = NiftiIO.Read(input);
            modality = manifest.Modalities.FirstOrDefault() ?? "";
            notes.Add($"NIfTI input {Path.GetFileName(input)}: {volume.Dims}, spacing {volume.Spacing}");
        }
        else if (Directory.Exists(input))
        {
            var files = DicomSeriesInput.Open(Directory.EnumerateFiles(input, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal), out var unreadable);
            if (unreadable > 0) notes.Add($"{unreadable} files in the folder are not DICOM and were ignored");
            if (files.Count == 0) throw new InvalidOperationException($"{input} holds no readable DICOM files.");
            modality = files[0].Dataset.GetString(DicomTags.Modality) ?? "";
            manifest = Pick(modelId, modality);
            var selection = DicomSeriesInput.Select(files, manifest);
            _log.LogInformation("Series selection for {Model}: {Explanation}", manifest.Id, selection.Explain());
            notes.Add(selection.Explain());
            if (selection.Chosen is null) throw new InvalidOperationException($"No series fits model {manifest.Id}: {selection.Explain()}");
            seriesUid = selection.Chosen.SeriesInstanceUid;
            var assembled = VolumeAssembler.Assemble(selection.Chosen.Files, decoder: frameDecoder);
            notes.AddRange(assembled.Notes);
            volume = assembled.Volume;
        }
        else throw new FileNotFoundException($"Input {input} is neither a folder of DICOM files nor a .nii/.nii.gz file.");

        var model = sessions.Get(manifest);
        notes.AddRange(model.Attempts.Where(a => !a.Succeeded).Select(a => $"execution provider {a.Provider} unavailable ({a.Reason}); ran on {model.Provider}"));
        var result = new SegmentationPipeline(model).Run(volume, progress, ct);
        Directory.CreateDirectory(outDir);
        var labelPath = Path.Combine(outDir, "labels.nii.gz");
        NiftiIO.Write(labelPath, result.Labels, $"{manifest.Id} labels");
        var measurementsPath = Path.Combine(outDir, "measurements.json");
        var report = new
        {
            model = manifest.Id,
            modelVersion = manifest.Version,
            provider = result.Provider,
            seriesInstanceUid = seriesUid,
            labels = result.LabelStatistics.Select(l => new { l.Label, l.Name, l.Statistics.VoxelCount, l.Statistics.VolumeMl, centroidMm = new[] { l.Statistics.CentroidMm.X, l.Statistics.CentroidMm.Y, l.Statistics.CentroidMm.Z }, l.Statistics.LongestDiameterMm, l.Statistics.MeanValue }),
            measurements = result.Measurements.Select(m => new { m.Id, m.Name, value = double.IsFinite(m.Value) ? m.Value : (double?)null, m.Unit }),
            lesions = result.Lesions,
            timing = new { result.TotalSeconds, result.WindowStats.ModelSeconds, result.WindowStats.Patches },
            notes,
        };
        File.WriteAllText(measurementsPath, JsonSerializer.Serialize(report, new JsonSerializerOptions { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase, NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals }));
        return new AnalysisOutput(result, labelPath, measurementsPath, seriesUid, notes);
    }

    private ModelManifest Pick(string? id, string? modality)
    {
        if (id is not null)
            return models.FirstOrDefault(m => string.Equals(m.Id, id, StringComparison.OrdinalIgnoreCase))
                ?? throw new ArgumentException($"Unknown model '{id}'. Known models: {string.Join(", ", models.Select(m => m.Id))}.");
        if (modality is not null && !string.Equals(modality, "CT", StringComparison.OrdinalIgnoreCase))
            return models.FirstOrDefault(m => m.Modalities.Contains(modality, StringComparer.OrdinalIgnoreCase))
                ?? throw new ArgumentException($"No model for modality {modality}; pass --model. Known models: {string.Join(", ", models.Select(m => m.Id))}.");
        return models.FirstOrDefault(m => m.Id == DefaultCtModel)
            ?? throw new ArgumentException($"Default model {DefaultCtModel} not found; pass --model. Known models: {string.Join(", ", models.Select(m => m.Id))}.");
    }

    /// <summary>Human-readable summary for the terminal.</summary>
    public static string Format(AnalysisOutput o)
    {
        var ci = CultureInfo.InvariantCulture;
        var lines = new List<string> { $"model {o.Result.ModelId} on {o.Result.Provider}, {o.Result.TotalSeconds.ToString("0.0", ci)} s" };
        lines.AddRange(o.Notes.Select(n => "  " + n));
        foreach (var l in o.Result.LabelStatistics)
            lines.Add(string.Format(ci, "  {0,-12} {1,10:0.0} mL   centroid {2}   longest diameter {3:0.0} mm", l.Name, l.Statistics.VolumeMl, l.Statistics.CentroidMm, l.Statistics.LongestDiameterMm));
        foreach (var m in o.Result.Measurements)
            lines.Add(string.Format(ci, "  {0,-40} {1,10:0.00} {2}", m.Name.Length > 0 ? m.Name : m.Id, m.Value, m.Unit));
        lines.Add($"  label map: {o.LabelMapPath}");
        lines.Add($"  measurements: {o.MeasurementsPath}");
        return string.Join(Environment.NewLine, lines);
    }
}
