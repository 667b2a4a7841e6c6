using System.Text.Json.Nodes;
using MedAiNode.Dicom.IO;
using MedAiNode.Dicom.Json;

namespace MedAiNode.Dicom.Tests;

/// <summary>Writing in each transfer syntax, and reading back with ours, DCMTK and pydicom.</summary>
public class RoundTripTests
{
    public static IEnumerable<object[]> ExplicitLittleEndianFiles =>
        TestData.AllDicomFiles()
            .Where(p => DicomFile.Open(p).TransferSyntax == DicomTransferSyntax.ExplicitVRLittleEndian)
            .Select(p => new object[] { Path.GetRelativePath(TestData.SharedData, p) });

    public static IEnumerable<object[]> WritableSyntaxes => new[]
    {
        new object[] { DicomUids.ImplicitVRLittleEndian },
        new object[] { DicomUids.ExplicitVRLittleEndian },
        new object[] { DicomUids.ExplicitVRBigEndian },
        new object[] { DicomUids.DeflatedExplicitVRLittleEndian },
    };

    [Theory]
    [MemberData(nameof(ExplicitLittleEndianFiles))]
    public void Unmodified_explicit_little_endian_file_rewrites_byte_for_byte(string relativePath)
    {
        var path = Path.Combine(TestData.SharedData, relativePath);
        var original = File.ReadAllBytes(path);
        var file = DicomFile.Open(path);
        var rewritten = file.ToBytes();
        if (!original.AsSpan().SequenceEqual(rewritten))
        {
            // Only a wrong group length may differ: the writer corrects those, as DCMTK does. Kept as read, the file is identical.
            var wrong = file.Dataset.Where(a => a.Tag.Element == 0 && a is DicomElement).Select(a => a.Tag)
                .Where(t => file.Dataset.GetValue<uint>(t) != GroupLength(file.Dataset, t.Group)).ToList();
            Assert.True(wrong.Count > 0, $"rewrite differs at offset {FirstDiff(original, rewritten)} and no group length was wrong");
            using var ms = new MemoryStream();
            file.Write(ms, null, new DicomWriteOptions { GroupLengths = GroupLengthPolicy.Keep });
            rewritten = ms.ToArray();
        }
        Assert.True(original.AsSpan().SequenceEqual(rewritten), $"first differing byte at offset {FirstDiff(original, rewritten)}");
    }

    [Theory]
    [MemberData(nameof(WritableSyntaxes))]
    public void Real_ct_written_in_each_syntax_reads_back_the_same_with_ours_dcmtk_and_pydicom(string tsUid)
    {
        var ts = DicomTransferSyntax.Get(tsUid);
        var source = DicomFile.Open(TestData.Path_("ct", "philips-phantom-5mm", "I10.dcm"));
        var dir = TestData.TempDir("roundtrip");
        var outPath = Path.Combine(dir, "out.dcm");
        source.Save(outPath, ts);

        var back = DicomFile.Open(outPath);
        Assert.Equal(ts, back.TransferSyntax);
        Assert.Equal(Flatten(Comparable(Json(source.Dataset), ts)), Flatten(Comparable(Json(back.Dataset), ts)));
        Assert.Equal(source.Dataset.GetBytes(DicomTags.PixelData).ToArray(), back.Dataset.GetBytes(DicomTags.PixelData).ToArray());

        // DCMTK reads it without complaint and sees the same elements.
        var dump = Tool.Run("dcmdump", new[] { "-q", "+L", outPath });
        Assert.True(dump.ExitCode == 0 && dump.StdErr.Length == 0, dump.StdErr);
        var dcm2json = Tool.Run("dcm2json", new[] { outPath });
        Assert.True(dcm2json.ExitCode == 0, dcm2json.StdErr);
        // Implicit VR carries no VR: private elements come back as UN (DCMTK and pydicom do the same), so they are compared only when VRs travel.
        var expected = Comparable(Json(source.Dataset), ts);
        Assert.Equal(Flatten(expected), Flatten(Comparable(dcm2json.StdOut, ts)));

        // pydicom reads the same values and the same pixels.
        var py = Tool.Python("""
import sys, json, hashlib, pydicom
ds = pydicom.dcmread(sys.argv[1])
print(json.dumps({'ts': str(ds.file_meta.TransferSyntaxUID), 'pixels': hashlib.sha256(ds.PixelData).hexdigest(),
  'json': ds.to_json_dict(bulk_data_threshold=1 << 30, bulk_data_element_handler=None)}))
""", outPath);
        Assert.True(py.ExitCode == 0, py.StdErr);
        var pyResult = JsonNode.Parse(py.StdOut)!;
        Assert.Equal(ts.Uid, pyResult["ts"]!.GetValue<string>());
        // pydicom hands back Pixel Data bytes as stored, so big-endian OW comes back byte-swapped.
        var pixels = source.Dataset.GetBytes(DicomTags.PixelData).ToArray();
        if (ts.IsBigEndian) for (var i = 0; i + 1 < pixels.Length; i += 2) (pixels[i], pixels[i + 1]) = (pixels[i + 1], pixels[i]);
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(pixels)), pyResult["pixels"]!.GetValue<string>());
        // pydicom keeps the original Specific Character Set in its JSON; ours declares UTF-8 like DCMTK.
        var pydicomView = Comparable(pyResult["json"]!.ToJsonString(), ts);
        pydicomView.Remove("00080005 CS");
        expected.Remove("00080005 CS");
        if (ts.IsBigEndian)
            foreach (var k in expected.Keys.Where(k => k.EndsWith(" OW", StringComparison.Ordinal)).ToList()) { expected.Remove(k); pydicomView.Remove(k); }
        Assert.Equal(Flatten(expected), Flatten(pydicomView));
    }

    [Fact]
    public void Created_dataset_gets_file_meta_with_our_implementation_identity()
    {
        var ds = new DicomDataset()
            .Set(DicomTags.SOPClassUID, DicomUids.SecondaryCaptureImageStorage)
            .Set(DicomTags.SOPInstanceUID, DicomUidGenerator.Default.Generate())
            .Set(DicomTags.PatientName, "Test^Patient");
        var bytes = new DicomFile(ds).ToBytes();
        var back = DicomFile.Read(new MemoryStream(bytes));
        Assert.Equal(DicomFile.ImplementationClassUid, back.FileMetaInfo.GetString(DicomTags.ImplementationClassUID));
        Assert.Equal(ds.GetString(DicomTags.SOPInstanceUID), back.FileMetaInfo.GetString(DicomTags.MediaStorageSOPInstanceUID));
        Assert.Equal(new byte[] { 0, 1 }, back.FileMetaInfo.GetBytes(DicomTags.FileMetaInformationVersion).ToArray());
        Assert.Equal("Test^Patient", back.Dataset.GetString(DicomTags.PatientName));
    }

    [Fact]
    public void Sequences_keep_defined_or_undefined_lengths_and_can_be_forced_defined()
    {
        var item = new DicomDataset().Set(DicomTags.CodeValue, "T-D4000").Set(DicomTags.CodingSchemeDesignator, "SRT");
        var ds = new DicomDataset().Set(DicomTags.SOPInstanceUID, "1.2.3");
        ds.SetSequence(DicomTags.AnatomicRegionSequence, item).UndefinedLength = true;
        item.UndefinedLength = true;
        var file = new DicomFile(ds);
        var undefinedBytes = file.ToBytes();
        Assert.Contains(undefinedBytes.AsSpan().IndexOf(new byte[] { 0xFE, 0xFF, 0xDD, 0xE0 }), new[] { undefinedBytes.AsSpan().IndexOf(new byte[] { 0xFE, 0xFF, 0xDD, 0xE0 }) });
        Assert.True(undefinedBytes.AsSpan().IndexOf(new byte[] { 0xFE, 0xFF, 0xDD, 0xE0 }) > 0);

        using var ms = new MemoryStream();
        file.Write(ms, null, new DicomWriteOptions { ForceDefinedLengths = true });
        var defined = ms.ToArray();
        Assert.True(defined.AsSpan().IndexOf(new byte[] { 0xFE, 0xFF, 0xDD, 0xE0 }) < 0, "no sequence delimiter when lengths are defined");
        var back = DicomFile.Read(new MemoryStream(defined));
        Assert.Equal("T-D4000", back.Dataset.GetSequence(DicomTags.AnatomicRegionSequence)!.Items[0].GetString(DicomTags.CodeValue));
        Assert.False(back.Dataset.GetSequence(DicomTags.AnatomicRegionSequence)!.UndefinedLength);
    }

    [Fact]
    public void File_without_preamble_or_meta_is_read_by_guessing_the_syntax()
    {
        var source = DicomFile.Open(TestData.Path_("seg-sr", "highdicom", "ct_image.dcm"));
        foreach (var ts in new[] { DicomTransferSyntax.ImplicitVRLittleEndian, DicomTransferSyntax.ExplicitVRLittleEndian })
        {
            using var ms = new MemoryStream();
            new DicomWriter(ms, ts).WriteDataset(source.Dataset);
            ms.Position = 0;
            var back = DicomFile.Read(ms);
            Assert.Equal(ts, back.TransferSyntax);
            Assert.Null(back.Preamble);
            Assert.Equal(Flatten(Comparable(Json(source.Dataset), ts)), Flatten(Comparable(Json(back.Dataset), ts)));
        }
    }

    [Fact]
    public void Large_values_are_left_in_the_file_until_asked_for()
    {
        var path = TestData.Path_("ct", "philips-phantom-5mm", "I10.dcm");
        var file = DicomFile.Open(path);
        var pixel = Assert.IsType<DicomElement>(file.Dataset[DicomTags.PixelData]);
        Assert.False(pixel.Buffer.IsMemory);
        Assert.Equal(512 * 512 * 2, pixel.Length);
        var headerOnly = DicomFile.Open(path, new DicomReadOptions { StopBeforePixelData = true });
        Assert.False(headerOnly.Dataset.Contains(DicomTags.PixelData));
        Assert.Equal(file.Dataset.GetString(DicomTags.SOPInstanceUID), headerOnly.Dataset.GetString(DicomTags.SOPInstanceUID));
    }

    [Fact]
    public void A_file_replaced_after_its_header_was_read_is_never_read_at_the_old_offsets()
    {
        // The store files an instance received again by renaming it over the first copy. An analysis that opened the
        // first copy reads its pixels later by path: with a longer header in the new copy the old offset lands in other
        // bytes, which must fail as a changed file (retried), never give shifted pixels or a permanent format error.
        var dir = TestData.TempDir("replaced-file");
        var path = Path.Combine(dir, "I10.dcm");
        File.Copy(TestData.Path_("ct", "philips-phantom-5mm", "I10.dcm"), path);
        var first = DicomFile.Open(path);
        var pixels = Pixels(first).ToArray();

        var again = DicomFile.Open(path);
        again.Dataset.Set(DicomTags.PatientComments, new string('x', 64)); // the same instance, a longer header
        var sent = Path.Combine(dir, "incoming.part");
        again.Save(sent);
        File.Move(sent, path, overwrite: true);

        var changed = Assert.Throws<DicomFileChangedException>(() => Pixels(first));
        Assert.IsAssignableFrom<IOException>(changed);
        Assert.DoesNotContain(dir, changed.Message); // names the file, not the store's folders
        // Opened again, the new copy gives the same pixels (they were not changed, only moved).
        Assert.Equal(pixels, Pixels(DicomFile.Open(path)).ToArray());
        // A file removed since is the same case.
        File.Delete(path);
        Assert.Throws<DicomFileChangedException>(() => Pixels(first));
    }

    private static ReadOnlyMemory<byte> Pixels(DicomFile f) => Assert.IsType<DicomElement>(f.Dataset[DicomTags.PixelData]).Buffer.GetData();

    private static long FirstDiff(byte[] a, byte[] b)
    {
        var n = Math.Min(a.Length, b.Length);
        for (var i = 0; i < n; i++) if (a[i] != b[i]) return i;
        return a.Length == b.Length ? -1 : n;
    }

    private static long GroupLength(DicomDataset ds, ushort group)
    {
        var w = new DicomWriter(Stream.Null, DicomTransferSyntax.ExplicitVRLittleEndian);
        return ds.Where(a => a.Tag.Group == group && a.Tag.Element != 0).Sum(w.EncodedLength);
    }

    internal static string Json(DicomDataset ds) => DicomJson.Serialize(ds, new DicomJsonOptions { OmitPixelData = true });

    private static SortedDictionary<string, object?> Comparable(string json, DicomTransferSyntax ts)
    {
        var c = DcmtkParityTests.Canonical(JsonNode.Parse(json)!.AsObject());
        if (!ts.IsExplicitVR)
            foreach (var k in c.Keys.Where(k => (Convert.ToUInt32(k[..4], 16) & 1) == 1).ToList()) c.Remove(k);
        return c;
    }

    private static string Flatten(SortedDictionary<string, object?> d) => System.Text.Json.JsonSerializer.Serialize(d);

    /// <summary>The SCP's in-memory intake parses a whole Part 10 file from its buffer: large values are slices of that
    /// buffer (no second copy of the pixels), equal to a copying read; small values and big-endian data are copies.</summary>
    [Fact]
    public void Reading_a_memory_stream_with_SliceMemoryStreams_slices_large_values_and_copies_the_rest()
    {
        var bytes = File.ReadAllBytes(TestData.Path_("ct", "philips-phantom-5mm", "I10.dcm"));
        var copied = DicomFile.Read(new MemoryStream(bytes, 0, bytes.Length, writable: false, publiclyVisible: true));
        var sliced = DicomFile.Read(new MemoryStream(bytes, 0, bytes.Length, writable: false, publiclyVisible: true),
            new DicomReadOptions { SliceMemoryStreams = true });
        var pixels = ((DicomElement)sliced.Dataset[DicomTags.PixelData]!).Buffer.GetData();
        Assert.True(pixels.Length >= 64 * 1024);
        Assert.True(pixels.Span.SequenceEqual(((DicomElement)copied.Dataset[DicomTags.PixelData]!).Buffer.GetData().Span));
        Assert.True(System.Runtime.InteropServices.MemoryMarshal.TryGetArray(pixels, out var segment) && ReferenceEquals(segment.Array, bytes),
            "the pixel data is not a slice of the source buffer");
        Assert.Equal(copied.Dataset.GetString(DicomTags.SOPInstanceUID), sliced.Dataset.GetString(DicomTags.SOPInstanceUID));
        var uid = ((DicomElement)sliced.Dataset[DicomTags.SOPInstanceUID]!).Buffer.GetData();
        Assert.False(System.Runtime.InteropServices.MemoryMarshal.TryGetArray(uid, out var small) && ReferenceEquals(small.Array, bytes));
        // A stream that does not expose its buffer: copied as before.
        var hidden = DicomFile.Read(new MemoryStream(bytes, writable: false), new DicomReadOptions { SliceMemoryStreams = true });
        var hiddenPixels = ((DicomElement)hidden.Dataset[DicomTags.PixelData]!).Buffer.GetData();
        Assert.False(System.Runtime.InteropServices.MemoryMarshal.TryGetArray(hiddenPixels, out var h) && ReferenceEquals(h.Array, bytes));
        // Big endian: the reader swaps each value into little-endian order, so it cannot be a slice.
        var big = copied.ToBytes(DicomTransferSyntax.ExplicitVRBigEndian);
        var bigRead = DicomFile.Read(new MemoryStream(big, 0, big.Length, writable: false, publiclyVisible: true), new DicomReadOptions { SliceMemoryStreams = true });
        var bigPixels = ((DicomElement)bigRead.Dataset[DicomTags.PixelData]!).Buffer.GetData();
        Assert.True(bigPixels.Span.SequenceEqual(pixels.Span));
        Assert.False(System.Runtime.InteropServices.MemoryMarshal.TryGetArray(bigPixels, out var b) && ReferenceEquals(b.Array, big));
    }
}
