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
        // Every labelled slice once, with its HU: (labels, values, voxel mm^3).
        var slices = new List<(ReadOnlyMemory<byte> Labels, float[] Values, double Mm3)>();
        foreach (var img in source.Images)
        {
            if (!map.TryGet(img.SopInstanceUid, out var labels)) continue;
            var frame = byUid[img.SopInstanceUid];
            var hu = new float[frame.Rows * frame.Columns];
            VolumeAssembler.DecodeInto(frame, hu, decoder);
            slices.Add((labels, hu, voxel[img.SopInstanceUid]));
        }

        var n = new long[256]; var mm3 = new double[256]; var sum = new double[256];
        foreach (var (labels, values, v) in slices)
        {
            var l = labels.Span;
            for (var p = 0; p < l.Length; p++)
            {
                if (l[p] == 0) continue;
                n[l[p]]++; mm3[l[p]] += v; sum[l[p]] += values[p] * v;
            }
        }
        var stats = result.LabelStatistics.Select(s => s with
        {
            Statistics = s.Statistics with
            {
                VoxelCount = n[s.Label],
                VolumeMl = mm3[s.Label] / 1000.0,
                MeanValue = n[s.Label] == 0 ? null : sum[s.Label] / mm3[s.Label],
            },
        }).ToList();

        double[] Count(IReadOnlyList<(MeasurementSpec Spec, int[] Labels)> regions)
        {
            var values = new double[regions.Count];
            for (var r = 0; r < regions.Count; r++)
            {
                var (spec, over) = regions[r];
                var inRegion = new bool[256];
                foreach (var l in over) inRegion[l] = true;
                double volume = 0, weighted = 0, below = 0;
                foreach (var (labels, hu, v) in slices)
                {
                    var l = labels.Span;
                    for (var p = 0; p < l.Length; p++)
                    {
                        if (!inRegion[l[p]]) continue;
                        volume += v; weighted += hu[p] * v;
                        if (hu[p] < spec.Threshold) below += v;
                    }
                }
                values[r] = spec.Kind switch
                {
                    MeasurementKind.Volume => volume / 1000.0,
                    MeasurementKind.MeanValue => volume == 0 ? double.NaN : weighted / volume,
                    MeasurementKind.PercentBelow => volume == 0 ? double.NaN : 100.0 * below / volume,
                    _ => double.NaN,
                };
            }
            return values;
        }

        return result with
        {
            LabelStatistics = stats,
            Measurements = Measuring.Measure(m, stats, result.Lesions, Count),
        };
    }
}
