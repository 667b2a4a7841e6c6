using MedAiNode.Imaging.Volumes;

namespace MedAiNode.Imaging.Morphology;

/// <summary>
/// Morphology by a Euclidean ball in mm, through the exact squared distance transform (Felzenszwalb and Huttenlocher's
/// separable lower envelope): linear in the voxel count, round whatever the radius, and right on anisotropic grids.
/// </summary>
public static class BallMorphology
{
    public static byte[] Close(byte[] mask, Dims d, (double X, double Y, double Z) spacing, double radiusMm)
    {
        var r2 = radiusMm * radiusMm;
        var toMask = SquaredDistance(mask, d, spacing, to: 1);
        var dilated = new byte[mask.Length];
        for (var i = 0; i < mask.Length; i++) dilated[i] = toMask[i] <= r2 ? (byte)1 : (byte)0;
        // Outside the grid is not background here: a lung cut by the field of view is not eroded from the cut.
        var toOutside = SquaredDistance(dilated, d, spacing, to: 0);
        var closed = new byte[mask.Length];
        for (var i = 0; i < mask.Length; i++) closed[i] = toOutside[i] > r2 ? (byte)1 : (byte)0;
        return closed;
    }

    /// <summary>Squared distance in mm² from each voxel to the nearest voxel whose mask value is <paramref name="to"/> (0 or 1).</summary>
    public static float[] SquaredDistance(byte[] mask, Dims d, (double X, double Y, double Z) spacing, byte to)
    {
        var f = new float[mask.Length];
        for (var i = 0; i < f.Length; i++) f[i] = (mask[i] != 0 ? 1 : 0) == to ? 0f : Far;
        Pass(f, d, 0, (float)(spacing.X * spacing.X));
        Pass(f, d, 1, (float)(spacing.Y * spacing.Y));
        Pass(f, d, 2, (float)(spacing.Z * spacing.Z));
        return f;
    }

    private const float Far = 1e12f;

    private static void Pass(float[] f, Dims d, int axis, float w)
    {
        int len = d[axis], stride = axis == 0 ? 1 : axis == 1 ? d.X : d.X * d.Y;
        var lines = f.Length / len;
        // Double inside a line: "far" (1e12) plus a few hundred mm² must still compare right.
        Parallel.For(0, lines, () => (new double[len], new double[len], new int[len], new double[len + 1]), (line, _, buf) =>
        {
            var (src, dst, v, z) = buf;
            var start = axis switch { 0 => line * d.X, 1 => line / d.X * d.X * d.Y + line % d.X, _ => line };
            for (var k = 0; k < len; k++) src[k] = f[start + k * stride];
            // Lower envelope of the parabolas w*(q - p)^2 + src[p].
            double Meet(int q, int p) => ((src[q] + w * (double)q * q) - (src[p] + w * (double)p * p)) / (2.0 * w * (q - p));
            var j = 0;
            v[0] = 0; z[0] = double.NegativeInfinity; z[1] = double.PositiveInfinity;
            for (var q = 1; q < len; q++)
            {
                var s = Meet(q, v[j]);
                while (s <= z[j]) { j--; s = Meet(q, v[j]); }
                j++;
                v[j] = q; z[j] = s; z[j + 1] = double.PositiveInfinity;
            }
            j = 0;
            for (var q = 0; q < len; q++)
            {
                while (z[j + 1] < q) j++;
                var p = v[j];
                dst[q] = w * (double)(q - p) * (q - p) + src[p];
            }
            for (var k = 0; k < len; k++) f[start + k * stride] = (float)Math.Min(dst[k], Far);
            return buf;
        }, _ => { });
    }
}

/// <summary>Separable box morphology and slice-wise hole filling, linear in the voxel count whatever the radius.</summary>
public static class BoxMorphology
{
    /// <summary>Dilation by a (2r+1)^3 cube; outside the grid is background.</summary>
    public static byte[] Dilate(byte[] mask, Dims d, int r)
    {
        var a = Pass(mask, d, r, 0, dilate: true);
        a = Pass(a, d, r, 1, dilate: true);
        return Pass(a, d, r, 2, dilate: true);
    }

    /// <summary>Erosion by a (2r+1)^3 cube; outside the grid counts as foreground, so masks cut by the field of view keep their border.</summary>
    public static byte[] Erode(byte[] mask, Dims d, int r)
    {
        var a = Pass(mask, d, r, 0, dilate: false);
        a = Pass(a, d, r, 1, dilate: false);
        return Pass(a, d, r, 2, dilate: false);
    }

    private static byte[] Pass(byte[] src, Dims d, int r, int axis, bool dilate)
    {
        var dst = new byte[src.Length];
        int len = d[axis], stride = axis == 0 ? 1 : axis == 1 ? d.X : d.X * d.Y;
        int lines = src.Length / len;
        Parallel.For(0, lines, line =>
        {
            // The line's first voxel: lines along x start every X, along y every voxel of a z-slab's first row, along z every voxel of the first slice.
            int start = axis switch
            {
                0 => line * d.X,
                1 => line / d.X * d.X * d.Y + line % d.X,
                _ => line,
            };
            // Count of set (dilate) or unset (erode) voxels in the window.
            var hits = 0;
            for (var k = 0; k <= Math.Min(r, len - 1); k++) if ((src[start + k * stride] != 0) == dilate) hits++;
            for (var k = 0; k < len; k++)
            {
                var on = dilate ? hits > 0 : hits == 0;
                dst[start + k * stride] = on ? (byte)1 : (byte)0;
                var add = k + r + 1;
                if (add < len && (src[start + add * stride] != 0) == dilate) hits++;
                var drop = k - r;
                if (drop >= 0 && (src[start + drop * stride] != 0) == dilate) hits--;
            }
        });
        return dst;
    }

    /// <summary>Sets, in each axial slice, what the slice's border cannot reach through unset voxels (4-connected).</summary>
    public static void FillHoles2D(byte[] mask, Dims d)
    {
        var plane = d.X * d.Y;
        Parallel.For(0, d.Z, z =>
        {
            var off = z * plane;
            var reached = new bool[plane];
            var stack = new Stack<int>();
            void Seed(int p) { if (mask[off + p] == 0 && !reached[p]) { reached[p] = true; stack.Push(p); } }
            for (var x = 0; x < d.X; x++) { Seed(x); Seed((d.Y - 1) * d.X + x); }
            for (var y = 0; y < d.Y; y++) { Seed(y * d.X); Seed(y * d.X + d.X - 1); }
            while (stack.Count > 0)
            {
                var p = stack.Pop();
                int y = p / d.X, x = p - y * d.X;
                if (x > 0) Seed(p - 1);
                if (x < d.X - 1) Seed(p + 1);
                if (y > 0) Seed(p - d.X);
                if (y < d.Y - 1) Seed(p + d.X);
            }
            for (var p = 0; p < plane; p++) if (!reached[p]) mask[off + p] = 1;
        });
    }
}
