using MedAiNode.Imaging.Geometry;
using MedAiNode.Imaging.Volumes;
using MedAiNode.Results;

namespace MedAiNode.Analysis;

/// <summary>The label volume onto the source images, for the SEG: each frame lies exactly on its source slice.</summary>
public static class LabelProjection
{
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
}
