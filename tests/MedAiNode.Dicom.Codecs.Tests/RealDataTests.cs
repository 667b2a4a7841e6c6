using MedAiNode.Dicom.IO;

namespace MedAiNode.Dicom.Codecs.Tests;

/// <summary>Real compressed files from the wild: the TotalSegmentator JPEG 2000 CT series, the BitsStored quirk, fragmented RLE.</summary>
public class RealDataTests
{
    public static TheoryData<string> TotalSegFiles()
    {
        var d = new TheoryData<string>();
        foreach (var f in Directory.EnumerateFiles(TestData.Path_("ct", "totalseg-abdomen-j2k"), "*.dcm").Order(StringComparer.Ordinal))
            d.Add(Path.GetFileName(f));
        return d;
    }

    [Theory]
    [MemberData(nameof(TotalSegFiles))]
    public void TotalSegmentator_j2k_series_decodes_like_gdcm(string name)
    {
        var path = TestData.Path_("ct", "totalseg-abdomen-j2k", name);
        var dir = TestData.TempDir("totalseg");
        var file = DicomFile.Open(path);
        Assert.Equal(DicomTransferSyntax.JPEG2000Lossless, file.TransferSyntax);
        var ours = Peers.AllFrames(file);
        // gdcmconv refuses to write these files (their dataset UIDs are empty), so take GDCM's decoded pixels with gdcmraw -P.
        var raw = Path.Combine(dir, "pixels.raw");
        var r = Tool.Run("gdcmraw", ["-i", path, "-o", raw, "-P"]);
        Assert.True(r.ExitCode == 0, "gdcmraw failed: " + r.StdErr);
        var reference = File.ReadAllBytes(raw);
        Assert.Equal(512 * 512 * 2, ours.Length);
        Assert.True(reference.AsSpan().SequenceEqual(ours), PixelCompare.FirstDifference(reference, ours));
    }

    [Fact]
    public void TotalSegmentator_transcode_keeps_uids_that_live_only_in_the_file_meta()
    {
        var path = Directory.EnumerateFiles(TestData.Path_("ct", "totalseg-abdomen-j2k"), "*.dcm").Order(StringComparer.Ordinal).First();
        var file = DicomFile.Open(path);
        var sop = file.FileMetaInfo.GetString(DicomTags.MediaStorageSOPInstanceUID);
        Assert.False(string.IsNullOrEmpty(sop));
        var native = DicomTranscoder.Transcode(file, DicomTransferSyntax.ExplicitVRLittleEndian);
        var dir = TestData.TempDir("totalseg-meta");
        var reread = DicomFile.Open(Synthetic.Save(native, dir, "native.dcm"));
        Assert.Equal(sop, reread.FileMetaInfo.GetString(DicomTags.MediaStorageSOPInstanceUID));
        Assert.Equal(DicomTransferSyntax.ExplicitVRLittleEndian, reread.TransferSyntax);
        Assert.Equal(Peers.AllFrames(file), Peers.AllFrames(reread));
    }

    [Fact]
    public void J2k_whose_codestream_precision_disagrees_with_BitsStored_matches_its_uncompressed_twin()
    {
        var j2k = DicomFile.Open(PixelCompare.Other("pydicomdata_693_J2KR.dcm"));
        var unc = DicomFile.Open(PixelCompare.Other("pydicomdata_693_UNCR.dcm"));
        Assert.Equal(16, j2k.Dataset.GetValue<int>(DicomTags.BitsStored));
        Assert.Equal(14, unc.Dataset.GetValue<int>(DicomTags.BitsStored));
        var decoded = Peers.AllFrames(j2k);
        var reference = Peers.AllFrames(unc);
        Assert.True(reference.AsSpan().SequenceEqual(decoded), PixelCompare.FirstDifference(reference, decoded));
        Assert.Contains(decoded.Chunk(2).Select(p => (short)(p[0] | p[1] << 8)), v => v < 0); // the negative values survive

        // Native output says what it holds, as GDCM does: 14 bits stored.
        var native = DicomTranscoder.Transcode(j2k, DicomTransferSyntax.ExplicitVRLittleEndian);
        Assert.Equal(14, native.Dataset.GetValue<int>(DicomTags.BitsStored));
        Assert.Equal(13, native.Dataset.GetValue<int>(DicomTags.HighBit));
    }

    [Fact]
    public void Rle_split_over_several_fragments_matches_the_wg04_original()
    {
        var frags = DicomFile.Open(PixelCompare.Other("fodicom_D_CLUNIE_CT1_RLE_FRAGS.dcm"));
        var seq = Assert.IsType<DicomFragmentSequence>(frags.Dataset[DicomTags.PixelData]);
        Assert.True(seq.Fragments.Count > 1);
        var decoded = Peers.AllFrames(frags);
        Assert.Equal(Peers.AllFrames(DicomFile.Open(PixelCompare.Wg04("CT1_UNC"))), decoded);
        var dir = TestData.TempDir("rle-frags");
        var dcmtk = Peers.Convert("dcmdrle", PixelCompare.Other("fodicom_D_CLUNIE_CT1_RLE_FRAGS.dcm"), Path.Combine(dir, "out.dcm"));
        Assert.Equal(Peers.AllFrames(dcmtk), decoded);
    }

    [Fact]
    public void Enhanced_ct_multi_frame_round_trips_through_every_encoder_frame_by_frame()
    {
        var file = DicomFile.Open(PixelCompare.Other("pydicomdata_eCT_Supplemental_EnhancedCT.dcm"));
        var frames = Enumerable.Range(0, 2).Select(i => DicomPixelDecoder.DecodeFrame(file.Dataset, file.TransferSyntax, i)).ToArray();
        Assert.NotEqual(frames[0], frames[1]);
        foreach (var ts in new[] { DicomTransferSyntax.RLELossless, DicomTransferSyntax.JPEG2000Lossless, DicomTransferSyntax.EncapsulatedUncompressed })
        {
            var encoded = DicomTranscoder.Transcode(file, ts);
            var seq = Assert.IsType<DicomFragmentSequence>(encoded.Dataset[DicomTags.PixelData]);
            Assert.Equal(2, seq.GetOffsets().Length); // a Basic Offset Table for the two frames
            for (var i = 0; i < 2; i++) Assert.Equal(frames[i], DicomPixelDecoder.DecodeFrame(encoded.Dataset, ts, i));
            var back = DicomTranscoder.Transcode(encoded, DicomTransferSyntax.ExplicitVRLittleEndian);
            Assert.Equal(frames.SelectMany(f => f).ToArray(), Peers.AllFrames(back));
        }
    }
}
