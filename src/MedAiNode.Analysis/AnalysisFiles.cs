using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using MedAiNode.Imaging.Nifti;

namespace MedAiNode.Analysis;

/// <summary>Where <see cref="AnalysisFiles.Write"/> put an analysis: the label map, SEG and SR (DICOM input) and measurements.json.</summary>
public sealed record AnalysisPaths(string LabelMap, string Measurements, string? Seg, string? Sr)
{
    /// <summary>summary_01.dcm, ...: the "AI summary" Secondary Capture images, in instance order.</summary>
    public IReadOnlyList<string> Summary { get; init; } = [];
}

/// <summary>An analysis on disk, for people and scripts: labels.nii.gz, seg.dcm, sr.dcm and measurements.json side by side.</summary>
public static class AnalysisFiles
{
    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    public static AnalysisPaths Write(AnalysisResult r, string outDir)
    {
        var dir = Directory.CreateDirectory(outDir).FullName;
        var labels = Path.Combine(dir, "labels.nii.gz");
        NiftiIO.Write(labels, r.Labels, $"{r.Model.Id} labels");
        string? seg = null, sr = null;
        if (r.Seg is not null) r.Seg.Save(seg = Path.Combine(dir, "seg.dcm"));
        if (r.Sr is not null) r.Sr.Save(sr = Path.Combine(dir, "sr.dcm"));
        var summary = WriteSummary(r.Summary, dir);
        var measurements = Path.Combine(dir, "measurements.json");
        File.WriteAllText(measurements, JsonSerializer.Serialize(Document(r), Json));
        return new AnalysisPaths(labels, measurements, seg, sr) { Summary = summary };
    }

    /// <summary>Saves summary images as summary_01.dcm, summary_02.dcm, ... beside seg.dcm and sr.dcm.</summary>
    public static IReadOnlyList<string> WriteSummary(IReadOnlyList<MedAiNode.Dicom.IO.DicomFile> pages, string outDir)
    {
        var dir = Directory.CreateDirectory(outDir).FullName;
        var paths = new List<string>();
        for (var i = 0; i < pages.Count; i++)
        {
            var path = Path.Combine(dir, $"summary_{i + 1:00}.dcm");
            pages[i].Save(path);
            paths.Add(path);
        }
        return paths;
    }

    /// <summary>The same numbers as the SR, with their codes, plus per-label statistics, lesions, timings and notes.</summary>
    public static object Document(AnalysisResult r) => new
    {
        model = r.Model.Id,
        modelVersion = r.Model.Version,
        modelSha256 = r.Model.ModelSha256,
        provider = r.Provider,
        seriesInstanceUid = r.SeriesInstanceUid,
        measurements = r.Measurements.Select(m => new
        {
            m.Id,
            name = m.DisplayName,
            value = m.Value,
            unit = m.Unit.Value,
            concept = new { m.Concept.Value, m.Concept.Scheme, m.Concept.Meaning },
            segments = m.Labels.Select(l => r.Model.Label(l)?.Name ?? l.ToString(CultureInfo.InvariantCulture)),
            labels = m.Labels,
            m.Lesion,
        }),
        labels = r.LabelStatistics.Select(l => new
        {
            l.Label, l.Name, l.Statistics.VoxelCount, l.Statistics.VolumeMl,
            centroidMm = new[] { l.Statistics.CentroidMm.X, l.Statistics.CentroidMm.Y, l.Statistics.CentroidMm.Z },
            l.Statistics.LongestDiameterMm, l.Statistics.MeanValue,
        }),
        lesions = r.Lesions,
        timing = new { totalSeconds = r.TotalSeconds, stages = r.Times.All().ToDictionary(t => t.Stage, t => t.Seconds), patches = r.WindowStats.Patches },
        notes = r.Notes,
    };

    /// <summary>Human-readable summary for the terminal.</summary>
    public static string Format(AnalysisResult r, AnalysisPaths paths)
    {
        var ci = CultureInfo.InvariantCulture;
        var lines = new List<string> { $"model {r.Model.Id} {r.Model.Version} on {r.Provider}, {r.TotalSeconds.ToString("0.0", ci)} s" };
        lines.AddRange(r.Notes.Select(n => "  " + n));
        foreach (var m in r.Measurements)
        {
            var region = string.Join(" + ", m.Labels.Select(l => r.Model.Label(l)?.Name ?? l.ToString(ci))) + (m.Lesion is { } n ? $" lesion {n}" : "");
            lines.Add(string.Format(ci, "  {0,-28} {1,-40} {2,12:0.###} {3}", region, m.DisplayName, m.Value, m.Unit.Value));
        }
        lines.Add($"  label map: {paths.LabelMap}");
        if (paths.Seg is not null) lines.Add($"  SEG: {paths.Seg}");
        if (paths.Sr is not null) lines.Add($"  SR: {paths.Sr}");
        if (paths.Summary.Count > 0) lines.Add($"  summary: {paths.Summary.Count} images, {paths.Summary[0]} ...");
        lines.Add($"  measurements: {paths.Measurements}");
        return string.Join(Environment.NewLine, lines);
    }
}
