using System.Numerics;
using System.Globalization;
using MedAiNode.Imaging.Volumes;

namespace MedAiNode.Imaging.Morphology;

/// <summary>
/// What a CT volume shows, from its content, for routing a series whose Body Part Examined is missing: a head (soft
/// tissue enclosed by the skull) or a chest (aerated lung inside the body). Values in HU.
/// </summary>
public sealed record BodyRegionEvidence(double IntracranialMl, double AeratedLungMl)
{
    /// <summary>Enough brain-density tissue inside a closed skull ring for a head (a brain is 1,100 to 1,500 mL).</summary>
    public const double MinIntracranialMl = 300;
    /// <summary>Enough air of lung density inside the body for a chest (one lung is over 1,000 mL; sinuses and mastoids a few tens).</summary>
    public const double MinAeratedLungMl = 300;

    public bool IsHead => IntracranialMl >= MinIntracranialMl && AeratedLungMl < MinAeratedLungMl;
    public bool IsChest => AeratedLungMl >= MinAeratedLungMl;

    public bool Shows(string region) => region.ToUpperInvariant() switch
    {
        "HEAD" => IsHead,
        "CHEST" => IsChest,
        _ => throw new ArgumentException($"Unknown body region '{region}' (head or chest).", nameof(region)),
    };

    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"intracranial tissue {IntracranialMl:0} mL (a head needs {MinIntracranialMl:0}), aerated lung {AeratedLungMl:0} mL (a chest needs {MinAeratedLungMl:0})");
}

public static class BodyRegion
{
    /// <summary>
    /// Voxels enclosed by bone (at or above <paramref name="boneValue"/>) in their slice (third grid axis), gaps up to
    /// <paramref name="closeMm"/> closed; the bone itself is not inside. For a head CT: the cranial cavity.
    /// </summary>
    public static byte[] EnclosedByBone<T>(VoxelVolume<T> v, double boneValue, double closeMm) where T : unmanaged, INumberBase<T>
    {
        var d = v.Dims;
        var data = v.Data;
        var bone = new byte[data.Length];
        var b = (float)boneValue;
        for (var i = 0; i < data.Length; i++) if (float.CreateTruncating(data[i]) >= b) bone[i] = 1;
        var spacing = Math.Min(v.Spacing.X, Math.Min(v.Spacing.Y, v.Spacing.Z));
        var r = (int)Math.Ceiling(closeMm / spacing);
        var closed = r > 0 ? BoxMorphology.Erode(BoxMorphology.Dilate(bone, d, r), d, r) : bone;
        var inside = (byte[])closed.Clone();
        BoxMorphology.FillHoles2D(inside, d);
        for (var i = 0; i < inside.Length; i++) if (closed[i] != 0) inside[i] = 0;
        return inside;
    }

    /// <summary>Measures the evidence on a CT volume in HU (any grid; slices along the third axis should be axial).</summary>
    public static BodyRegionEvidence Measure<T>(VoxelVolume<T> ct) where T : unmanaged, INumberBase<T>
    {
        var d = ct.Dims;
        var data = ct.Data;
        var voxelMl = ct.Spacing.X * ct.Spacing.Y * ct.Spacing.Z / 1000.0;
        var inside = EnclosedByBone(ct, 200, 3);
        long brain = 0;
        for (var i = 0; i < data.Length; i++) if (inside[i] != 0 && Hu(data[i]) is > 0 and < 100) brain++;
        // Lung: -950 to -500 HU (parenchyma with its vessels averaged in) inside the body outline; the air around the
        // patient is outside the outline, and bowel or sinus gas is mostly below -950.
        var body = new byte[data.Length];
        for (var i = 0; i < data.Length; i++) if (Hu(data[i]) > -300) body[i] = 1;
        BoxMorphology.FillHoles2D(body, d);
        long lung = 0;
        for (var i = 0; i < data.Length; i++) if (body[i] != 0 && Hu(data[i]) is >= -950 and <= -500) lung++;
        return new BodyRegionEvidence(brain * voxelMl, lung * voxelMl);

        static float Hu(T value) => float.CreateTruncating(value);
    }
}
