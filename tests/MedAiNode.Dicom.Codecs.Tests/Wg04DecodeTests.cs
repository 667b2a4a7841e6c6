namespace MedAiNode.Dicom.Codecs.Tests;

/// <summary>The NEMA WG04 CT images in every compressed syntax against their uncompressed originals.</summary>
public class Wg04DecodeTests
{
    public static TheoryData<string, string> Lossless() => new()
    {
        { "CT1", "RLE" }, { "CT2", "RLE" },
        { "CT1", "JPLL" }, { "CT2", "JPLL" },
        { "CT1", "JLSL" }, { "CT2", "JLSL" },
        { "CT1", "J2KR" }, { "CT2", "J2KR" },
    };

    [Theory]
    [MemberData(nameof(Lossless))]
    public void Lossless_decodes_bit_identical_to_UNC(string image, string syntax)
    {
        var reference = PixelCompare.Frame(PixelCompare.Wg04(image + "_UNC"));
        var decoded = PixelCompare.Frame(PixelCompare.Wg04(image + "_" + syntax));
        Assert.Equal(512 * 512 * 2, decoded.Length);
        Assert.True(reference.AsSpan().SequenceEqual(decoded), PixelCompare.FirstDifference(reference, decoded));
    }

    [Theory]
    [InlineData("CT1")]
    [InlineData("CT2")]
    public void JpegLs_near_lossless_stays_within_its_bound(string image)
    {
        var reference = PixelCompare.Frame(PixelCompare.Wg04(image + "_UNC"));
        var decoded = PixelCompare.Frame(PixelCompare.Wg04(image + "_JLSN"));
        var max = PixelCompare.MaxDiff16(reference, decoded, signed: true);
        Assert.InRange(max, 1, 4); // lossy (not identical) yet within NEAR
    }

    [Theory]
    [InlineData("CT1", 40.0)] // measured 41.0 dB (peak = the image's dynamic range); the WG04 J2KI files are ~37:1
    [InlineData("CT2", 40.0)] // measured 41.2 dB
    public void Jpeg2000_lossy_meets_stated_psnr(string image, double minPsnr)
    {
        var reference = PixelCompare.Frame(PixelCompare.Wg04(image + "_UNC"));
        var decoded = PixelCompare.Frame(PixelCompare.Wg04(image + "_J2KI"));
        var psnr = PixelCompare.Psnr16(reference, decoded);
        Assert.True(psnr >= minPsnr, $"PSNR {psnr:F2} dB is below {minPsnr} dB");
        Assert.True(double.IsFinite(psnr), "J2KI decoded identical to UNC; the lossy path was not exercised");

        // And exactly what GDCM decodes.
        var raw = Path.Combine(TestData.TempDir("j2ki"), "pixels.raw");
        var r = Tool.Run("gdcmraw", ["-i", PixelCompare.Wg04(image + "_J2KI"), "-o", raw, "-P"]);
        Assert.True(r.ExitCode == 0, "gdcmraw failed: " + r.StdErr);
        Assert.Equal(File.ReadAllBytes(raw), decoded);
    }
}
