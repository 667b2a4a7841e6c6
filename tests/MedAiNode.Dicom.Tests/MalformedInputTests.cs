using System.Buffers.Binary;
using System.Diagnostics;
using MedAiNode.Dicom.IO;
using MedAiNode.Dicom.Json;

namespace MedAiNode.Dicom.Tests;

/// <summary>Bad input gives a DicomFormatException naming where, never a hang, a crash or an allocation larger than the data.</summary>
public class MalformedInputTests
{
    private static byte[] Valid() => File.ReadAllBytes(TestData.Path_("seg-sr", "highdicom", "ct_image.dcm"));

    /// <summary>Parses and touches every value, as a consumer would.</summary>
    private static void ParseAndTouch(byte[] data)
    {
        var file = DicomFile.Read(new MemoryStream(data));
        _ = DicomJson.Serialize(file.Dataset);
        _ = DicomDump.Format(file);
    }

    private static DicomFormatException Fails(byte[] data) => Assert.Throws<DicomFormatException>(() => ParseAndTouch(data));

    [Fact]
    public void Truncated_file_names_the_offset_and_tag()
    {
        var data = Valid();
        var cut = data[..(data.Length / 2)];
        var e = Fails(cut);
        Assert.True(e.Offset > 0);
        Assert.NotNull(e.Tag);
        Assert.Contains("offset", e.Message);
    }

    [Fact]
    public void Every_truncation_point_either_parses_or_throws_DicomFormatException()
    {
        var data = Valid();
        for (var n = 0; n < data.Length; n += 7)
        {
            try { ParseAndTouch(data[..n]); }
            catch (DicomFormatException) { }
        }
    }

    [Fact]
    public void Huge_declared_length_is_refused_without_allocating_it()
    {
        var data = Valid();
        // Explicit VR LE: find Patient's Name (0010,0010) PN and claim it is 0xFFF0 bytes long, then a long-VR element claiming ~4 GB.
        var at = IndexOfTag(data, 0x0010, 0x0010);
        BinaryPrimitives.WriteUInt16LittleEndian(data.AsSpan(at + 6), 0xFFF0);
        var e = Fails(data);
        Assert.Equal(new DicomTag(0x0010, 0x0010), e.Tag);
        Assert.Contains("past the end", e.Message);

        var ob = BuildExplicit(w =>
        {
            w.Write(new byte[] { 0x09, 0x00, 0x10, 0x10, (byte)'O', (byte)'B', 0, 0 });
            w.Write(0xFFFFFFF0u);
            w.Write(new byte[16]);
        });
        var before = GC.GetAllocatedBytesForCurrentThread();
        var e2 = Assert.Throws<DicomFormatException>(() => DicomFile.Read(new MemoryStream(ob)));
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 1 << 20, "no large allocation for a lying length");
        Assert.Equal(new DicomTag(0x0009, 0x1010), e2.Tag);
    }

    [Fact]
    public void Lying_length_in_a_deflated_stream_does_not_allocate_the_claim()
    {
        // Deflate hides the real size, so the reader must grow as data arrives rather than trust the length.
        var ds = new DicomDataset().Set(DicomTags.SOPInstanceUID, "1.2.3").Set(DicomTags.PatientID, "X");
        var bytes = new DicomFile(ds).ToBytes(DicomTransferSyntax.DeflatedExplicitVRLittleEndian);
        var file = DicomFile.Read(new MemoryStream(bytes));
        Assert.Equal("X", file.Dataset.GetString(DicomTags.PatientID));

        using var raw = new MemoryStream();
        using (var z = new System.IO.Compression.DeflateStream(raw, System.IO.Compression.CompressionLevel.Fastest, true))
        {
            z.Write(new byte[] { 0x09, 0x00, 0x10, 0x10, (byte)'O', (byte)'B', 0, 0, 0xF0, 0xFF, 0xFF, 0x7F });
            z.Write(new byte[1000]);
        }
        var meta = new DicomFile(new DicomDataset().Set(DicomTags.SOPInstanceUID, "1.2.3"));
        using var ms = new MemoryStream();
        ms.Write(new byte[128]);
        ms.Write("DICM"u8);
        DicomWriter.WriteFileMeta(ms, meta.BuildFileMeta(DicomTransferSyntax.DeflatedExplicitVRLittleEndian));
        ms.Write(raw.ToArray());
        var before = GC.GetAllocatedBytesForCurrentThread();
        Assert.Throws<DicomFormatException>(() => DicomFile.Read(new MemoryStream(ms.ToArray())));
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 64 << 20);
    }

    [Fact]
    public void Invalid_vr_mid_stream_is_reported_with_its_tag()
    {
        var data = Valid();
        var at = IndexOfTag(data, 0x0010, 0x0010);
        data[at + 4] = (byte)'z';
        data[at + 5] = (byte)'!';
        var e = Fails(data);
        Assert.Equal(new DicomTag(0x0010, 0x0010), e.Tag);
        Assert.Contains("VR", e.Message);
    }

    [Fact]
    public void Implicit_data_declared_explicit_is_read_by_following_the_data()
    {
        var source = DicomFile.Open(TestData.Path_("seg-sr", "highdicom", "ct_image.dcm"));
        using var ms = new MemoryStream();
        ms.Write(new byte[128]);
        ms.Write("DICM"u8);
        DicomWriter.WriteFileMeta(ms, source.BuildFileMeta(DicomTransferSyntax.ExplicitVRLittleEndian)); // says explicit
        new DicomWriter(ms, DicomTransferSyntax.ImplicitVRLittleEndian).WriteDataset(source.Dataset);  // is implicit
        var back = DicomFile.Read(new MemoryStream(ms.ToArray()));
        Assert.Equal(source.Dataset.GetString(DicomTags.SOPInstanceUID), back.Dataset.GetString(DicomTags.SOPInstanceUID));
        Assert.Equal(source.Dataset.GetValues<ushort>(DicomTags.Rows), back.Dataset.GetValues<ushort>(DicomTags.Rows));
    }

    [Fact]
    public void Odd_length_value_is_read_like_dcmtk_and_written_back_padded()
    {
        var data = BuildExplicit(w =>
        {
            w.Write(new byte[] { 0x10, 0x00, 0x20, 0x00, (byte)'L', (byte)'O', 3, 0 });
            w.Write("ABC"u8);
        });
        var file = DicomFile.Read(new MemoryStream(data));
        Assert.Equal("ABC", file.Dataset.GetString(DicomTags.PatientID));
        var back = DicomFile.Read(new MemoryStream(file.ToBytes())).Dataset;
        Assert.Equal(4, ((DicomElement)back[DicomTags.PatientID]!).Length);
        Assert.Equal("ABC", back.GetString(DicomTags.PatientID));
    }

    [Fact]
    public void Deeply_nested_sequences_are_refused_not_a_stack_overflow()
    {
        var data = BuildExplicit(w =>
        {
            for (var i = 0; i < 100_000; i++)
            {
                w.Write(new byte[] { 0x08, 0x00, 0x15, 0x11, (byte)'S', (byte)'Q', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF }); // ReferencedSeriesSequence, undefined
                w.Write(new byte[] { 0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF }); // item, undefined
            }
        });
        var e = Assert.Throws<DicomFormatException>(() => DicomFile.Read(new MemoryStream(data)));
        Assert.Contains("nested", e.Message);
    }

    [Fact]
    public void Garbage_and_empty_input_are_rejected_clearly()
    {
        Assert.Throws<DicomFormatException>(() => DicomFile.Read(new MemoryStream([])));
        var noMeta = new byte[200];
        "DICM"u8.CopyTo(noMeta.AsSpan(128));
        Assert.Throws<DicomFormatException>(() => DicomFile.Read(new MemoryStream(noMeta)));
        Assert.Throws<DicomFormatException>(() => ParseAndTouch(System.Text.Encoding.ASCII.GetBytes("this is not a DICOM file at all, just text...")));
    }

    /// <summary>10,000 mutations of real files (byte flips, length fields rewritten, truncations, splices) through the reader.</summary>
    [Fact]
    public void Ten_thousand_mutated_real_files_never_escape_as_anything_but_DicomFormatException()
    {
        var seeds = new[]
        {
            TestData.Path_("seg-sr", "highdicom", "ct_image.dcm"),
            TestData.Path_("seg-sr", "highdicom", "seg_image_ct_binary_overlap.dcm"),
            TestData.Path_("seg-sr", "highdicom", "sr_document_with_multiple_groups.dcm"),
            TestData.Path_("seg-sr", "dcmqi", "sr-example", "sr.dcm"),
            TestData.Path_("compressed", "other", "pydicom_CT_small.dcm"),
        }.Select(File.ReadAllBytes).ToArray();
        var rng = new Random(20261125);
        var sw = Stopwatch.StartNew();
        int parsed = 0, rejected = 0;
        long worstExcess = 0;
        for (var i = 0; i < 10_000; i++)
        {
            var seed = seeds[i % seeds.Length];
            var data = Mutate(seed, rng);
            try
            {
                // The parse alone may allocate a fixed working set plus a few times the input, never what a length claims.
                var before = GC.GetAllocatedBytesForCurrentThread();
                var file = DicomFile.Read(new MemoryStream(data));
                worstExcess = Math.Max(worstExcess, GC.GetAllocatedBytesForCurrentThread() - before - 8L * data.Length);
                _ = DicomJson.Serialize(file.Dataset);
                _ = DicomDump.Format(file);
                parsed++;
            }
            catch (DicomFormatException)
            {
                rejected++;
            }
            catch (Exception e)
            {
                var name = Path.Combine(TestData.TempDir("fuzz-failure"), $"case-{i}.dcm");
                File.WriteAllBytes(name, data);
                Assert.Fail($"mutation {i} escaped as {e.GetType().Name}: {e.Message} (input saved to {name})");
            }
        }
        Assert.True(parsed > 100 && rejected > 100, $"mutations should both parse and fail: {parsed} parsed, {rejected} rejected");
        Assert.True(worstExcess < 256 * 1024, $"a parse allocated {worstExcess} bytes beyond 8x its input");
        Assert.True(sw.Elapsed < TimeSpan.FromMinutes(3), $"took {sw.Elapsed}");
    }

    private static byte[] Mutate(byte[] seed, Random rng)
    {
        var data = (byte[])seed.Clone();
        var header = Math.Min(data.Length, 4096); // where the structure is; pixel bytes are not interesting
        switch (rng.Next(6))
        {
            case 0:
                for (var k = rng.Next(1, 8); k > 0; k--) data[rng.Next(header)] = (byte)rng.Next(256);
                break;
            case 1: // rewrite a 16- or 32-bit field as a length would sit
            {
                var at = rng.Next(132, header - 4) & ~1;
                var v = rng.Next(4) switch { 0 => 0xFFFFFFFFu, 1 => 0u, 2 => (uint)rng.Next(1, 70000), _ => (uint)rng.Next() };
                BinaryPrimitives.WriteUInt32LittleEndian(data.AsSpan(at), v);
                break;
            }
            case 2:
                data = data[..rng.Next(132, data.Length)];
                break;
            case 3: // splice: repeat a header chunk
            {
                var a = rng.Next(132, header - 64);
                var len = rng.Next(8, 64);
                data = data[..a].Concat(data.AsSpan(a, len).ToArray()).Concat(data[a..]).ToArray();
                break;
            }
            case 4: // delete a chunk
            {
                var a = rng.Next(132, header - 64);
                data = data[..a].Concat(data[(a + rng.Next(1, 64))..]).ToArray();
                break;
            }
            default: // make a tag an item or delimiter tag
            {
                var at = rng.Next(132, header - 4) & ~1;
                var pick = rng.Next(3);
                BinaryPrimitives.WriteUInt16LittleEndian(data.AsSpan(at), 0xFFFE);
                BinaryPrimitives.WriteUInt16LittleEndian(data.AsSpan(at + 2), pick == 0 ? (ushort)0xE000 : pick == 1 ? (ushort)0xE00D : (ushort)0xE0DD);
                break;
            }
        }
        return data;
    }

    private static int IndexOfTag(byte[] data, ushort group, ushort element)
    {
        Span<byte> pattern = stackalloc byte[4];
        BinaryPrimitives.WriteUInt16LittleEndian(pattern, group);
        BinaryPrimitives.WriteUInt16LittleEndian(pattern[2..], element);
        var i = data.AsSpan(132).IndexOf(pattern);
        Assert.True(i >= 0);
        return i + 132;
    }

    private static byte[] BuildExplicit(Action<BinaryWriter> body)
    {
        var meta = new DicomFile(new DicomDataset().Set(DicomTags.SOPInstanceUID, "1.2.3"));
        using var ms = new MemoryStream();
        ms.Write(new byte[128]);
        ms.Write("DICM"u8);
        DicomWriter.WriteFileMeta(ms, meta.BuildFileMeta(DicomTransferSyntax.ExplicitVRLittleEndian));
        using var w = new BinaryWriter(ms, System.Text.Encoding.ASCII, leaveOpen: true);
        body(w);
        w.Flush();
        return ms.ToArray();
    }
}
