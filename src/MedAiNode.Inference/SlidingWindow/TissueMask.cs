using MedAiNode.Imaging.Morphology;
using MedAiNode.Imaging.Volumes;
using MedAiNode.Inference.Manifests;

namespace MedAiNode.Inference.SlidingWindow;

/// <summary>The voxels whose tiles are worth running (<see cref="TissueTileSpec"/>), on the model grid before normalisation.</summary>
public static class TissueMask
{
    public static byte[] Compute(Volume v, TissueTileSpec spec)
    {
        var d = v.Dims;
        var data = v.Data;
        var mask = new byte[data.Length];
        float lo = (float)spec.MinValue, hi = (float)spec.MaxValue;
        Parallel.For(0, d.Z, z =>
        {
            var from = (int)(z * (long)d.X * d.Y);
            var to = from + d.X * d.Y;
            for (var i = from; i < to; i++) if (data[i] > lo && data[i] < hi) mask[i] = 1;
        });
        if (spec.InsideBoneValue is not { } boneValue) return mask;
        // Enclosed by bone: the skull, its sutures and thin spots closed, filled slice by slice. A slice where the ring
        // stays open (skull base, foramen magnum) keeps nothing: the slices above and below it still hold the brain.
        var inside = BodyRegion.EnclosedByBone(v, boneValue, spec.CloseMm);
        for (var i = 0; i < mask.Length; i++) if (inside[i] == 0) mask[i] = 0;
        return mask;
    }

    /// <summary>Whether the box [s, s + size) (clipped to the grid) holds a set voxel.</summary>
    public static bool Any(byte[] mask, Dims d, (int X, int Y, int Z) s, Dims size)
    {
        int x1 = Math.Min(d.X, s.X + size.X), y1 = Math.Min(d.Y, s.Y + size.Y), z1 = Math.Min(d.Z, s.Z + size.Z);
        var x0 = Math.Max(0, s.X);
        if (x1 <= x0) return false;
        for (var z = Math.Max(0, s.Z); z < z1; z++)
        for (var y = Math.Max(0, s.Y); y < y1; y++)
            if (mask.AsSpan(checked((int)d.Index(x0, y, z)), x1 - x0).IndexOfAnyExcept((byte)0) >= 0) return true;
        return false;
    }
}
