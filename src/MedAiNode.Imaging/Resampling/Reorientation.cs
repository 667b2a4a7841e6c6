using MedAiNode.Imaging.Geometry;
using MedAiNode.Imaging.Volumes;

namespace MedAiNode.Imaging.Resampling;

/// <summary>
/// Axis codes as in ITK/DICOM (LPS letters name the direction each index axis points to): "LPS" means +x towards patient
/// left, +y posterior, +z superior. NIfTI tools say "RAS" for what is the same data with x and y negated.
/// </summary>
public static class Reorientation
{
    public static string OrientationCode(Affine a)
    {
        var assign = Assign([a.DirectionX, a.DirectionY, a.DirectionZ]);
        return new string(assign.Select(w => w.World switch { 0 => w.Sign > 0 ? 'L' : 'R', 1 => w.Sign > 0 ? 'P' : 'A', _ => w.Sign > 0 ? 'S' : 'I' }).ToArray());
    }

    /// <summary>Pairs each index axis with a distinct world axis, largest cosine first (as nibabel's io_orientation does).</summary>
    private static (int World, int Sign)[] Assign(Vec3[] dirs)
    {
        var result = new (int, int)[3];
        var axisUsed = new bool[3]; var worldUsed = new bool[3];
        for (var round = 0; round < 3; round++)
        {
            int ba = -1, bw = -1; var best = -1.0;
            for (var a = 0; a < 3; a++)
            for (var w = 0; w < 3; w++)
                if (!axisUsed[a] && !worldUsed[w] && Math.Abs(dirs[a][w]) > best) { best = Math.Abs(dirs[a][w]); ba = a; bw = w; }
            axisUsed[ba] = worldUsed[bw] = true;
            result[ba] = (bw, dirs[ba][bw] >= 0 ? 1 : -1);
        }
        return result;
    }

    /// <summary>Permutes and flips axes (no interpolation) so the index axes point as close as possible to <paramref name="code"/>.</summary>
    public static Volume Reorient(Volume v, string code) => Apply<Volume, float>(v, code, (d, a, data) => new Volume(d, a, data));

    public static HuVolume Reorient(HuVolume v, string code) => Apply<HuVolume, short>(v, code, (d, a, data) => new HuVolume(d, a, data));

    public static LabelVolume Reorient(LabelVolume v, string code) => Apply<LabelVolume, byte>(v, code, (d, a, data) => new LabelVolume(d, a, data));

    /// <summary>
    /// True when <see cref="Reorient(Volume, string)"/> would only copy: the index axes already point as
    /// <paramref name="code"/> says (no permutation, no flip), so callers can skip a whole-volume copy.
    /// </summary>
    public static bool IsOriented(Affine affine, string code)
    {
        var (perm, flip) = Plan(affine, code);
        return perm is [0, 1, 2] && !flip[0] && !flip[1] && !flip[2];
    }

    /// <summary>Which input axis each output axis takes, and whether it runs backwards.</summary>
    private static (int[] Perm, bool[] Flip) Plan(Affine affine, string code)
    {
        code = code.ToUpperInvariant();
        if (code.Length != 3) throw new ArgumentException($"Orientation code '{code}' must have three letters like LPS or RAS.", nameof(code));
        if (code.Select(c => "LR".Contains(c) ? 0 : "PA".Contains(c) ? 1 : 2).Distinct().Count() != 3)
            throw new ArgumentException($"Orientation code '{code}' repeats an axis.", nameof(code));
        var assign = Assign([affine.Col0.Normalized(), affine.Col1.Normalized(), affine.Col2.Normalized()]);
        var perm = new int[3]; var flip = new bool[3];
        for (var outAxis = 0; outAxis < 3; outAxis++)
        {
            var (want, sign) = code[outAxis] switch
            {
                'L' => (0, 1), 'R' => (0, -1), 'P' => (1, 1), 'A' => (1, -1), 'S' => (2, 1), 'I' => (2, -1),
                _ => throw new ArgumentException($"Orientation code '{code}' has an unknown letter '{code[outAxis]}'.", nameof(code)),
            };
            var from = Array.FindIndex(assign, x => x.World == want);
            perm[outAxis] = from; flip[outAxis] = assign[from].Sign != sign;
        }
        return (perm, flip);
    }

    private static TV Apply<TV, T>(TV v, string code, Func<Dims, Affine, T[], TV> make) where TV : VoxelVolume<T> where T : unmanaged
    {
        var (perm, flip) = Plan(v.Affine, code);
        Vec3[] cols = [v.Affine.Col0, v.Affine.Col1, v.Affine.Col2];
        var sd = v.Dims;
        var nd = new Dims(sd[perm[0]], sd[perm[1]], sd[perm[2]]);
        var newCols = new Vec3[3];
        var origin = v.Affine.Origin;
        for (var a = 0; a < 3; a++)
        {
            newCols[a] = flip[a] ? -cols[perm[a]] : cols[perm[a]];
            if (flip[a]) origin += cols[perm[a]] * (sd[perm[a]] - 1);
        }
        var data = new T[v.Data.LongLength];
        var src = v.Data;
        Parallel.For(0, nd.Z, k =>
        {
            Span<int> s = stackalloc int[3];
            Span<int> o = stackalloc int[3];
            for (var j = 0; j < nd.Y; j++)
            for (var i = 0; i < nd.X; i++)
            {
                o[0] = i; o[1] = j; o[2] = k;
                for (var a = 0; a < 3; a++) s[perm[a]] = flip[a] ? sd[perm[a]] - 1 - o[a] : o[a];
                data[nd.Index(i, j, k)] = src[sd.Index(s[0], s[1], s[2])];
            }
        });
        return make(nd, new Affine(origin, newCols[0], newCols[1], newCols[2]), data);
    }
}
