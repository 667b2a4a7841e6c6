using MedAiNode.Dicom.IO;

namespace MedAiNode.Dicom.Codecs.Tests;

/// <summary>Offset tables, planar configuration and byte order around the codecs.</summary>
public class LayoutTests
{
    [Fact]
    public void Frames_are_found_through_an_extended_offset_table()
    {
        var file = DicomFile.Open(PixelCompare.Other("pydicomdata_eCT_Supplemental_EnhancedCT.dcm"));
        var frames = new[] { PixelCompare.Frame(PixelCompare.Other("pydicomdata_eCT_Supplemental_EnhancedCT.dcm"), 0), PixelCompare.Frame(PixelCompare.Other("pydicomdata_eCT_Supplemental_EnhancedCT.dcm"), 1) };
        var rle = DicomTranscoder.Transcode(file, DicomTransferSyntax.RLELossless);
        var seq = (DicomFragmentSequence)rle.Dataset[DicomTags.PixelData]!;
        var offsets = seq.GetOffsets().Select(o => (ulong)o).ToArray();
        var lengths = seq.Fragments.Select(f => (ulong)f.Length).ToArray();
        seq.OffsetTable = MemoryByteBuffer.Empty; // PS3.5 A.4: with an Extended Offset Table the Basic one is empty
        rle.Dataset.Set<ulong>(DicomTags.ExtendedOffsetTable, DicomVR.OV, offsets);
        rle.Dataset.Set<ulong>(DicomTags.ExtendedOffsetTableLengths, DicomVR.OV, lengths);
        var path = Synthetic.Save(rle, TestData.TempDir("eot"), "eot.dcm");
        var reread = DicomFile.Open(path);
        for (var i = 0; i < 2; i++) Assert.Equal(frames[i], DicomPixelDecoder.DecodeFrame(reread.Dataset, reread.TransferSyntax, i));
        // DCMTK agrees that the file is sound.
        var dcmtk = Peers.Convert("dcmdrle", path, Path.Combine(Path.GetDirectoryName(path)!, "out.dcm"));
        Assert.Equal(frames.SelectMany(f => f).ToArray(), Peers.AllFrames(dcmtk));
        // Re-encoding drops the tables that described the old fragments.
        var again = DicomTranscoder.Transcode(reread, DicomTransferSyntax.JPEG2000Lossless);
        Assert.Null(again.Dataset[DicomTags.ExtendedOffsetTable]);
    }

    [Fact]
    public void Multi_fragment_frames_without_any_offset_table_are_split_at_codestream_starts()
    {
        var dir = TestData.TempDir("no-bot");
        var src = Synthetic.Save(Peers.Source("enhanced-ct-2frames"), dir, "src.dcm");
        var jpeg = Peers.Convert("dcmcjpeg", src, Path.Combine(dir, "jpll.dcm"), "+e1", "+fs", "16", "-ot");
        var seq = Assert.IsType<DicomFragmentSequence>(jpeg.Dataset[DicomTags.PixelData]);
        Assert.Empty(seq.GetOffsets());
        Assert.True(seq.Fragments.Count > 2);
        Assert.Equal(Peers.AllFrames(DicomFile.Open(src)), Peers.AllFrames(jpeg));
    }

    [Fact]
    public void Planar_native_colour_is_interleaved_before_encoding()
    {
        var dir = TestData.TempDir("planar");
        var interleaved = Synthetic.Create(12, 10, spp: 3, bitsAllocated: 8, bitsStored: 8);
        var pixels = Peers.AllFrames(interleaved);
        // The same image stored colour-by-plane.
        var planar = new byte[pixels.Length];
        for (var p = 0; p < 120; p++)
            for (var s = 0; s < 3; s++) planar[s * 120 + p] = pixels[p * 3 + s];
        var ds = interleaved.Dataset.Clone();
        ds.Set<ushort>(DicomTags.PlanarConfiguration, DicomVR.US, 1);
        ds.Add(new DicomElement(DicomTags.PixelData, DicomVR.OB, planar));
        var planarFile = new DicomFile(ds, DicomTransferSyntax.ExplicitVRLittleEndian);
        var path = Synthetic.Save(planarFile, dir, "planar.dcm");
        Assert.Equal(pixels, Peers.Pydicom(path, dir)); // pydicom reads the planar file as these pixels

        foreach (var ts in new[] { DicomTransferSyntax.RLELossless, DicomTransferSyntax.JPEG2000Lossless })
        {
            var encoded = DicomTranscoder.Transcode(planarFile, ts);
            Assert.Equal(0, encoded.Dataset.GetValue<int>(DicomTags.PlanarConfiguration));
            Assert.Equal(pixels, Peers.AllFrames(encoded));
            var encodedPath = Synthetic.Save(encoded, dir, "enc.dcm");
            Assert.Equal(pixels, Peers.Pydicom(encodedPath, dir));
        }
    }

    [Fact]
    public void Big_endian_native_input_transcodes_like_little_endian()
    {
        var dir = TestData.TempDir("big-endian");
        var le = DicomFile.Open(PixelCompare.Wg04("CT2_UNC"));
        var bePath = Path.Combine(dir, "be.dcm");
        var r = Tool.Run("dcmconv", ["+tb", PixelCompare.Wg04("CT2_UNC"), bePath]); // DCMTK writes the big-endian file
        Assert.Equal(0, r.ExitCode);
        var be = DicomFile.Open(bePath);
        Assert.Equal(DicomTransferSyntax.ExplicitVRBigEndian, be.TransferSyntax);
        var rle = DicomTranscoder.Transcode(be, DicomTransferSyntax.RLELossless);
        Assert.Equal(Peers.AllFrames(le), Peers.AllFrames(rle));
        var back = DicomTranscoder.Transcode(rle, DicomTransferSyntax.ExplicitVRBigEndian);
        var backPath = Synthetic.Save(back, dir, "back.dcm");
        var dcmtk = Peers.Convert("dcmconv", backPath, Path.Combine(dir, "le.dcm"), "+te");
        Assert.Equal(Peers.AllFrames(le), Peers.AllFrames(dcmtk));
    }
}
