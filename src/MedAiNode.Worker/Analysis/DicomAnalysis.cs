using System.Diagnostics;
using MedAiNode.Dicom;
using MedAiNode.Dicom.IO;
using MedAiNode.Imaging.Geometry;
using MedAiNode.Imaging.Series;
using MedAiNode.Imaging.Volumes;
using MedAiNode.Inference.Manifests;
using MedAiNode.Inference.Pipeline;
using MedAiNode.Inference.Runtime;
using MedAiNode.Results;
using MedAiNode.Results.Reports;
using MedAiNode.Results.Segmentation;
using ResultsCode = MedAiNode.Results.CodedConcept;
using InferenceResult = MedAiNode.Inference.Pipeline.SegmentationResult;
using MedAiNode.Inference.SlidingWindow;

namespace MedAiNode.Worker.Analysis;

/// <summary>Why an analysis can never succeed on this input (wrong modality, no eligible series, a series that cannot form a volume).</summary>
public sealed class AnalysisRejectedException(string message) : Exception(message);

public sealed record StageTimes(double SelectSeconds, double AssembleSeconds, double InferenceSeconds, double ModelRunSeconds, double ResultsSeconds);

public sealed record DicomAnalysisOutput(
    SeriesSelectionResult Selection, AssembledVolume Volume, InferenceResult Segmentation,
    DicomFile Seg, DicomFile Sr, IReadOnlyList<SegmentMeasurement> Measurements, StageTimes Times);

public sealed record DicomAnalysisOptions
{
    /// <summary>Same seed, same SOP Instance UIDs: a retried job re-sends identical objects.</summary>
    public string? UidSeed { get; init; }
    public string? UidRoot { get; init; }
    public string SoftwareVersion { get; init; } = typeof(DicomAnalysis).Assembly.GetName().Version?.ToString() ?? "0";
}

/// <summary>
/// One model on one study: series selection, volume assembly, inference, the labels mapped back onto each source
/// slice's own plane, then DICOM SEG and a TID 1500 SR. Shared by the worker's jobs and the analyze verb.
/// </summary>
public sealed class DicomAnalysis(ModelSessionCache sessions, IDicomFrameDecoder? frameDecoder = null)
{
    public DicomAnalysisOutput Run(IEnumerable<string> paths, ModelManifest manifest, DicomAnalysisOptions options,
        IProgress<double>? progress = null, CancellationToken ct = default)
    {
        var files = DicomSeriesInput.Open(paths, out _); // not DICOM, or damaged: selection only sees what can be read
        if (files.Count == 0) throw new AnalysisRejectedException("no readable DICOM instances");
        return Run(DicomSeriesInput.Select(files, manifest), manifest, options, progress, ct);
    }

    /// <summary>Runs on a selection already made (the worker selects first to compare fingerprints).</summary>
    public DicomAnalysisOutput Run(SeriesSelectionResult selection, ModelManifest manifest, DicomAnalysisOptions options,
        IProgress<double>? progress = null, CancellationToken ct = default)
    {
        var sw = Stopwatch.StartNew();
        if (selection.Chosen is null) throw new AnalysisRejectedException(selection.Explain());
        var tSelect = sw.Elapsed.TotalSeconds;

        sw.Restart();
        AssembledVolume assembled;
        try { assembled = VolumeAssembler.Assemble(selection.Chosen.Files, decoder: frameDecoder ?? MedAiNode.Dicom.Codecs.DicomCodecRegistry.Default); }
        catch (VolumeAssemblyException e) { throw new AnalysisRejectedException("series cannot form a volume: " + e.Message); }
        var tAssemble = sw.Elapsed.TotalSeconds;

        sw.Restart();
        var model = sessions.Get(manifest);
        var inferenceProgress = progress is null ? null : new Progress<InferenceProgress>(p => progress.Report(Fraction(p)));
        var seg = new SegmentationPipeline(model).Run(assembled.Volume, inferenceProgress, ct);
        var tInference = sw.Elapsed.TotalSeconds;

        sw.Restart();
        var source = SourceSeries.Create(selection.Chosen.Files.Select(SourceImage.FromFile));
        var present = seg.LabelStatistics.Where(s => s.Statistics.VoxelCount > 0).Select(s => s.Label).ToHashSet();
        var segments = manifest.Labels.Where(l => present.Contains(l.Value)).Select(Describe).ToList();
        // A manifest may report only some of a graph's output classes (ct-body uses the body channel of ct-lung-quant).
        var labelMap = OntoSourceSlices(seg.Labels, source, segments.Select(s => (byte)s.Number).ToHashSet());
        if (segments.Count == 0) throw new AnalysisRejectedException($"model {manifest.Id} found none of its labels in series {selection.Chosen.SeriesInstanceUid}");
        var algorithm = new AlgorithmInfo(manifest.Name.Length > 0 ? manifest.Name : manifest.Id, manifest.Version, manifest.Onnx.Sha256);
        var segOptions = new SegmentationOptions { UidSeed = options.UidSeed is null ? null : options.UidSeed + "/seg", UidRoot = options.UidRoot };
        var segResult = SegmentationWriter.Create(source, segments, labelMap, algorithm, segOptions);
        var measurements = Measurements(manifest, seg, assembled.Volume, segments).ToList();
        var report = MeasurementReportWriter.Create(source, segResult, segments, measurements, algorithm,
            new MeasurementReportOptions { UidSeed = options.UidSeed is null ? null : options.UidSeed + "/sr", UidRoot = options.UidRoot });
        var tResults = sw.Elapsed.TotalSeconds;

        return new DicomAnalysisOutput(selection, assembled, seg, segResult.File, report.File, measurements,
            new StageTimes(tSelect, tAssemble, tInference, seg.WindowStats.ModelSeconds, tResults));
    }

    private static double Fraction(InferenceProgress p) => p.PatchesTotal > 0 ? (double)p.PatchesDone / p.PatchesTotal : 0;

    private static ResultsCode Code(MedAiNode.Inference.Manifests.CodedConcept c) => new(c.Value, c.Scheme, c.Meaning);

    private static SegmentDescription Describe(LabelSpec l)
    {
        var lab = l.DicomCieLab();
        return new SegmentDescription
        {
            Number = l.Value,
            Label = l.Name,
            Category = l.Category is { } c ? Code(c) : new ResultsCode("123037004", "SCT", "Anatomical Structure"),
            Type = l.Type is { } t ? Code(t) : throw new ManifestException($"label {l.Value} ({l.Name}) has no Type code; SEG needs one"),
            AnatomicRegion = l.AnatomicRegion is { } r ? Code(r) : null,
            Color = lab is { Length: 3 } ? new DicomCieLab((ushort)lab[0], (ushort)lab[1], (ushort)lab[2]) : null,
        };
    }

    /// <summary>Samples the label volume (nearest neighbour) at each pixel centre of each source slice, in that slice's own plane,
    /// so tilted and unevenly spaced series get frames that lie exactly on their source images.</summary>
    public static LabelMap OntoSourceSlices(LabelVolume labels, SourceSeries source, IReadOnlySet<byte>? keep = null)
    {
        var keeps = new bool[256];
        for (var v = 1; v < 256; v++) keeps[v] = keep is null || keep.Contains((byte)v);
        var inv = labels.Affine.Inverse();
        var (nx, ny, nz) = (labels.Dims.X, labels.Dims.Y, labels.Dims.Z);
        var data = labels.Data;
        var images = source.Images;
        var slices = new byte[]?[images.Count];
        // Slices are independent: sampled on all cores, then added to the map in series order.
        Parallel.For(0, images.Count, i =>
        {
            var img = images[i];
            var slice = new byte[img.Rows * img.Columns];
            var any = false;
            var origin = img.PixelToPatient(0, 0);
            var dCol = Sub(img.PixelToPatient(0, 1), origin);
            var dRow = Sub(img.PixelToPatient(1, 0), origin);
            var o = inv.Apply(new Vec3(origin[0], origin[1], origin[2]));
            var stepC = Sub(inv.Apply(new Vec3(origin[0] + dCol[0], origin[1] + dCol[1], origin[2] + dCol[2])), o);
            var stepR = Sub(inv.Apply(new Vec3(origin[0] + dRow[0], origin[1] + dRow[1], origin[2] + dRow[2])), o);
            for (var r = 0; r < img.Rows; r++)
            {
                var row = slice.AsSpan(r * img.Columns, img.Columns);
                for (var c = 0; c < row.Length; c++)
                {
                    // The same expression, in the same order, as ever: rounding at .5 must not move.
                    var x = (int)Math.Round(o.X + stepC.X * c + stepR.X * r);
                    var y = (int)Math.Round(o.Y + stepC.Y * c + stepR.Y * r);
                    var z = (int)Math.Round(o.Z + stepC.Z * c + stepR.Z * r);
                    if ((uint)x >= (uint)nx || (uint)y >= (uint)ny || (uint)z >= (uint)nz) continue;
                    var v = data[((long)z * ny + y) * nx + x];
                    if (!keeps[v]) continue;
                    row[c] = v;
                    any = true;
                }
            }
            if (any) slices[i] = slice;
        });
        var map = new LabelMap();
        for (var i = 0; i < images.Count; i++)
            if (slices[i] is { } slice) map.Set(images[i].SopInstanceUid, slice);
        return map;
    }

    private static double[] Sub(double[] a, double[] b) => [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
    private static Vec3 Sub(Vec3 a, Vec3 b) => new(a.X - b.X, a.Y - b.Y, a.Z - b.Z);

    private static IEnumerable<SegmentMeasurement> Measurements(ModelManifest m, InferenceResult seg, Volume hu, List<SegmentDescription> segments)
    {
        var isCt = m.Modalities.Contains("CT");
        var numbers = segments.Select(s => s.Number).ToHashSet();
        var laaByLabel = isCt ? SegmentationPipeline.PercentBelowPerLabel(m, seg.Labels, hu, numbers) : new Dictionary<int, double>();
        foreach (var s in seg.LabelStatistics.Where(s => numbers.Contains(s.Label)))
        {
            double? laa = laaByLabel.TryGetValue(s.Label, out var p) ? p : null;
            yield return new SegmentMeasurement
            {
                SegmentNumber = s.Label,
                VolumeMl = s.Statistics.VolumeMl,
                MeanHu = isCt ? s.Statistics.MeanValue : null,
                LongestDiameterMm = s.Statistics.LongestDiameterMm,
                Laa950Percent = laa,
            };
        }
        var lesionIndex = new Dictionary<int, int>();
        foreach (var l in seg.Lesions.Where(l => numbers.Contains(l.Label)))
        {
            lesionIndex[l.Label] = lesionIndex.GetValueOrDefault(l.Label) + 1;
            yield return new SegmentMeasurement
            {
                SegmentNumber = l.Label,
                LesionNumber = lesionIndex[l.Label],
                VolumeMl = l.VolumeMl,
                LongestDiameterMm = l.LongestDiameterMm,
                CentroidMm = [l.CentroidMm.X, l.CentroidMm.Y, l.CentroidMm.Z],
            };
        }
    }
}
