using MedAiNode.Imaging.Geometry;
using MedAiNode.Imaging.Volumes;
using MedAiNode.Results;

namespace MedAiNode.Analysis;

/// <summary>The label volume onto the source images, for the SEG: each frame lies exactly on its source slice.</summary>
public static class LabelProjection
{
    /// <summary>Samples the label volume (nearest neighbour) at each pixel centre of each source slice, in that slice's own plane,
    /// so tilted and unevenly spaced series get frames that lie exactly on their source images.</summary>
    public static LabelMap OntoSourceSlices(LabelVolume labels, SourceSeries source, IReadOnlySet<byte>? keep = null) =>
        OntoSourceSlices(labels, source, keep, sharePlanes: true);

    /// <summary>As the public overload; <paramref name="sharePlanes"/> false always samples (tests compare the two).</summary>
    internal static LabelMap OntoSourceSlices(LabelVolume labels, SourceSeries source, IReadOnlySet<byte>? keep, bool sharePlanes)
    {
        var keeps = new bool[256];
        for (var v = 1; v < 256; v++) keeps[v] = keep is null || keep.Contains((byte)v);
        var inv = labels.Affine.Inverse();
        var (nx, ny, nz) = (labels.Dims.X, labels.Dims.Y, labels.Dims.Z);
        var data = labels.Data;
        var images = source.Images;
        if (sharePlanes && PlaneOfEachImage(labels, source) is { } planes && OnlyKept(data, keeps))
        {
            // The usual case, an axial series assembled without regridding: each source image is exactly one plane of
            // the volume, so its frame is that plane, shared rather than copied (for 300 slices of 512x512, 75 MiB less
            // at the results stage). Sampling would give the same bytes.
            var shared = new LabelMap();
            var plane = nx * ny;
            for (var i = 0; i < images.Count; i++)
            {
                var frame = data.AsMemory(planes[i] * plane, plane);
                if (frame.Span.ContainsAnyExcept((byte)0)) shared.Set(images[i].SopInstanceUid, frame);
            }
            return shared;
        }
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

    /// <summary>
    /// For each source image, the volume plane whose voxel (column, row) is the image's pixel (column, row), when every
    /// image is one: the same size, its pixel steps the volume's x and y steps, its first pixel on a plane's first voxel.
    /// The tolerances keep every pixel far (more than 0.4 voxel) from a rounding boundary, so sampling would read
    /// exactly these voxels. Null otherwise (tilted, regridded, reoriented or cropped series are sampled).
    /// </summary>
    private static int[]? PlaneOfEachImage(LabelVolume labels, SourceSeries source)
    {
        var inv = labels.Affine.Inverse();
        var (nx, ny, nz) = (labels.Dims.X, labels.Dims.Y, labels.Dims.Z);
        if ((long)nx * ny * nz > int.MaxValue) return null; // a plane's offset must fit a Memory<byte>
        var planes = new int[source.Images.Count];
        for (var i = 0; i < planes.Length; i++)
        {
            var img = source.Images[i];
            if (img.Columns != nx || img.Rows != ny) return null;
            var origin = img.PixelToPatient(0, 0);
            var o = inv.Apply(new Vec3(origin[0], origin[1], origin[2]));
            var c = inv.Apply(ToVec(img.PixelToPatient(0, 1)));
            var r = inv.Apply(ToVec(img.PixelToPatient(1, 0)));
            var z = (int)Math.Round(o.Z);
            const double atCorner = 0.01, perStep = 1e-6; // 0.01 + 2 * 1e-6 * (up to 4096 pixels) < 0.02 voxel
            if (z < 0 || z >= nz || Math.Abs(o.X) > atCorner || Math.Abs(o.Y) > atCorner || Math.Abs(o.Z - z) > atCorner) return null;
            if (Math.Abs(c.X - o.X - 1) > perStep || Math.Abs(c.Y - o.Y) > perStep || Math.Abs(c.Z - o.Z) > perStep) return null;
            if (Math.Abs(r.X - o.X) > perStep || Math.Abs(r.Y - o.Y - 1) > perStep || Math.Abs(r.Z - o.Z) > perStep) return null;
            if (Math.Max(img.Columns, img.Rows) > 4096) return null;
            planes[i] = z;
        }
        return planes;
    }

    /// <summary>Whether every label in the volume is one to keep (the projection drops the others).</summary>
    private static bool OnlyKept(byte[] data, bool[] keeps)
    {
        var dropped = Enumerable.Range(1, 255).Where(v => !keeps[v]).Select(v => (byte)v).ToArray();
        return dropped.Length == 0 || data.AsSpan().IndexOfAny(System.Buffers.SearchValues.Create(dropped)) < 0;
    }

    private static Vec3 ToVec(double[] p) => new(p[0], p[1], p[2]);

    private static double[] Sub(double[] a, double[] b) => [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
    private static Vec3 Sub(Vec3 a, Vec3 b) => new(a.X - b.X, a.Y - b.Y, a.Z - b.Z);
}
