using System.Runtime.InteropServices;
using MedAiNode.Dicom.IO;

namespace MedAiNode.Dicom.Codecs.Tests;

/// <summary>Files compressed by DCMTK's encoders decode to what DCMTK's decoders (and the originals) say.</summary>
public class DecodeInteropTests
{
    private static (string dir, string src, byte[] original) Prepare(string name)
    {
        var dir = TestData.TempDir("dec-" + name);
        var file = Peers.Source(name);
        var src = Synthetic.Save(file, dir, "src.dcm");
        return (dir, src, Peers.AllFrames(file));
    }

    public static TheoryData<string, string> RleCases() => new()
    {
        { "rgb8", "" }, { "mono8-odd", "" }, { "signed12", "" }, { "unsigned16-3frames", "" }, { "enhanced-ct-2frames", "+fs=8" },
    };

    [Theory]
    [MemberData(nameof(RleCases))]
    public void Dcmcrle_output_decodes_to_the_original(string name, string option)
    {
        var (dir, src, original) = Prepare(name);
        var opts = option.Length == 0 ? Array.Empty<string>() : option.Split('=');
        var rle = Peers.Convert("dcmcrle", src, Path.Combine(dir, "rle.dcm"), opts);
        Assert.Equal(DicomTransferSyntax.RLELossless, rle.TransferSyntax);
        Assert.Equal(original, Peers.AllFrames(rle));
    }

    public static TheoryData<string, int> JpegLosslessCases()
    {
        var d = new TheoryData<string, int>();
        foreach (var sv in Enumerable.Range(1, 7)) { d.Add("wg04-ct1", sv); d.Add("signed12", sv); }
        d.Add("rgb8", 1); d.Add("rgb8", 7); d.Add("mono8-odd", 4); d.Add("unsigned16-3frames", 6); d.Add("unsigned12", 5);
        return d;
    }

    [Theory]
    [MemberData(nameof(JpegLosslessCases))]
    public void Dcmcjpeg_lossless_every_predictor_decodes_to_the_original(string name, int predictor)
    {
        var (dir, src, original) = Prepare(name);
        var jpeg = Peers.Convert("dcmcjpeg", src, Path.Combine(dir, "jpll.dcm"), "+el", "+sv", predictor.ToString());
        Assert.Equal(DicomTransferSyntax.JPEGLossless, jpeg.TransferSyntax);
        var decoded = Peers.AllFrames(jpeg);
        var dcmtk = Peers.AllFrames(Peers.Convert("dcmdjpeg", Path.Combine(dir, "jpll.dcm"), Path.Combine(dir, "dcmdjpeg.dcm")));
        Assert.Equal(dcmtk, decoded);
        Assert.Equal(original, decoded);
    }

    [Fact]
    public void Dcmcjpeg_lossless_with_point_transform_matches_dcmdjpeg()
    {
        var (dir, src, original) = Prepare("wg04-ct1");
        var jpeg = Peers.Convert("dcmcjpeg", src, Path.Combine(dir, "jpll.dcm"), "+el", "+sv", "1", "+pt", "2");
        var decoded = Peers.AllFrames(jpeg);
        var dcmtk = Peers.AllFrames(Peers.Convert("dcmdjpeg", Path.Combine(dir, "jpll.dcm"), Path.Combine(dir, "dcmdjpeg.dcm")));
        Assert.Equal(dcmtk, decoded);
        Assert.NotEqual(original, decoded); // the point transform drops two bits
    }

    [Fact]
    public void Multi_frame_jpeg_lossless_split_over_many_fragments_decodes_per_frame()
    {
        var (dir, src, original) = Prepare("enhanced-ct-2frames");
        var jpeg = Peers.Convert("dcmcjpeg", src, Path.Combine(dir, "jpll.dcm"), "+e1", "+fs", "16");
        var seq = Assert.IsType<DicomFragmentSequence>(jpeg.Dataset[DicomTags.PixelData]);
        Assert.True(seq.Fragments.Count > 2, $"expected several fragments per frame, got {seq.Fragments.Count}");
        Assert.Equal(original, Peers.AllFrames(jpeg));
    }

    public static TheoryData<string, string, int> JpegLsCases() => new()
    {
        { "wg04-ct1", "+el", 0 }, { "signed12", "+el", 0 }, { "unsigned12", "+el", 0 }, { "mono8-odd", "+el", 0 },
        { "rgb8", "+il", 0 }, { "rgb8", "+is", 0 }, { "rgb8", "+in", 0 }, { "unsigned16-3frames", "+el", 0 },
        { "unsigned12", "+en", 2 }, { "unsigned16-3frames", "+en", 2 }, { "rgb8", "+en", 2 }, // DCMTK refuses near-lossless signed data
    };

    [Theory]
    [MemberData(nameof(JpegLsCases))]
    public void Dcmcjpls_output_decodes_like_dcmdjpls(string name, string option, int near)
    {
        var (dir, src, original) = Prepare(name);
        var jls = Peers.Convert("dcmcjpls", src, Path.Combine(dir, "jls.dcm"), option);
        var decoded = Peers.AllFrames(jls);
        var dcmtk = Peers.AllFrames(Peers.Convert("dcmdjpls", Path.Combine(dir, "jls.dcm"), Path.Combine(dir, "dcmdjpls.dcm")));
        Assert.Equal(dcmtk, decoded);
        if (near == 0) Assert.Equal(original, decoded);
        else Assert.InRange(MaxDiff(original, decoded, jls.Dataset), 0, near);
    }

    public static TheoryData<string, string[], int> JpegLossyCases() => new()
    {
        { "mono8-odd", ["+eb"], 1 },
        { "rgb8", ["+eb", "+s4"], 2 },
        { "rgb8", ["+eb"], 2 }, // 4:2:2 chroma, interpolated as libjpeg does
        { "unsigned12", ["+ee"], 1 },
    };

    [Theory]
    [MemberData(nameof(JpegLossyCases))]
    public void Dcmcjpeg_lossy_decodes_close_to_dcmdjpeg(string name, string[] options, int tolerance)
    {
        var (dir, src, _) = Prepare(name);
        var jpeg = Peers.Convert("dcmcjpeg", src, Path.Combine(dir, "jpeg.dcm"), options);
        Assert.True(jpeg.TransferSyntax.IsLossy);
        var decoded = Peers.AllFrames(jpeg);
        var dcmtkFile = Peers.Convert("dcmdjpeg", Path.Combine(dir, "jpeg.dcm"), Path.Combine(dir, "dcmdjpeg.dcm"));
        var dcmtk = Peers.AllFrames(dcmtkFile);
        Assert.InRange(MaxDiff(dcmtk, decoded, dcmtkFile.Dataset), 0, tolerance);
        // Transcoding records what the pixels now are.
        var native = DicomTranscoder.Transcode(jpeg, DicomTransferSyntax.ExplicitVRLittleEndian);
        Assert.Equal(dcmtkFile.Dataset.GetString(DicomTags.PhotometricInterpretation), native.Dataset.GetString(DicomTags.PhotometricInterpretation));
        Assert.Equal("01", native.Dataset.GetString(DicomTags.LossyImageCompression));
    }

    private static int MaxDiff(byte[] a, byte[] b, DicomDataset ds)
    {
        Assert.Equal(a.Length, b.Length);
        var bits = ds.GetValue<int>(DicomTags.BitsAllocated);
        var signed = ds.GetValueOrDefault<int>(DicomTags.PixelRepresentation, 0) == 1;
        if (bits == 8) return a.Zip(b).Max(p => Math.Abs(p.First - p.Second));
        return PixelCompare.MaxDiff16(a, b, signed);
    }
}
