using System.Text;
using MedAiNode.Dicom.IO;

namespace MedAiNode.Dicom.Codecs.Tests;

/// <summary>High-Throughput JPEG 2000 made by OpenJPH's encoder (openjph-tools) decodes through OpenJPEG 2.5.</summary>
public class HtJ2kTests
{
    [Theory]
    [InlineData("1.2.840.10008.1.2.4.201", "true")]  // HTJ2K Lossless
    [InlineData("1.2.840.10008.1.2.4.203", "false")] // HTJ2K (lossy)
    public void Openjph_codestream_of_a_real_ct_decodes(string tsUid, string reversible)
    {
        var dir = TestData.TempDir("htj2k");
        var source = DicomFile.Open(Directory.EnumerateFiles(TestData.Path_("ct", "totalseg-abdomen-j2k"), "*.dcm").Order(StringComparer.Ordinal).First());
        var pixels = DicomPixelDecoder.DecodeFrame(source.Dataset, source.TransferSyntax, 0);

        // 12-bit unsigned CT as a 16-bit PGM (big-endian samples).
        var pgm = Path.Combine(dir, "ct.pgm");
        using (var fs = File.Create(pgm))
        {
            fs.Write(Encoding.ASCII.GetBytes("P5\n512 512\n4095\n"));
            for (var i = 0; i < pixels.Length; i += 2) { fs.WriteByte(pixels[i + 1]); fs.WriteByte(pixels[i]); }
        }
        var j2c = Path.Combine(dir, "ct.j2c");
        var r = Tool.Run("ojph_compress", ["-i", pgm, "-o", j2c, "-reversible", reversible, "-qstep", "0.001"]);
        Assert.True(r.ExitCode == 0, "ojph_compress failed (apt-get install openjph-tools): " + r.StdErr + r.StdOut);
        var codestream = File.ReadAllBytes(j2c);
        Assert.True(ContainsMarker(codestream, 0x50), "no CAP marker: not a High-Throughput codestream");

        var ts = DicomTransferSyntax.Get(tsUid);
        var ds = source.Dataset.Clone();
        var seq = new DicomFragmentSequence(DicomTags.PixelData, DicomVR.OB);
        if (codestream.Length % 2 == 1) Array.Resize(ref codestream, codestream.Length + 1);
        seq.Fragments.Add(new MemoryByteBuffer(codestream));
        ds.Add(seq);
        Assert.True(DicomPixelDecoder.CanDecode(ts));
        var decoded = DicomPixelDecoder.DecodeFrame(ds, ts, 0);
        if (reversible == "true") Assert.Equal(pixels, decoded);
        else
        {
            Assert.NotEqual(pixels, decoded);
            Assert.InRange(PixelCompare.MaxDiff16(pixels, decoded, signed: false), 1, 64);
        }
    }

    private static bool ContainsMarker(byte[] data, byte marker)
    {
        for (var i = 0; i + 1 < Math.Min(data.Length, 400); i++)
            if (data[i] == 0xFF && data[i + 1] == marker) return true;
        return false;
    }
}
