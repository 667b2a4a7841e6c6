using MedAiNode.Dicom.IO;

namespace MedAiNode.Dicom.Codecs.Tests;

/// <summary>Our RLE and JPEG 2000 encodings, decoded by DCMTK and GDCM, give back the original pixels.</summary>
public class TranscodeInteropTests
{
    public static TheoryData<string> Sources() =>
        new() { "wg04-ct1", "ct-small", "enhanced-ct-2frames", "rgb8", "mono8-odd", "signed12", "unsigned12", "unsigned16-3frames", "signed16-rgb" };

    [Theory]
    [MemberData(nameof(Sources))]
    public void Rle_encoding_decodes_identically_with_dcmdrle_and_gdcm(string name)
    {
        var dir = TestData.TempDir("rle-" + name);
        var source = Peers.Source(name);
        var original = Peers.AllFrames(source);
        var rle = DicomTranscoder.Transcode(source, DicomTransferSyntax.RLELossless);
        Assert.Equal(DicomTransferSyntax.RLELossless, rle.TransferSyntax);
        Assert.IsType<DicomFragmentSequence>(rle.Dataset[DicomTags.PixelData]);
        var path = Synthetic.Save(rle, dir, "rle.dcm");

        var reread = DicomFile.Open(path);
        Assert.Equal(original, Peers.AllFrames(reread));
        var dcmtk = Peers.Convert("dcmdrle", path, Path.Combine(dir, "dcmdrle.dcm"));
        Assert.Equal(original, Peers.AllFrames(dcmtk));
        Assert.Equal(original, Peers.Pydicom(path, dir));
        // GDCM 3.0.21 scrambles 16-bit multi-sample RLE (pydicom and DCMTK agree with us there), so it is asked only elsewhere.
        if (name != "signed16-rgb")
        {
            var gdcm = Peers.Convert("gdcmconv", path, Path.Combine(dir, "gdcm.dcm"), "--raw");
            Assert.Equal(original, Peers.AllFrames(gdcm));
        }
    }

    [Theory]
    [MemberData(nameof(Sources))]
    public void Jpeg2000_lossless_encoding_decodes_identically_with_gdcm(string name)
    {
        var dir = TestData.TempDir("j2k-" + name);
        var source = Peers.Source(name);
        var original = Peers.AllFrames(source);
        var j2k = DicomTranscoder.Transcode(source, DicomTransferSyntax.JPEG2000Lossless);
        var path = Synthetic.Save(j2k, dir, "j2k.dcm");
        var fragments = (DicomFragmentSequence)j2k.Dataset[DicomTags.PixelData]!;
        if (original.Length > 100_000) Assert.True(fragments.Fragments.Sum(f => (long)f.Length) < original.Length / 2, "lossless JPEG 2000 did not compress real CT 2:1");

        Assert.Equal(original, Peers.AllFrames(DicomFile.Open(path)));
        var gdcm = Peers.Convert("gdcmconv", path, Path.Combine(dir, "gdcm.dcm"), "--raw");
        Assert.Equal(original, Peers.AllFrames(gdcm));
    }

    [Fact]
    public void Wg04_rle_reencoded_by_us_matches_dcmtk_rle_decoding_of_the_original()
    {
        // The NEMA RLE file and our RLE of its UNC twin decode to the same pixels.
        var nema = DicomFile.Open(PixelCompare.Wg04("CT1_RLE"));
        var ours = DicomTranscoder.Transcode(DicomFile.Open(PixelCompare.Wg04("CT1_UNC")), DicomTransferSyntax.RLELossless);
        Assert.Equal(Peers.AllFrames(nema), Peers.AllFrames(ours));
    }
}

public class JpegLsEncodeInteropTests
{
    [Theory]
    [MemberData(nameof(TranscodeInteropTests.Sources), MemberType = typeof(TranscodeInteropTests))]
    public void JpegLs_lossless_encoding_decodes_identically_with_dcmdjpls_and_gdcm(string name)
    {
        var dir = TestData.TempDir("jls-" + name);
        var source = Peers.Source(name);
        var original = Peers.AllFrames(source);
        var jls = DicomTranscoder.Transcode(source, DicomTransferSyntax.JPEGLSLossless);
        var path = Synthetic.Save(jls, dir, "jls.dcm");
        Assert.Equal(original, Peers.AllFrames(DicomFile.Open(path)));
        var dcmtk = Peers.Convert("dcmdjpls", path, Path.Combine(dir, "dcmdjpls.dcm"));
        Assert.Equal(original, Peers.AllFrames(dcmtk));
        var gdcm = Peers.Convert("gdcmconv", path, Path.Combine(dir, "gdcm.dcm"), "--raw");
        Assert.Equal(original, Peers.AllFrames(gdcm));
    }
}
