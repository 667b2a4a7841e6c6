using MedAiNode.Inference.Postprocessing;
using MedAiNode.Results;

namespace MedAiNode.Analysis;

/// <summary>
/// Each region's long axis on one source image, as the SEG shows it (the label map projected onto the source slices):
/// the longest distance between two pixel centres of the region in that image's plane. For a segment, on the slice where
/// its area is largest (the summary's "largest area" key slice); for a lesion, on the slice where this in-plane axis is
/// longest (as RECIST measures a lesion), over the lesion's own voxels: the connected part of its label around its
/// centroid, within its 3D longest diameter of it. The SR writes it as a 2D SCOORD on that image, which viewers that
/// draw only image coordinates (OHIF's measurement panel among them) can show and jump to.
/// </summary>
public static class KeySliceAxes
{
    /// <summary>The groups with <see cref="MeasurementGroup.KeySliceLongAxis"/> set on each one-segment group and lesion
    /// group whose region has at least two pixels on some slice; groups over several segments are returned unchanged.</summary>
    /// <param name="lesions">The lesions the groups number, in the order the analysis numbered them per label (lesion n of
    /// a label is the n-th of that label here).</param>
    public static List<MeasurementGroup> Add(IReadOnlyList<MeasurementGroup> groups, LabelMap labels, SourceSeries source, IReadOnlyList<LesionCandidate> lesions)
    {
        var normal = source.First.Normal;
        // Slices in order along the normal: neighbours in this order are neighbours in space (for a lesion's 3D connectivity).
        var order = Enumerable.Range(0, source.Images.Count).OrderBy(i => Dot(source.Images[i].ImagePositionPatient, normal)).ToArray();
        var perLabel = lesions.GroupBy(l => l.Label).ToDictionary(g => g.Key, g => g.ToList());
        long[,]? area = null;
        return groups.Select(g =>
        {
            if (g.SegmentNumber is not { } label) return g;
            KeySliceLongAxis? axis;
            if (g.LesionNumber is { } n)
                axis = perLabel.TryGetValue(label, out var list) && n >= 1 && n <= list.Count ? OfLesion(list[n - 1], labels, source, order) : null;
            else
            {
                area ??= Areas(labels, source);
                axis = OfSegment(label, area, labels, source);
            }
            return axis is null ? g : g with { KeySliceLongAxis = axis };
        }).ToList();
    }

    private static long[,] Areas(LabelMap labels, SourceSeries source)
    {
        var area = new long[256, source.Images.Count];
        for (var z = 0; z < source.Images.Count; z++)
        {
            if (!labels.TryGet(source.Images[z].SopInstanceUid, out var map)) continue;
            foreach (var l in map.Span) area[l, z]++;
        }
        return area;
    }

    /// <summary>On the slice where the segment's area is largest (the first such slice in series order on a tie).</summary>
    private static KeySliceLongAxis? OfSegment(int label, long[,] area, LabelMap labels, SourceSeries source)
    {
        var best = -1;
        for (var z = 0; z < source.Images.Count; z++)
            if (area[label, z] > 0 && (best < 0 || area[label, z] > area[label, best])) best = z;
        if (best < 0) return null;
        var img = source.Images[best];
        labels.TryGet(img.SopInstanceUid, out var map);
        var span = map.Span;
        var mask = new bool[span.Length];
        for (var p = 0; p < span.Length; p++) mask[p] = span[p] == label;
        return Longest(img, mask);
    }

    /// <summary>The lesion's voxels: from the labelled voxel nearest its centroid, every voxel of its label connected to it
    /// (26-connectivity, slices adjacent along the normal) within its 3D longest diameter of the centroid (no voxel of the
    /// lesion lies farther; a neighbouring lesion of the same label that touches it is cut there). Then the slice where
    /// its in-plane long axis is longest.</summary>
    private static KeySliceLongAxis? OfLesion(LesionCandidate lesion, LabelMap labels, SourceSeries source, int[] order)
    {
        var c = new[] { lesion.CentroidMm.X, lesion.CentroidMm.Y, lesion.CentroidMm.Z };
        var first = source.First;
        var radius = Math.Max(lesion.LongestDiameterMm, 0) + Math.Max(first.PixelSpacing[0], first.PixelSpacing[1]);
        var normal = first.Normal;
        var centre = Dot(c, normal);
        var rows = first.Rows;
        var columns = first.Columns;
        // Per slice (position in `order`) within reach: its mask of voxels of the label within the radius.
        var near = new Dictionary<int, bool[]>();
        for (var k = 0; k < order.Length; k++)
        {
            var img = source.Images[order[k]];
            if (img.Rows != rows || img.Columns != columns) continue;
            if (Math.Abs(Dot(img.ImagePositionPatient, normal) - centre) > radius) continue;
            if (!labels.TryGet(img.SopInstanceUid, out var map)) continue;
            var span = map.Span;
            var (row0, col0) = ToPixel(img, c);
            var dr = radius / img.PixelSpacing[0] + 1;
            var dc = radius / img.PixelSpacing[1] + 1;
            bool[]? mask = null;
            for (var r = Math.Max(0, (int)(row0 - dr)); r <= Math.Min(rows - 1, (int)(row0 + dr)); r++)
                for (var q = Math.Max(0, (int)(col0 - dc)); q <= Math.Min(columns - 1, (int)(col0 + dc)); q++)
                {
                    var p = r * columns + q;
                    if (span[p] != lesion.Label || Distance(img.PixelToPatient(r, q), c) > radius) continue;
                    (mask ??= new bool[rows * columns])[p] = true;
                }
            if (mask is not null) near[k] = mask;
        }
        // Seed: the labelled voxel nearest the centroid.
        (int K, int P) seed = (-1, -1);
        var nearest = double.MaxValue;
        foreach (var (k, mask) in near)
        {
            var img = source.Images[order[k]];
            for (var p = 0; p < mask.Length; p++)
            {
                if (!mask[p]) continue;
                var d = Distance(img.PixelToPatient(p / columns, p % columns), c);
                if (d < nearest) (nearest, seed) = (d, (k, p));
            }
        }
        if (seed.K < 0) return null;
        var own = new Dictionary<int, bool[]>();
        var queue = new Queue<(int K, int P)>();
        void Visit(int k, int p)
        {
            if (!near.TryGetValue(k, out var mask) || !mask[p]) return;
            mask[p] = false;
            (own.TryGetValue(k, out var o) ? o : own[k] = new bool[rows * columns])[p] = true;
            queue.Enqueue((k, p));
        }
        Visit(seed.K, seed.P);
        while (queue.TryDequeue(out var v))
        {
            int r = v.P / columns, q = v.P % columns;
            for (var dk = -1; dk <= 1; dk++)
                for (var dr = -1; dr <= 1; dr++)
                    for (var dq = -1; dq <= 1; dq++)
                    {
                        int rr = r + dr, qq = q + dq;
                        if ((dk | dr | dq) != 0 && rr >= 0 && rr < rows && qq >= 0 && qq < columns) Visit(v.K + dk, rr * columns + qq);
                    }
        }
        KeySliceLongAxis? best = null;
        foreach (var (k, mask) in own.OrderBy(o => o.Key))
            if (Longest(source.Images[order[k]], mask) is { } axis && (best is null || axis.LengthMm > best.LengthMm)) best = axis;
        return best;
    }

    /// <summary>The farthest pair of pixel centres of the mask (on the convex hull of its boundary pixels, in mm); null
    /// for fewer than two pixels.</summary>
    private static KeySliceLongAxis? Longest(SourceImage img, bool[] mask)
    {
        int rows = img.Rows, columns = img.Columns;
        double dr = img.PixelSpacing[0], dc = img.PixelSpacing[1];
        var edge = new List<(double X, double Y, int R, int C)>();
        for (var r = 0; r < rows; r++)
            for (var q = 0; q < columns; q++)
            {
                if (!mask[r * columns + q]) continue;
                var inside = r > 0 && r < rows - 1 && q > 0 && q < columns - 1
                    && mask[(r - 1) * columns + q] && mask[(r + 1) * columns + q] && mask[r * columns + q - 1] && mask[r * columns + q + 1];
                if (!inside) edge.Add((q * dc, r * dr, r, q));
            }
        if (edge.Count < 2) return null;
        var hull = Hull(edge);
        double bestD = -1;
        (int R, int C) a = default, b = default;
        for (var i = 0; i < hull.Count; i++)
            for (var j = i + 1; j < hull.Count; j++)
            {
                double dx = hull[i].X - hull[j].X, dy = hull[i].Y - hull[j].Y, d = dx * dx + dy * dy;
                if (d > bestD) (bestD, a, b) = (d, (hull[i].R, hull[i].C), (hull[j].R, hull[j].C));
            }
        if (bestD <= 0) return null;
        // SCOORD image coordinates: a pixel's centre is half a pixel in from its top left corner.
        return new KeySliceLongAxis(img.SopInstanceUid, a.C + 0.5, a.R + 0.5, b.C + 0.5, b.R + 0.5, Math.Sqrt(bestD));
    }

    /// <summary>Andrew's monotone chain; collinear points dropped.</summary>
    private static List<(double X, double Y, int R, int C)> Hull(List<(double X, double Y, int R, int C)> points)
    {
        var p = points.OrderBy(v => v.X).ThenBy(v => v.Y).ToList();
        if (p.Count < 3) return p;
        var h = new List<(double X, double Y, int R, int C)>(2 * p.Count);
        static double Cross((double X, double Y, int R, int C) o, (double X, double Y, int R, int C) a, (double X, double Y, int R, int C) b) =>
            (a.X - o.X) * (b.Y - o.Y) - (a.Y - o.Y) * (b.X - o.X);
        foreach (var v in p)
        {
            while (h.Count >= 2 && Cross(h[^2], h[^1], v) <= 0) h.RemoveAt(h.Count - 1);
            h.Add(v);
        }
        var lower = h.Count + 1;
        for (var i = p.Count - 2; i >= 0; i--)
        {
            while (h.Count >= lower && Cross(h[^2], h[^1], p[i]) <= 0) h.RemoveAt(h.Count - 1);
            h.Add(p[i]);
        }
        h.RemoveAt(h.Count - 1);
        return h;
    }

    /// <summary>(row, column) of a patient point projected onto the image's plane.</summary>
    private static (double Row, double Column) ToPixel(SourceImage img, double[] xyz)
    {
        var o = img.ImageOrientationPatient;
        var p = img.ImagePositionPatient;
        double[] d = [xyz[0] - p[0], xyz[1] - p[1], xyz[2] - p[2]];
        return ((d[0] * o[3] + d[1] * o[4] + d[2] * o[5]) / img.PixelSpacing[0], (d[0] * o[0] + d[1] * o[1] + d[2] * o[2]) / img.PixelSpacing[1]);
    }

    private static double Distance(double[] a, double[] b) => Math.Sqrt((a[0] - b[0]) * (a[0] - b[0]) + (a[1] - b[1]) * (a[1] - b[1]) + (a[2] - b[2]) * (a[2] - b[2]));

    private static double Dot(double[] a, double[] b) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
}
