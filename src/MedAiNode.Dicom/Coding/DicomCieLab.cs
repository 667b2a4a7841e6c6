namespace MedAiNode.Dicom;

/// <summary>
/// CIELab as DICOM stores it: L*, a*, b* scaled to 0..65535 (PS3.3 C.10.7.1.1). From sRGB through XYZ with the D65
/// white point, as DCMTK's dcmiod and the dcmjs/OHIF colour utilities turn it back, so a viewer shows the colour given.
/// </summary>
public readonly record struct DicomCieLab(ushort L, ushort A, ushort B)
{
    /// <summary>From L* in 0..100 and a*, b* in -128..127.</summary>
    public static DicomCieLab FromLab(double l, double a, double b) => new(
        (ushort)Math.Round(Math.Clamp(l, 0, 100) * 65535 / 100),
        (ushort)Math.Round((Math.Clamp(a, -128, 127) + 128) * 65535 / 255),
        (ushort)Math.Round((Math.Clamp(b, -128, 127) + 128) * 65535 / 255));

    /// <summary>From sRGB 0..255 (D65), the way viewers turn it back.</summary>
    public static DicomCieLab FromRgb(byte r, byte g, byte b)
    {
        static double Lin(byte c) { var v = c / 255.0; return v <= 0.04045 ? v / 12.92 : Math.Pow((v + 0.055) / 1.055, 2.4); }
        double rl = Lin(r), gl = Lin(g), bl = Lin(b);
        // sRGB to XYZ with the full-precision matrix, whose rows sum to the D65 white point (so white maps to a* = b* = 0).
        var x = (0.4124564 * rl + 0.3575761 * gl + 0.1804375 * bl) / 0.95047;
        var y = 0.2126729 * rl + 0.7151522 * gl + 0.0721750 * bl;
        var z = (0.0193339 * rl + 0.1191920 * gl + 0.9503041 * bl) / 1.08883;
        static double F(double t) => t > 216.0 / 24389 ? Math.Cbrt(t) : (24389.0 / 27 * t + 16) / 116;
        return FromLab(116 * F(y) - 16, 500 * (F(x) - F(y)), 200 * (F(y) - F(z)));
    }
}
