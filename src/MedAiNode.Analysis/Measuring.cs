using System.Numerics;
using MedAiNode.Dicom;
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

    /// <summary>As above, with per-label statistics and the counted regions measured by <paramref name="count"/> on any set
    /// of voxels (the input grid, or the source slices the SEG lies on).</summary>
    public static List<Measurement> Measure(ModelManifest m, IReadOnlyList<LabelSummary> stats, IReadOnlyList<LesionCandidate> lesions,
        Func<IReadOnlyList<(MeasurementSpec Spec, int[] Labels)>, double[]> count)
    {
        var present = stats.Where(s => s.Statistics.VoxelCount > 0).ToDictionary(s => s.Label);
        var specs = m.EffectiveMeasurements;
        // Counted regions: a per-label percentage below a threshold, or any measurement over a union of labels.
        var regions = new List<(MeasurementSpec Spec, int[] Labels)>();
        foreach (var spec in specs)
        {
            var over = spec.LabelsIn(m).Where(present.ContainsKey).Distinct().ToArray();
            if (spec.PerLabel)
            {
                if (spec.Kind == MeasurementKind.PercentBelow) regions.AddRange(over.Select(l => (spec, new[] { l })));
            }
            else if (over.Length > 0) regions.Add((spec, over));
        }
        var counted = count(regions);

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
        var of = new List<int>[256];
        var wanted = new List<byte>();
        for (var r = 0; r < regions.Count; r++)
        foreach (var l in regions[r].Labels)
        {
            if (of[l] is null) { of[l] = []; wanted.Add((byte)l); }
            if (!of[l].Contains(r)) of[l].Add(r);
        }
        var n = new long[regions.Count]; var below = new long[regions.Count]; var sum = new double[regions.Count];
        if (wanted.Count > 0)
        {
            var search = System.Buffers.SearchValues.Create(wanted.ToArray());
            var data = labels.Data.AsSpan();
            var v = values.Data;
            for (var i = 0; i < data.Length;)
            {
                var next = data[i..].IndexOfAny(search);
                if (next < 0) break;
                i += next;
                var value = float.CreateTruncating(v[i]); // float values as they are; int16 (HU) exactly
                foreach (var r in of[data[i]])
                {
                    n[r]++;
                    sum[r] += value;
                    if (value < regions[r].Spec.Threshold) below[r]++;
                }
                i++;
            }
        }
        var result = new double[regions.Count];
        for (var r = 0; r < regions.Count; r++)
            result[r] = regions[r].Spec.Kind switch
            {
                MeasurementKind.Volume => n[r] * labels.VoxelVolumeMm3 / 1000.0,
                MeasurementKind.MeanValue => n[r] == 0 ? double.NaN : sum[r] / n[r],
                MeasurementKind.PercentBelow => n[r] == 0 ? double.NaN : 100.0 * below[r] / n[r],
                _ => double.NaN,
            };
        return result;
    }
}
