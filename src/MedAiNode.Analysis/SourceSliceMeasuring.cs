using MedAiNode.Dicom;
using MedAiNode.Imaging.Series;
using MedAiNode.Inference.Manifests;
using MedAiNode.Results;
using MedAiNode.Results.Segmentation;

namespace MedAiNode.Analysis;

/// <summary>
/// Measures on the voxels the SEG shows: the labels projected onto each received source slice, each pixel standing for
/// pixel spacing x the slice's slab (half-way to its neighbours along the normal; the end slices take their one
/// neighbour's step), exactly as <see cref="SegmentationSummary"/> (`medainode seg-info --source`) counts a SEG.
/// Used when the volume was regridded (uneven steps, a missing slice): then the grid holds interpolated slices the SEG
/// does not have, and volumes, means and percentages on the grid would measure voxels nobody can see.
/// On a regular series the grid is the source slices one to one and the grid measurements stand unchanged.
/// </summary>
public static class SourceSliceMeasuring
{
    /// <summary>Per-image voxel volume (mm^3) by SOP Instance UID, from the source images' positions and pixel spacing.</summary>
    public static Dictionary<string, double> VoxelVolumes(SourceSeries source)
    {
        var normal = source.First.Normal;
        var z = source.Images.Select(i => Dot(i.ImagePositionPatient, normal)).ToList();
        var distinct = new List<double>();
        foreach (var p in z.Order()) if (distinct.Count == 0 || p - distinct[^1] > 1e-3) distinct.Add(p);
        var slab = SegmentationSummary.SlabThicknesses(distinct);
        var result = new Dictionary<string, double>(StringComparer.Ordinal);
        for (var i = 0; i < source.Images.Count; i++)
        {
            var img = source.Images[i];
            var k = distinct.FindIndex(d => Math.Abs(d - z[i]) <= 1e-3);
            var thickness = double.IsNaN(slab[k]) ? img.SliceThickness ?? 1.0 : slab[k];
            result[img.SopInstanceUid] = img.PixelSpacing[0] * img.PixelSpacing[1] * thickness;
        }
        return result;
    }

    private static double Dot(double[] a, double[] b) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];

    /// <summary>The result's per-label volumes and means and its counted regions (percent below, unions), measured on the
    /// source slices of <paramref name="map"/>; centroids, longest diameters and lesions stay those of the grid.</summary>
    public static AnalysisResult Remeasure(AnalysisResult result, LabelMap map, SourceSeries source, IReadOnlyList<FrameInfo> frames, IDicomFrameDecoder? decoder)
    {
        var m = result.Model;
        var voxel = VoxelVolumes(source);
        var byUid = frames.Where(f => f.FrameIndex == 0).GroupBy(f => f.SopInstanceUid).ToDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal);
        // One pass, one decoded slice at a time (a regridded series may have hundreds): per label its voxel count,
        // volume, HU-weighted volume and, for each threshold a measurement uses, the volume below it. Any union of
        // labels is then a sum of these, so no slice is kept or decoded twice.
        var thresholds = m.EffectiveMeasurements.Where(x => x.Kind == MeasurementKind.PercentBelow).Select(x => x.Threshold).Distinct().ToArray();
        var n = new long[256]; var mm3 = new double[256]; var weighted = new double[256];
        var below = thresholds.Select(_ => new double[256]).ToArray();
        float[]? hu = null;
        foreach (var img in source.Images)
        {
            if (!map.TryGet(img.SopInstanceUid, out var labelMemory)) continue;
            var frame = byUid[img.SopInstanceUid];
            if (hu is null || hu.Length != frame.Rows * frame.Columns) hu = new float[frame.Rows * frame.Columns];
            VolumeAssembler.DecodeInto(frame, hu, decoder);
            var v = voxel[img.SopInstanceUid];
            var l = labelMemory.Span;
            for (var p = 0; p < l.Length; p++)
            {
                var label = l[p];
                if (label == 0) continue;
                n[label]++; mm3[label] += v; weighted[label] += hu[p] * v;
                for (var t = 0; t < thresholds.Length; t++) if (hu[p] < thresholds[t]) below[t][label] += v;
            }
        }
        var stats = result.LabelStatistics.Select(s => s with
        {
            Statistics = s.Statistics with
            {
                VoxelCount = n[s.Label],
                VolumeMl = mm3[s.Label] / 1000.0,
                MeanValue = n[s.Label] == 0 ? null : weighted[s.Label] / mm3[s.Label],
            },
        }).ToList();

        double[] Count(IReadOnlyList<(MeasurementSpec Spec, int[] Labels)> regions) => regions.Select(r =>
        {
            var labels = r.Labels.Distinct().ToArray();
            var volume = labels.Sum(l => mm3[l]);
            return r.Spec.Kind switch
            {
                MeasurementKind.Volume => volume / 1000.0,
                MeasurementKind.MeanValue => volume == 0 ? double.NaN : labels.Sum(l => weighted[l]) / volume,
                MeasurementKind.PercentBelow => volume == 0 ? double.NaN : 100.0 * labels.Sum(l => below[Array.IndexOf(thresholds, r.Spec.Threshold)][l]) / volume,
                _ => double.NaN,
            };
        }).ToArray();

        return result with
        {
            LabelStatistics = stats,
            Measurements = Measuring.Measure(m, stats, result.Lesions, Count),
        };
    }
}
