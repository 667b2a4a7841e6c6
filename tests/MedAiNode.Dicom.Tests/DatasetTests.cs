using MedAiNode.Dicom.IO;

namespace MedAiNode.Dicom.Tests;

public class DatasetTests
{
    [Fact]
    public void Dictionary_knows_tags_keywords_vrs_and_repeating_groups()
    {
        Assert.True(DicomDictionary.Count > 4000);
        Assert.Equal(DicomVR.PN, DicomDictionary.GetVR(DicomTags.PatientName));
        Assert.Equal("PatientName", DicomDictionary.GetKeyword(new DicomTag(0x0010, 0x0010)));
        Assert.Contains(DicomVR.OW, DicomDictionary.Find(new DicomTag(0x6002, 0x3000))!.ValueRepresentations); // OverlayData, repeating group 60xx, "OB or OW"
        Assert.Equal(DicomVR.UL, DicomDictionary.GetVR(new DicomTag(0x0009, 0x0000)));
        Assert.Equal(DicomVR.LO, DicomDictionary.GetVR(new DicomTag(0x0029, 0x0010)));
        Assert.Equal(DicomVR.UN, DicomDictionary.GetVR(new DicomTag(0x0029, 0x1010)));
        Assert.Equal(new DicomTag(0x0020, 0x000D), DicomTag.Parse("StudyInstanceUID"));
        Assert.Equal(new DicomTag(0x7FE0, 0x0010), DicomTag.Parse("(7FE0,0010)"));
        Assert.Equal("CT Image Storage", DicomUids.NameOf(DicomUids.CTImageStorage));
    }

    [Fact]
    public void All_value_representations_of_ps3_5_round_trip_through_explicit_and_implicit_vr()
    {
        var ds = new DicomDataset()
            .Set(DicomTags.SOPInstanceUID, "1.2.840.99.1")
            .Set(DicomTags.RetrieveAETitle, DicomVR.AE, "MEDAINODE")
            .Set(DicomTags.PatientAge, "042Y")
            .SetTags(DicomTags.FrameIncrementPointer, DicomTags.FrameTime)
            .Set(DicomTags.Modality, "CT")
            .SetDate(DicomTags.StudyDate, new DateOnly(2026, 11, 25))
            .Set(DicomTags.SliceThickness, DicomVR.DS, 1.25)
            .SetDateTime(DicomTags.AcquisitionDateTime, new DateTimeOffset(2026, 11, 25, 8, 30, 15, TimeSpan.FromHours(1)))
            .Set(DicomTags.RealWorldValueFirstValueMapped, DicomVR.SS, (short)-5)
            .Set(DicomTags.InstanceNumber, DicomVR.IS, 42)
            .Set(DicomTags.InstitutionName, "Hospital")
            .Set(DicomTags.AdditionalPatientHistory, "line one\r\nline two")
            .SetPersonName(DicomTags.PatientName, DicomPersonName.FromComponents("Doe", "Jane"))
            .Set(DicomTags.StudyDescription, "Chest")
            .Set(DicomTags.ReferencedFrameNumber, DicomVR.IS, 1, 2, 3)
            .Set(DicomTags.ImageComments, DicomVR.LT, "comment")
            .SetTime(DicomTags.StudyTime, new TimeOnly(8, 30, 15, 250))
            .Set(DicomTags.LongCodeValue, DicomVR.UC, "a long code value that may exceed sixty four characters because UC is unlimited ok")
            .Set(DicomTags.RetrieveURL, DicomVR.UR, "https://pacs.example/wado")
            .Set(DicomTags.TextValue, DicomVR.UT, "unlimited text")
            .Set(DicomTags.Rows, (ushort)512)
            .Set(DicomTags.ReferencedSegmentNumber, (ushort)1, (ushort)2)
            .Set(DicomTags.SimpleFrameList, DicomVR.UL, 1u, 2u)
            .Set(DicomTags.RationalNumeratorValue, DicomVR.SL, -7)
            .Set(DicomTags.RecommendedDisplayFrameRateInFloat, DicomVR.FL, 1.5f)
            .Set(DicomTags.FloatingPointValue, DicomVR.FD, 3.141592653589793)
            .Set(DicomTags.ExtendedOffsetTable, DicomVR.OV, 0UL, 1000UL)
            .Set(DicomTags.SelectorSVValue, DicomVR.SV, long.MinValue + 1)
            .Set(DicomTags.SelectorUVValue, DicomVR.UV, ulong.MaxValue)
            .SetBytes(DicomTags.EncapsulatedDocument, DicomVR.OB, new byte[] { 1, 2, 3 })
            .Set(DicomTags.DoubleFloatPixelData, DicomVR.OD, 1.0, 2.0)
            .Set(DicomTags.FloatPixelData, DicomVR.OF, 1f, 2f)
            .Set(DicomTags.LongPrimitivePointIndexList, DicomVR.OL, 7u)
            .Set(DicomTags.RedPaletteColorLookupTableData, DicomVR.OW, (ushort)1, (ushort)2)
            .SetBytes(new DicomTag(0x0009, 0x1001), DicomVR.UN, new byte[] { 9, 9 });
        ds.AddItem(DicomTags.ReferencedSeriesSequence, new DicomDataset().Set(DicomTags.SeriesInstanceUID, "1.2.3.4"));

        foreach (var ts in new[] { DicomTransferSyntax.ExplicitVRLittleEndian, DicomTransferSyntax.ImplicitVRLittleEndian, DicomTransferSyntax.ExplicitVRBigEndian })
        {
            var back = DicomFile.Read(new MemoryStream(new DicomFile(ds).ToBytes(ts))).Dataset;
            Assert.Equal("MEDAINODE", back.GetString(DicomTags.RetrieveAETitle));
            Assert.Equal(DicomTags.FrameTime, back.GetTags(DicomTags.FrameIncrementPointer)[0]);
            Assert.Equal(new DateOnly(2026, 11, 25), back.GetDate(DicomTags.StudyDate));
            Assert.Equal(1.25, back.GetValue<double>(DicomTags.SliceThickness));
            Assert.Equal(new DateTime(2026, 11, 25, 8, 30, 15), back.GetDateTime(DicomTags.AcquisitionDateTime));
            Assert.Equal(42, back.GetValue<int>(DicomTags.InstanceNumber));
            Assert.Equal(new[] { 1, 2, 3 }, back.GetValues<int>(DicomTags.ReferencedFrameNumber));
            Assert.Equal("Doe", back.GetPersonName(DicomTags.PatientName)!.FamilyName);
            Assert.Equal("Jane", back.GetPersonName(DicomTags.PatientName)!.GivenName);
            Assert.Equal("line one\r\nline two", back.GetString(DicomTags.AdditionalPatientHistory));
            Assert.Equal(new TimeOnly(8, 30, 15, 250), back.GetTime(DicomTags.StudyTime));
            Assert.Equal(new DateTime(2026, 11, 25, 8, 30, 15, 250), back.GetDateTime(DicomTags.StudyDate, DicomTags.StudyTime));
            Assert.Equal(512, back.GetValue<int>(DicomTags.Rows));
            Assert.Equal(new ushort[] { 1, 2 }, back.GetValues<ushort>(DicomTags.ReferencedSegmentNumber));
            Assert.Equal(-7, back.GetValue<int>(DicomTags.RationalNumeratorValue));
            Assert.Equal(1.5f, back.GetValue<float>(DicomTags.RecommendedDisplayFrameRateInFloat));
            Assert.Equal(3.141592653589793, back.GetValue<double>(DicomTags.FloatingPointValue));
            Assert.Equal(new ulong[] { 0, 1000 }, back.GetValues<ulong>(DicomTags.ExtendedOffsetTable));
            Assert.Equal(long.MinValue + 1, back.GetValue<long>(DicomTags.SelectorSVValue));
            Assert.Equal(ulong.MaxValue, back.GetValue<ulong>(DicomTags.SelectorUVValue));
            Assert.Equal(new byte[] { 1, 2, 3, 0 }, back.GetBytes(DicomTags.EncapsulatedDocument).ToArray());
            Assert.Equal(new[] { 1.0, 2.0 }, back.GetValues<double>(DicomTags.DoubleFloatPixelData));
            Assert.Equal(new[] { 1f, 2f }, back.GetValues<float>(DicomTags.FloatPixelData));
            Assert.Equal(new ushort[] { 1, 2 }, back.GetValues<ushort>(DicomTags.RedPaletteColorLookupTableData));
            Assert.Equal("1.2.3.4", back.GetSequence(DicomTags.ReferencedSeriesSequence)!.Items[0].GetString(DicomTags.SeriesInstanceUID));
            Assert.Equal("https://pacs.example/wado", back.GetString(DicomTags.RetrieveURL));
        }
    }

    [Theory]
    [InlineData("0020000D", "UI", "1.2.03")]        // leading zero in a component
    [InlineData("0020000D", "UI", "1.2.abc")]
    [InlineData("00080060", "CS", "ct")]           // lower case
    [InlineData("00080060", "CS", "THIS IS FAR TOO LONG FOR CS")]
    [InlineData("00080020", "DA", "2026-11-25")]
    [InlineData("00080030", "TM", "25:61")]
    [InlineData("00200013", "IS", "1.5")]
    [InlineData("00200013", "IS", "99999999999")]
    [InlineData("00180050", "DS", "one")]
    [InlineData("00101010", "AS", "42")]
    [InlineData("00100020", "LO", "a\\b")]
    [InlineData("00100010", "PN", "a=b=c=d")]
    [InlineData("00080054", "AE", "   ")]
    public void Invalid_values_are_refused_with_a_message_naming_the_attribute(string tag, string vr, string value)
    {
        var ds = new DicomDataset();
        var e = Assert.Throws<DicomValidationException>(() => ds.Set(DicomTag.Parse(tag), DicomVR.Parse(vr), value));
        Assert.Contains(DicomDictionary.GetKeyword(DicomTag.Parse(tag)), e.Message);
        Assert.False(ds.Contains(DicomTag.Parse(tag)));
    }

    /// <summary>Issue 16: rule messages reach logs, study reasons and Error Comments, so a refused value is never quoted,
    /// whatever the VR: it may be a patient's name, ID or birth date.</summary>
    [Theory]
    [InlineData("00100030", "DA", "ROSALIND19230405")]
    [InlineData("00080030", "TM", "ROSALIND")]
    [InlineData("0008002A", "DT", "ROSALIND19230405")]
    [InlineData("00101010", "AS", "ROSALIND")]
    [InlineData("00101030", "DS", "ROSALIND")]
    [InlineData("00200013", "IS", "ROSALIND")]
    [InlineData("00080060", "CS", "Rosalind")]
    [InlineData("0020000D", "UI", "1.2.ROSALIND")]
    [InlineData("0020000D", "UI", "1.2.0812734")]
    [InlineData("00100020", "LO", "ROSALIND-PID8812734-ROSALIND-PID8812734-ROSALIND-PID8812734-ROSALIND")]
    [InlineData("00100020", "LO", "ROSALIND\\PID8812734")]
    [InlineData("00080050", "SH", "ROSALIND\nPID88")]
    [InlineData("00100010", "PN", "QUOTABLE^ROSALIND^PID8812734^X^Y^Z")]
    [InlineData("00080005", "CS", "ROSALIND")]
    public void A_refused_value_is_never_quoted_in_the_message(string tag, string vr, string value)
    {
        var t = DicomTag.Parse(tag);
        var e = Assert.ThrowsAny<ArgumentException>(() => new DicomDataset().Set(t, DicomVR.Parse(vr), value));
        Assert.Contains(DicomDictionary.GetKeyword(t), e.Message);
        Assert.DoesNotContain("ROSALIND", e.Message, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("8812734", e.Message);
        Assert.DoesNotContain("0812734", e.Message);
    }

    [Fact]
    public void A_number_string_that_is_not_a_number_is_refused_without_quoting_it()
    {
        var ds = new DicomDataset();
        ds.Add(new DicomElement(DicomTags.PatientWeight, DicomVR.DS, System.Text.Encoding.ASCII.GetBytes("70\\ROSALIND ")));
        var e = Assert.Throws<FormatException>(() => ds.GetValues<double>(DicomTags.PatientWeight));
        Assert.Contains("PatientWeight", e.Message);
        Assert.Contains("value 2", e.Message);
        Assert.DoesNotContain("ROSALIND", e.Message, StringComparison.OrdinalIgnoreCase);
        Assert.Null(ds.GetValueOrNull<double>(DicomTags.PatientWeight));
    }

    [Fact]
    public void Numbers_must_fit_the_vr()
    {
        var ds = new DicomDataset();
        Assert.Throws<DicomValidationException>(() => ds.Set(DicomTags.Rows, DicomVR.US, 1u));
        Assert.Throws<DicomValidationException>(() => ds.Set(DicomTags.PatientName, DicomVR.PN, 1));
        Assert.Throws<DicomValidationException>(() => ds.Set(DicomTags.InstitutionName, DicomVR.LO, "a", "b").Set(DicomTags.ImageComments, DicomVR.LT, "x", "y"));
        Assert.Equal("0.33333333333333", DicomDataset.FormatDecimal(1.0 / 3)); // 16 characters, the DS maximum
        Assert.True(DicomDataset.FormatDecimal(-1.0e-20 / 3).Length <= 16);
    }

    [Fact]
    public void Private_blocks_are_reserved_and_found_by_creator()
    {
        var ds = new DicomDataset().Set(new DicomTag(0x0029, 0x0010), DicomVR.LO, "OTHER VENDOR");
        var tag = ds.GetPrivateTag(0x0029, "MEDAINODE 1.0", 0x01, reserve: true)!.Value;
        Assert.Equal(new DicomTag(0x0029, 0x1101), tag);
        ds.Set(tag, DicomVR.LO, "model hash");
        Assert.Equal("MEDAINODE 1.0", ds.GetPrivateCreator(tag));
        Assert.Equal(tag, ds.GetPrivateTag(0x0029, "MEDAINODE 1.0", 0x01));
        Assert.Null(ds.GetPrivateTag(0x0031, "MEDAINODE 1.0", 0x01));
        var back = DicomFile.Read(new MemoryStream(new DicomFile(ds.Set(DicomTags.SOPInstanceUID, "1.2")).ToBytes())).Dataset;
        Assert.Equal("model hash", back.GetString(tag));
        Assert.Equal(DicomVR.LO, back[tag]!.VR);
    }

    [Fact]
    public void Generated_uids_are_valid_unique_and_follow_the_root()
    {
        var uuidUids = Enumerable.Range(0, 1000).Select(_ => DicomUidGenerator.Default.Generate()).ToList();
        Assert.Equal(1000, uuidUids.Distinct().Count());
        Assert.All(uuidUids, u =>
        {
            Assert.StartsWith("2.25.", u);
            Assert.True(u.Length <= 64);
            Assert.Null(DicomValueRules.Check(DicomVR.UI, u));
        });
        var rooted = new DicomUidGenerator("1.2.826.0.1.3680043.10.1234");
        var uid = rooted.Generate();
        Assert.StartsWith("1.2.826.0.1.3680043.10.1234.", uid);
        Assert.True(uid.Length <= 64);
        Assert.Null(DicomValueRules.Check(DicomVR.UI, uid));
        Assert.Equal(rooted.FromName("study-1/seg"), rooted.FromName("study-1/seg"));
        Assert.NotEqual(rooted.FromName("study-1/seg"), rooted.FromName("study-1/sr"));
        Assert.Throws<ArgumentException>(() => new DicomUidGenerator("1.2.0x"));
    }

    /// <summary>Native frames copied into a caller's buffer (how a volume's planes are read back, without an array per
    /// frame) are the frames GetFrame gives, from a file read lazily as from memory; encapsulated pixel data is refused.</summary>
    [Fact]
    public void A_native_frame_copied_into_a_buffer_is_the_frame_and_encapsulated_data_is_left_to_the_codecs()
    {
        var enhanced = DicomFile.Open(TestData.Path_("compressed", "other", "pydicomdata_eCT_Supplemental_EnhancedCT.dcm"));
        var ep = new DicomPixelData(enhanced.Dataset, enhanced.TransferSyntax);
        Assert.False(ep.IsEncapsulated);
        Assert.True(ep.NumberOfFrames > 1);
        var buffer = new byte[ep.FrameSize + 7];
        for (var i = 0; i < ep.NumberOfFrames; i++)
        {
            Array.Fill(buffer, (byte)0xA5);
            Assert.True(ep.TryCopyFrame(i, buffer));
            Assert.Equal(ep.GetFrame(i).ToArray(), buffer.AsSpan(0, (int)ep.FrameSize).ToArray());
            Assert.All(buffer.AsSpan((int)ep.FrameSize).ToArray(), b => Assert.Equal(0xA5, b));
        }
        Assert.NotEqual(ep.GetFrame(0).ToArray(), ep.GetFrame(ep.NumberOfFrames - 1).ToArray());
        Assert.Throws<ArgumentException>(() => ep.TryCopyFrame(0, new byte[ep.FrameSize - 1]));
        Assert.Throws<ArgumentOutOfRangeException>(() => ep.TryCopyFrame(ep.NumberOfFrames, buffer));

        var rle = DicomFile.Open(TestData.Path_("compressed", "other", "fodicom_D_CLUNIE_CT1_RLE_FRAGS.dcm"));
        Assert.False(new DicomPixelData(rle.Dataset, rle.TransferSyntax).TryCopyFrame(0, new byte[1 << 20]));
    }

    [Fact]
    public void Encapsulated_frames_are_found_through_offset_tables()
    {
        var rle = DicomFile.Open(TestData.Path_("compressed", "other", "fodicom_D_CLUNIE_CT1_RLE_FRAGS.dcm"));
        var pixels = new DicomPixelData(rle.Dataset, rle.TransferSyntax);
        Assert.True(pixels.IsEncapsulated);
        var frags = (DicomFragmentSequence)rle.Dataset[DicomTags.PixelData]!;
        Assert.True(frags.Fragments.Count > 1);
        Assert.Equal(frags.Fragments.Sum(f => f.Length), pixels.GetFrame(0).Length);

        var enhanced = DicomFile.Open(TestData.Path_("compressed", "other", "pydicomdata_eCT_Supplemental_EnhancedCT.dcm"));
        var ep = new DicomPixelData(enhanced.Dataset, enhanced.TransferSyntax);
        Assert.True(ep.NumberOfFrames > 1);
        for (var i = 0; i < ep.NumberOfFrames; i++) Assert.Equal(ep.FrameSize, ep.GetFrame(i).Length);
    }
}

public class EncapsulatedPixelDataTests
{
    private static DicomDataset ThreeFrames(bool basicOffsets, bool extendedOffsets, bool splitFragments)
    {
        var frames = new[] { new byte[] { 0xFF, 0xD8, 1, 1 }, new byte[] { 0xFF, 0xD8, 2, 2, 2, 2 }, new byte[] { 0xFF, 0xD8, 3, 3 } };
        var ds = new DicomDataset()
            .Set(DicomTags.SOPInstanceUID, "1.2.3")
            .Set(DicomTags.Rows, (ushort)2).Set(DicomTags.Columns, (ushort)2)
            .Set(DicomTags.BitsAllocated, (ushort)8).Set(DicomTags.SamplesPerPixel, (ushort)1)
            .Set(DicomTags.NumberOfFrames, DicomVR.IS, 3);
        var seq = new DicomFragmentSequence(DicomTags.PixelData, DicomVR.OB);
        var offsets = new List<ulong>();
        var lengths = new List<ulong>();
        ulong pos = 0;
        foreach (var f in frames)
        {
            offsets.Add(pos);
            lengths.Add((ulong)f.Length);
            if (splitFragments)
            {
                seq.Fragments.Add(new MemoryByteBuffer(f[..2]));
                seq.Fragments.Add(new MemoryByteBuffer(f[2..]));
                pos += (ulong)(8 + 2 + 8 + f.Length - 2);
            }
            else
            {
                seq.Fragments.Add(new MemoryByteBuffer(f));
                pos += (ulong)(8 + f.Length);
            }
        }
        if (basicOffsets)
            seq.OffsetTable = new MemoryByteBuffer(offsets.SelectMany(o => BitConverter.GetBytes((uint)o)).ToArray());
        if (extendedOffsets)
        {
            ds.Set(DicomTags.ExtendedOffsetTable, DicomVR.OV, offsets.ToArray());
            ds.Set(DicomTags.ExtendedOffsetTableLengths, DicomVR.OV, lengths.ToArray());
        }
        ds.Add(seq);
        return ds;
    }

    [Theory]
    [InlineData(true, false, true)]
    [InlineData(false, true, true)]
    [InlineData(false, false, true)]
    [InlineData(false, false, false)]
    public void Frames_come_back_through_basic_or_extended_offset_tables_or_markers(bool bot, bool eot, bool split)
    {
        var ds = ThreeFrames(bot, eot, split);
        var file = new DicomFile(ds, DicomTransferSyntax.JPEGBaseline8Bit);
        var back = MedAiNode.Dicom.IO.DicomFile.Read(new MemoryStream(file.ToBytes()));
        Assert.Equal(DicomTransferSyntax.JPEGBaseline8Bit, back.TransferSyntax);
        var px = new DicomPixelData(back.Dataset, back.TransferSyntax);
        Assert.Equal(new byte[] { 0xFF, 0xD8, 1, 1 }, px.GetFrame(0).ToArray());
        Assert.Equal(new byte[] { 0xFF, 0xD8, 2, 2, 2, 2 }, px.GetFrame(1).ToArray());
        Assert.Equal(new byte[] { 0xFF, 0xD8, 3, 3 }, px.GetFrame(2).ToArray());
        Assert.Throws<ArgumentOutOfRangeException>(() => px.GetFrame(3));
    }

    [Fact]
    public void Writing_compressed_pixel_data_as_another_syntax_needs_a_transcoder()
    {
        var file = new DicomFile(ThreeFrames(true, false, false), DicomTransferSyntax.JPEGBaseline8Bit);
        var e = Assert.Throws<InvalidOperationException>(() => file.ToBytes(DicomTransferSyntax.ExplicitVRLittleEndian));
        Assert.Contains("transcoder", e.Message);
    }
}
