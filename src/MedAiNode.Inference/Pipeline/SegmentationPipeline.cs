using System.Diagnostics;
using MedAiNode.Imaging.Geometry;
using MedAiNode.Imaging.Morphology;
using MedAiNode.Imaging.Resampling;
using MedAiNode.Imaging.Volumes;
using MedAiNode.Inference.Manifests;
using MedAiNode.Inference.Postprocessing;
using MedAiNode.Inference.Preprocessing;
using MedAiNode.Inference.Runtime;
using MedAiNode.Inference.SlidingWindow;

namespace MedAiNode.Inference.Pipeline;

public sealed record LabelSummary(int Label, string Name, RegionStatistics Statistics);

public sealed record Measurement(string Id, string Name, double Value, string Unit, CodedConcept? Concept);

public sealed record SegmentationResult(
    string ModelId, string Provider,
    LabelVolume Labels, LabelVolume ModelGridLabels,
    IReadOnlyList<LabelSummary> LabelStatistics, IReadOnlyList<Measurement> Measurements, IReadOnlyList<LesionCandidate> Lesions,
    SlidingWindowStats WindowStats, double TotalSeconds)
{
    /// <summary>Where <see cref="TotalSeconds"/> went (the sliding window, with the model's own run, is in <see cref="WindowStats"/>).</summary>
    public PipelineTimes Times { get; init; } = new(0, 0, 0);
}

/// <summary>
/// Pipeline steps outside the sliding window: orientation, resampling to the model grid and intensity normalisation;
/// labels (argmax), filters, lesions and the labels back onto the input grid; per-label statistics and measurements.
/// </summary>
public sealed record PipelineTimes(double PreprocessSeconds, double PostprocessSeconds, double MeasureSeconds);

/// <summary>
/// Input volume -> model grid (orientation, spacing) -> intensity normalisation -> sliding window -> labels ->
/// filters -> back onto the input grid (nearest neighbour) -> statistics and measurements on the original values.
/// </summary>
public sealed class SegmentationPipeline(LoadedModel model)
{
    public SegmentationResult Run(Volume input, IProgress<InferenceProgress>? progress = null, CancellationToken ct = default)
    {
        var m = model.Manifest;
        var total = Stopwatch.StartNew();
        var work = input;
        // Most CT already is LPS: reorienting would only copy the whole input (0.2-0.6 s at 512x512x300).
        if (m.Orientation is { } code && !Reorientation.IsOriented(work.Affine, code)) work = Reorientation.Reorient(work, code);
        if (m.Spacing is { } sp)
        {
            var target = new Vec3(sp[0], sp[1], sp[2]);
            var (dims, affine) = Resampler.OrthogonalGrid(work.Dims, work.Affine, target);
            if (!work.Affine.IsOrthogonal() || (work.Spacing - target).Length > 1e-6) work = Resampler.Resample(work, dims, affine, Edge(work));
        }
        else if (!work.Affine.IsOrthogonal())
        {
            work = Resampler.ToOrthogonal(work, null, Edge(work)); // models are trained on rectangular grids
        }
        var normalized = ReferenceEquals(work, input) ? new Volume(work.Dims, work.Affine, (float[])work.Data.Clone()) : work;
        IntensityNormalizer.Apply(m.Intensity, normalized.Data);
        var preprocess = total.Elapsed.TotalSeconds;

        var inferer = new SlidingWindowInferer(model);
        var scores = inferer.Run(normalized, progress, ct);
        var step = Stopwatch.StartNew();
        var modelLabels = Postprocessor.ToLabels(scores, m.Output, normalized);
        Postprocessor.ApplyFilters(modelLabels, m);
        var lesions = Postprocessor.Lesions(modelLabels, scores, m);

        var sameGrid = modelLabels.Dims == input.Dims && modelLabels.Affine == input.Affine;
        var labels = sameGrid ? modelLabels : Resampler.Resample(modelLabels, input.Dims, input.Affine);
        labels = new LabelVolume(labels.Dims, labels.Affine, labels.Data) { Slices = input.Slices };
        var postprocess = step.Elapsed.TotalSeconds;
        step.Restart();

        // All labels in one pass over the (usually 512x512xN) input grid.
        var perLabel = RegionMeasurements.Measure(labels, m.Labels.Select(l => (byte)l.Value).ToArray(), input.Data);
        var stats = m.Labels.Select((l, k) => new LabelSummary(l.Value, l.Name, perLabel[k])).ToList();
        var measurements = Measure(m, labels, input);
        return new SegmentationResult(m.Id, model.Provider, labels, modelLabels, stats, measurements, lesions, inferer.LastStats!, total.Elapsed.TotalSeconds)
        {
            Times = new PipelineTimes(preprocess, postprocess, step.Elapsed.TotalSeconds),
        };
    }

    /// <summary>Padding value for resampling: the image minimum (air for CT), so borders do not look like tissue.</summary>
    private static float Edge(Volume v) => v.Range().Min;

    /// <summary>
    /// For each of <paramref name="wanted"/> that a PercentBelow measurement names (e.g. LAA-950 of each lung on its
    /// own): the percentage of its voxels under that measurement's threshold, all labels in one pass. Labels without
    /// such a measurement, or without voxels, are absent.
    /// </summary>
    public static Dictionary<int, double> PercentBelowPerLabel(ModelManifest m, LabelVolume labels, Volume values, IEnumerable<int> wanted)
    {
        var threshold = new double[256];
        var counted = new List<byte>();
        foreach (var label in wanted)
        {
            if (m.Measurements.FirstOrDefault(x => x.Kind == MeasurementKind.PercentBelow && x.Labels.Contains(label)) is not { } spec) continue;
            threshold[label] = spec.Threshold;
            counted.Add((byte)label);
        }
        var result = new Dictionary<int, double>();
        if (counted.Count == 0) return result;
        var n = new long[256];
        var below = new long[256];
        var search = System.Buffers.SearchValues.Create(counted.ToArray());
        var data = labels.Data.AsSpan();
        var v = values.Data;
        for (var i = 0; i < data.Length;)
        {
            var next = data[i..].IndexOfAny(search);
            if (next < 0) break;
            i += next;
            var l = data[i];
            n[l]++;
            if (v[i] < threshold[l]) below[l]++;
            i++;
        }
        foreach (var l in counted) if (n[l] > 0) result[l] = 100.0 * below[l] / n[l];
        return result;
    }

    /// <summary>
    /// The manifest's measurements from one pass over the grid for all of them. Each measurement still accumulates its
    /// voxels in index order, so sums are exactly those of a pass per measurement.
    /// </summary>
    public static List<Measurement> Measure(ModelManifest m, LabelVolume labels, Volume values)
    {
        var specs = m.Measurements;
        // Which measurements each label value belongs to.
        var of = new List<int>[256];
        var counted = new List<byte>();
        for (var s = 0; s < specs.Length; s++)
        foreach (var l in specs[s].Labels)
        {
            if (of[l] is null) { of[l] = []; counted.Add((byte)l); }
            if (!of[l].Contains(s)) of[l].Add(s);
        }
        var n = new long[specs.Length]; var below = new long[specs.Length]; var sum = new double[specs.Length];
        var search = System.Buffers.SearchValues.Create(counted.ToArray());
        var data = labels.Data.AsSpan();
        var v = values.Data;
        for (var i = 0; i < data.Length;)
        {
            // Jump over voxels no measurement counts (background, mostly) with a vectorised search.
            var next = data[i..].IndexOfAny(search);
            if (next < 0) break;
            i += next;
            var value = v[i];
            foreach (var s in of[data[i]])
            {
                n[s]++;
                sum[s] += value;
                if (value < specs[s].Threshold) below[s]++;
            }
            i++;
        }
        var result = new List<Measurement>();
        for (var s = 0; s < specs.Length; s++)
        {
            var spec = specs[s];
            var value = spec.Kind switch
            {
                MeasurementKind.Volume => n[s] * labels.VoxelVolumeMm3 / 1000.0,
                MeasurementKind.MeanValue => n[s] == 0 ? double.NaN : sum[s] / n[s],
                MeasurementKind.PercentBelow => n[s] == 0 ? double.NaN : 100.0 * below[s] / n[s],
                _ => double.NaN,
            };
            result.Add(new Measurement(spec.Id, spec.Name, value, spec.Unit, spec.Concept));
        }
        return result;
    }
}
