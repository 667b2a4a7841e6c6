using System.Numerics;
using MedAiNode.Dicom;
using MedAiNode.Imaging.Morphology;
using MedAiNode.Imaging.Volumes;
using MedAiNode.Inference.Manifests;
using MedAiNode.Inference.Postprocessing;

namespace MedAiNode.Analysis;

/// <summary>The manifest's measurements, as data the SR writes as they are (concept, value, UCUM unit, region).</summary>
public static class Measuring
{
    /// <summary>
    /// Each present label's per-label measurements (label table order, then manifest order), then the measurements
    /// over several labels, then each lesion's volume and longest diameter. Labels with no voxel are not measured;
    /// a region over several labels covers those present.
    /// </summary>
    public static List<Measurement> Measure<T>(ModelManifest m, LabelVolume labels, VoxelVolume<T> values, IReadOnlyList<LabelSummary> stats, IReadOnlyList<LesionCandidate> lesions)
        where T : unmanaged, INumberBase<T> =>
        Measure(m, stats, lesions, regions => Count(labels, values, regions));

    /// <summary>
    /// The per-label statistics (volume, centroid, longest diameter, mean value) and the measurements of
    /// <see cref="Measure(ModelManifest, IReadOnlyList{LabelSummary}, IReadOnlyList{LesionCandidate}, Func{IReadOnlyList{ValueTuple{MeasurementSpec, int[]}}, double[]})"/>,
    /// with the values read a few planes at a time by <paramref name="readPlanes"/> (z0, count, into), once for all: a
    /// stage that let its input go reads back a few megabytes, not the whole volume. The results equal those measured on
    /// the whole volume to the bit (each region sums in index order; the geometry needs no values).
    /// </summary>
    public static (List<LabelSummary> Stats, List<Measurement> Measurements) Measure<T>(ModelManifest m, LabelVolume labels,
        Action<int, int, T[]> readPlanes, IReadOnlyList<LesionCandidate> lesions)
        where T : unmanaged, INumberBase<T>
    {
        var geometry = RegionMeasurements.Measure(labels, m.Labels.Select(l => (byte)l.Value).ToArray());
        var stats = m.Labels.Select((l, k) => new LabelSummary(l.Value, l.Name, geometry[k])).ToList();
        var regions = Regions(m, stats);
        // Each present label's mean, counted in the same pass as the manifest's regions.
        var mean = new MeasurementSpec { Id = "mean", Kind = MeasurementKind.MeanValue };
        var present = stats.Where(s => s.Statistics.VoxelCount > 0).Select(s => s.Label).Distinct().ToList();
        var counted = Count(labels, readPlanes, [.. regions, .. present.Select(l => (mean, new[] { l }))]);
        stats = stats.Select(s => present.IndexOf(s.Label) is var k and >= 0
            ? s with { Statistics = s.Statistics with { MeanValue = counted[regions.Count + k] } } : s).ToList();
        return (stats, Compose(m, stats, lesions, regions, counted));
    }

    /// <summary>As above, with per-label statistics and the counted regions measured by <paramref name="count"/> on any set
    /// of voxels (the input grid, or the source slices the SEG lies on).</summary>
    public static List<Measurement> Measure(ModelManifest m, IReadOnlyList<LabelSummary> stats, IReadOnlyList<LesionCandidate> lesions,
        Func<IReadOnlyList<(MeasurementSpec Spec, int[] Labels)>, double[]> count)
    {
        var regions = Regions(m, stats);
        return Compose(m, stats, lesions, regions, count(regions));
    }

    /// <summary>The regions counted over the values: a per-label percentage below a threshold, or any measurement over a union of labels.</summary>
    private static List<(MeasurementSpec Spec, int[] Labels)> Regions(ModelManifest m, IReadOnlyList<LabelSummary> stats)
    {
        var present = stats.Where(s => s.Statistics.VoxelCount > 0).Select(s => s.Label).ToHashSet();
        var regions = new List<(MeasurementSpec Spec, int[] Labels)>();
        foreach (var spec in m.EffectiveMeasurements)
        {
            var over = spec.LabelsIn(m).Where(present.Contains).Distinct().ToArray();
            if (spec.PerLabel)
            {
                if (spec.Kind == MeasurementKind.PercentBelow) regions.AddRange(over.Select(l => (spec, new[] { l })));
            }
            else if (over.Length > 0) regions.Add((spec, over));
        }
        return regions;
    }

    /// <summary>The measurements from the statistics and the counted regions (<paramref name="counted"/>[r] for region r).</summary>
    private static List<Measurement> Compose(ModelManifest m, IReadOnlyList<LabelSummary> stats, IReadOnlyList<LesionCandidate> lesions,
        List<(MeasurementSpec Spec, int[] Labels)> regions, double[] counted)
    {
        var present = stats.Where(s => s.Statistics.VoxelCount > 0).ToDictionary(s => s.Label);
        var specs = m.EffectiveMeasurements;
        var result = new List<Measurement>();
        foreach (var (label, summary) in present.OrderBy(p => Array.FindIndex(m.Labels, l => l.Value == p.Key)))
        foreach (var spec in specs.Where(s => s.PerLabel && s.LabelsIn(m).Contains(label)))
        {
            var st = summary.Statistics;
            var value = spec.Kind switch
            {
                MeasurementKind.Volume => st.VolumeMl,
                MeasurementKind.MeanValue => st.MeanValue ?? double.NaN,
                MeasurementKind.LongestDiameter => st.LongestDiameterMm,
                _ => counted[regions.FindIndex(r => r.Spec == spec && r.Labels[0] == label)],
            };
            Add(result, m, spec, value, [label], null, spec.Kind == MeasurementKind.LongestDiameter ? Line(st.LongestDiameterEndsMm) : null);
        }
        for (var r = 0; r < regions.Count; r++)
            if (!regions[r].Spec.PerLabel) Add(result, m, regions[r].Spec, counted[r], regions[r].Labels, null);

        var volume = new MeasurementSpec { Id = "lesionVolume", Name = "Lesion volume", Kind = MeasurementKind.Volume };
        var diameter = new MeasurementSpec { Id = "lesionLongestDiameter", Name = "Lesion longest diameter", Kind = MeasurementKind.LongestDiameter };
        var mean = new MeasurementSpec { Id = "lesionMean", Name = "Lesion mean attenuation", Kind = MeasurementKind.MeanValue };
        var confidence = new MeasurementSpec
        {
            Id = "lesionConfidence", Name = "Detection confidence", Kind = MeasurementKind.MeanValue, Unit = "1",
            Concept = new CodedConcept("DETCONF", Codes.LocalSchemeDesignator, "Detection confidence"), // no PS3.16 code for a detector's own score
        };
        var index = new Dictionary<int, int>();
        foreach (var l in lesions.Where(l => present.ContainsKey(l.Label)))
        {
            index[l.Label] = index.GetValueOrDefault(l.Label) + 1;
            Add(result, m, volume, l.VolumeMl, [l.Label], index[l.Label]);
            Add(result, m, diameter, l.LongestDiameterMm, [l.Label], index[l.Label], Line(l.LongestDiameterEndsMm));
            if (l.MeanValue is { } hu) Add(result, m, mean, hu, [l.Label], index[l.Label]);
            Add(result, m, confidence, l.MeanProbability, [l.Label], index[l.Label]);
        }
        return result;
    }

    private static void Add(List<Measurement> into, ModelManifest m, MeasurementSpec spec, double value, int[] labels, int? lesion, SpatialCoordinates? geometry = null)
    {
        if (!double.IsFinite(value) || spec.Coding(m) is not { } c) return;
        into.Add(new Measurement(c.Concept, value, c.Unit) { Id = spec.Id, Name = spec.Name, Labels = labels, Lesion = lesion, Modifiers = c.Modifiers, Geometry = geometry });
    }

    /// <summary>A longest diameter as the line between its end points (none for a region of one voxel).</summary>
    public static SpatialCoordinates? Line(MedAiNode.Imaging.Morphology.DiameterEnds? ends) =>
        ends is null ? null : SpatialCoordinates.Line(ends.A.X, ends.A.Y, ends.A.Z, ends.B.X, ends.B.Y, ends.B.Z);

    /// <summary>
    /// Volume, mean or percentage below a threshold of each region, all in one pass over the grid that jumps over voxels
    /// no region counts (background, mostly) with a vectorised search. Each region accumulates in index order, so sums
    /// are exactly those of a pass per region.
    /// </summary>
    public static double[] Count<T>(LabelVolume labels, VoxelVolume<T> values, IReadOnlyList<(MeasurementSpec Spec, int[] Labels)> regions)
        where T : unmanaged, INumberBase<T>
    {
        var counts = new RegionCounts<T>(labels, regions);
        counts.Add(labels.Data, values.Data);
        return counts.Result();
    }

    /// <summary>As above, with the values read by <paramref name="readPlanes"/> (z0, count, into) a few planes at a time
    /// into one buffer; planes with no counted voxel are not read.</summary>
    public static double[] Count<T>(LabelVolume labels, Action<int, int, T[]> readPlanes, IReadOnlyList<(MeasurementSpec Spec, int[] Labels)> regions)
        where T : unmanaged, INumberBase<T>
    {
        var counts = new RegionCounts<T>(labels, regions);
        var d = labels.Dims;
        var plane = d.X * d.Y;
        // About 2 M values a read (4 MiB of int16): enough planes for the decoder to use every core.
        var step = Math.Clamp((1 << 21) / plane, 1, d.Z);
        T[]? buffer = null;
        for (var z0 = 0; z0 < d.Z && counts.Any; z0 += step)
        {
            var n = Math.Min(step, d.Z - z0);
            var part = labels.Data.AsSpan(z0 * plane, n * plane);
            if (!counts.Counts(part)) continue;
            buffer ??= new T[step * plane];
            readPlanes(z0, n, buffer);
            counts.Add(part, buffer.AsSpan(0, n * plane));
        }
        return counts.Result();
    }

    /// <summary>The sums of <see cref="Count{T}(LabelVolume, VoxelVolume{T}, IReadOnlyList{ValueTuple{MeasurementSpec, int[]}})"/>,
    /// added part by part in index order.</summary>
    private sealed class RegionCounts<T> where T : unmanaged, INumberBase<T>
    {
        private readonly LabelVolume _labels;
        private readonly IReadOnlyList<(MeasurementSpec Spec, int[] Labels)> _regions;
        private readonly List<int>[] _of = new List<int>[256];
        private readonly System.Buffers.SearchValues<byte>? _search;
        private readonly long[] _n, _below;
        private readonly double[] _sum;

        public RegionCounts(LabelVolume labels, IReadOnlyList<(MeasurementSpec Spec, int[] Labels)> regions)
        {
            (_labels, _regions) = (labels, regions);
            var wanted = new List<byte>();
            for (var r = 0; r < regions.Count; r++)
            foreach (var l in regions[r].Labels)
            {
                if (_of[l] is null) { _of[l] = []; wanted.Add((byte)l); }
                if (!_of[l].Contains(r)) _of[l].Add(r);
            }
            if (wanted.Count > 0) _search = System.Buffers.SearchValues.Create(wanted.ToArray());
            _n = new long[regions.Count]; _below = new long[regions.Count]; _sum = new double[regions.Count];
        }

        /// <summary>Whether any region counts any voxel at all.</summary>
        public bool Any => _search is not null;

        /// <summary>Whether a region counts a voxel of <paramref name="labels"/>.</summary>
        public bool Counts(ReadOnlySpan<byte> labels) => _search is not null && labels.IndexOfAny(_search) >= 0;

        /// <summary>Adds the voxels of the next part of the grid (labels and their values, index for index).</summary>
        public void Add(ReadOnlySpan<byte> labels, ReadOnlySpan<T> values)
        {
            if (_search is null) return;
            for (var i = 0; i < labels.Length;)
            {
                var next = labels[i..].IndexOfAny(_search);
                if (next < 0) break;
                i += next;
                var value = float.CreateTruncating(values[i]); // float values as they are; int16 (HU) exactly
                foreach (var r in _of[labels[i]])
                {
                    _n[r]++;
                    _sum[r] += value;
                    if (value < _regions[r].Spec.Threshold) _below[r]++;
                }
                i++;
            }
        }

        public double[] Result()
        {
            var result = new double[_regions.Count];
            for (var r = 0; r < _regions.Count; r++)
                result[r] = _regions[r].Spec.Kind switch
                {
                    MeasurementKind.Volume => _n[r] * _labels.VoxelVolumeMm3 / 1000.0,
                    MeasurementKind.MeanValue => _n[r] == 0 ? double.NaN : _sum[r] / _n[r],
                    MeasurementKind.PercentBelow => _n[r] == 0 ? double.NaN : 100.0 * _below[r] / _n[r],
                    _ => double.NaN,
                };
            return result;
        }
    }
}
