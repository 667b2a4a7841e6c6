using System.IO.Compression;

namespace MedAiNode.Dicom.IO;

public sealed class DicomReadOptions
{
    public static DicomReadOptions Default { get; } = new();
    /// <summary>Values at least this long are left in the file and read on demand (file sources only).</summary>
    public int LazyThreshold { get; init; } = 64 * 1024;
    /// <summary>Values at least <see cref="LazyThreshold"/> long, read from a <see cref="MemoryStream"/> that exposes its
    /// buffer, are slices of that buffer, not copies: the caller keeps the buffer unchanged while the dataset is used
    /// (the SCP's in-memory intake: no second copy of each instance's pixel data).</summary>
    public bool SliceMemoryStreams { get; init; }
    /// <summary>Stop before Pixel Data: reads only what is needed to sort and select instances.</summary>
    public bool StopBeforePixelData { get; init; }
    /// <summary>Nested sequences deeper than this are refused as malformed.</summary>
    public int MaxDepth { get; init; } = 48;
}

/// <summary>Parses a dataset from a stream in a given transfer syntax (PS3.5 section 7).</summary>
internal sealed class DicomReader
{
    private readonly DicomInput _in;
    private readonly DicomReadOptions _options;
    private readonly string? _filePath; // when set and the stream is the plain file, large values stay in the file
    private readonly FileStamp? _fileStamp;
    private bool _explicitVR;

    public DicomReader(DicomInput input, bool explicitVR, DicomReadOptions options, string? filePath, FileStamp? fileStamp = null)
    {
        _in = input;
        _explicitVR = explicitVR;
        _options = options;
        _filePath = filePath;
        _fileStamp = fileStamp;
    }

    public bool ExplicitVR => _explicitVR;

    /// <summary>Some writers declare Explicit VR and write Implicit (or the reverse); look at the first element and follow the data.</summary>
    public void DetectVRFromData()
    {
        var p = _in.Peek(6);
        if (p.Length < 6) return;
        var group = _in.BigEndian ? (ushort)(p[0] << 8 | p[1]) : (ushort)(p[1] << 8 | p[0]);
        if (group == 0xFFFE) return;
        var looksExplicit = p[4] is >= (byte)'A' and <= (byte)'Z' && p[5] is >= (byte)'A' and <= (byte)'Z' && DicomVR.TryGet(p[4], p[5], out _);
        if (_explicitVR && !looksExplicit) _explicitVR = false;
        else if (!_explicitVR && looksExplicit && !_in.BigEndian) _explicitVR = true;
    }

    /// <summary>Reads attributes into <paramref name="ds"/> until <paramref name="end"/>, an item delimiter, the end of data,
    /// or <paramref name="stop"/> says so for the next tag.</summary>
    public void ReadDataset(DicomDataset ds, long end, int depth, bool inUndefinedItem, Func<DicomTag, bool>? stop = null)
    {
        if (depth > _options.MaxDepth)
            throw new DicomFormatException($"Sequences nested deeper than {_options.MaxDepth} levels", _in.Position);
        var lastTag = 0u;
        while (true)
        {
            if (end >= 0 && _in.Position >= end)
            {
                if (_in.Position > end) throw new DicomFormatException("An element runs past the end of its item", _in.Position);
                return;
            }
            if (!_in.Ensure(4))
            {
                if (inUndefinedItem) throw new DicomFormatException("Data ended inside an item without an item delimiter", _in.Position);
                if (end >= 0) throw new DicomFormatException("Data ended before the end of the item", _in.Position);
                if (!_in.AtEnd) throw new DicomFormatException("Trailing bytes too short for an element tag", _in.Position);
                return;
            }
            var start = _in.Position;
            var peek = _in.Peek(4);
            var group = _in.BigEndian ? (ushort)(peek[0] << 8 | peek[1]) : (ushort)(peek[1] << 8 | peek[0]);
            var element = _in.BigEndian ? (ushort)(peek[2] << 8 | peek[3]) : (ushort)(peek[3] << 8 | peek[2]);
            var tag = new DicomTag(group, element);
            if (stop is not null && stop(tag)) return;
            _in.Skip(4, tag);

            if (tag == DicomTag.ItemDelimitation)
            {
                _in.ReadUInt32(tag);
                if (!inUndefinedItem) throw new DicomFormatException("Item delimiter outside an undefined-length item", start, tag);
                return;
            }
            if (tag.Group == 0xFFFE)
                throw new DicomFormatException("Unexpected item or sequence delimiter in a dataset", start, tag);
            if (tag.Value <= lastTag && ds.Contains(tag))
                throw new DicomFormatException("Duplicate element", start, tag);
            lastTag = Math.Max(lastTag, tag.Value);

            DicomVR vr;
            uint length;
            if (_explicitVR)
            {
                var (a, b) = _in.ReadTwoBytes(tag);
                if (!DicomVR.TryGet(a, b, out vr!))
                {
                    // Some writers put two spaces or nulls where the VR should be; fall back on the dictionary
                    // only when the next two bytes still read as a 16-bit length.
                    if (a is 0x20 or 0 && b is 0x20 or 0) vr = DicomDictionary.GetVR(tag);
                    else throw new DicomFormatException($"Invalid VR bytes 0x{a:X2}{b:X2}", start, tag);
                    length = _in.ReadUInt16(tag);
                }
                else if (vr.HasLongLength)
                {
                    _in.ReadUInt16(tag); // reserved
                    length = _in.ReadUInt32(tag);
                }
                else length = _in.ReadUInt16(tag);
            }
            else
            {
                vr = ResolveImplicitVR(tag, ds);
                length = _in.ReadUInt32(tag);
            }

            if (length != 0xFFFFFFFF && length > _in.Remaining)
                throw new DicomFormatException($"Value length {length} runs past the end of the data ({_in.Remaining} bytes left)", start, tag);
            if (end >= 0 && length != 0xFFFFFFFF && _in.Position + length > end)
                throw new DicomFormatException($"Value length {length} runs past the end of its item", start, tag);

            if (vr == DicomVR.SQ || length == 0xFFFFFFFF && vr == DicomVR.UN)
            {
                // UN of undefined length is a sequence encoded Implicit VR Little Endian (PS3.5 6.2.2).
                var asImplicit = vr == DicomVR.UN;
                var seq = ReadSequence(tag, length, depth, asImplicit);
                ds.Add(seq);
                continue;
            }
            if (length == 0xFFFFFFFF)
            {
                if (vr == DicomVR.OB || vr == DicomVR.OW || tag == DicomTags.PixelData)
                {
                    ds.Add(ReadFragments(tag, vr));
                    continue;
                }
                throw new DicomFormatException($"Undefined length is not allowed for VR {vr}", start, tag);
            }
            ds.Add(new DicomElement(tag, vr, ReadValue(tag, vr, length)));
        }
    }

    private DicomVR ResolveImplicitVR(DicomTag tag, DicomDataset ds)
    {
        if (tag.Element == 0) return DicomVR.UL;
        if (tag.IsPrivate) return tag.IsPrivateCreator ? DicomVR.LO : DicomVR.UN;
        var entry = DicomDictionary.Find(tag);
        if (entry is null) return DicomVR.UN;
        var vrs = entry.ValueRepresentations;
        if (vrs.Count == 1) return vrs[0];
        if (tag == DicomTags.PixelData) return DicomVR.OW;
        if (vrs.Contains(DicomVR.SS))
        {
            var pr = FindPixelRepresentation(ds);
            return pr == 1 ? DicomVR.SS : DicomVR.US;
        }
        return vrs.Contains(DicomVR.OW) ? DicomVR.OW : vrs[0];
    }

    private static int FindPixelRepresentation(DicomDataset? ds)
    {
        for (; ds is not null; ds = ds.Parent)
            if (ds[DicomTags.PixelRepresentation] is DicomElement e && e.Length >= 2)
                return e.Buffer.GetData().Span[0];
        return 0;
    }

    private IByteBuffer ReadValue(DicomTag tag, DicomVR vr, uint length)
    {
        if (length == 0) return MemoryByteBuffer.Empty;
        var swap = _in.BigEndian && vr.UnitSize > 1 ? vr.UnitSize : 1;
        if (vr == DicomVR.AT && _in.BigEndian) swap = 2;
        if (_filePath is not null && length >= _options.LazyThreshold && _in.CanSeek)
        {
            var buffer = new FileByteBuffer(_filePath, _in.Position, (int)length, swap, _fileStamp);
            _in.Skip(length, tag);
            return buffer;
        }
        if (_options.SliceMemoryStreams && swap == 1 && length >= _options.LazyThreshold && _in.TrySlice(length, tag, out var slice))
            return new MemoryByteBuffer(slice);
        var bytes = _in.ReadBytes(length, tag);
        if (swap > 1) ByteOrder.Swap(bytes, swap);
        return new MemoryByteBuffer(bytes);
    }

    private DicomSequence ReadSequence(DicomTag tag, uint length, int depth, bool implicitItems)
    {
        var seq = new DicomSequence(tag) { UndefinedLength = length == 0xFFFFFFFF };
        var end = length == 0xFFFFFFFF ? -1 : _in.Position + length;
        var saved = _explicitVR;
        if (implicitItems) _explicitVR = false;
        try
        {
            while (true)
            {
                if (end >= 0 && _in.Position >= end) break;
                var at = _in.Position;
                var g = _in.ReadUInt16(tag);
                var e = _in.ReadUInt16(tag);
                var itemTag = new DicomTag(g, e);
                var itemLength = _in.ReadUInt32(tag);
                if (itemTag == DicomTag.SequenceDelimitation)
                {
                    if (end >= 0) throw new DicomFormatException("Sequence delimiter in a defined-length sequence", at, tag);
                    break;
                }
                if (itemTag != DicomTag.Item)
                    throw new DicomFormatException($"Expected an item tag in the sequence, found {itemTag}", at, tag);
                if (itemLength != 0xFFFFFFFF && itemLength > _in.Remaining)
                    throw new DicomFormatException($"Item length {itemLength} runs past the end of the data", at, tag);
                if (end >= 0 && itemLength != 0xFFFFFFFF && _in.Position + itemLength > end)
                    throw new DicomFormatException($"Item length {itemLength} runs past the end of its sequence", at, tag);
                var item = new DicomDataset { UndefinedLength = itemLength == 0xFFFFFFFF };
                seq.Items.Add(item);
                var itemEnd = itemLength == 0xFFFFFFFF ? -1 : _in.Position + itemLength;
                ReadDataset(item, itemEnd, depth + 1, itemEnd < 0);
            }
        }
        finally
        {
            _explicitVR = saved;
        }
        return seq;
    }

    private DicomFragmentSequence ReadFragments(DicomTag tag, DicomVR vr)
    {
        var frags = new DicomFragmentSequence(tag, vr);
        var first = true;
        while (true)
        {
            var at = _in.Position;
            var g = _in.ReadUInt16(tag);
            var e = _in.ReadUInt16(tag);
            var itemTag = new DicomTag(g, e);
            var len = _in.ReadUInt32(tag);
            if (itemTag == DicomTag.SequenceDelimitation) break;
            if (itemTag != DicomTag.Item)
                throw new DicomFormatException($"Expected a fragment item in encapsulated pixel data, found {itemTag}", at, tag);
            if (len == 0xFFFFFFFF)
                throw new DicomFormatException("Fragment with undefined length", at, tag);
            var buffer = ReadValue(tag, DicomVR.OB, len);
            if (first) frags.OffsetTable = buffer;
            else frags.Fragments.Add(buffer);
            first = false;
        }
        return frags;
    }

    /// <summary>Wraps the rest of a deflated stream (PS3.5 A.5: raw deflate, no zlib header).</summary>
    internal static Stream Inflate(Stream stream) => new DeflateStream(stream, CompressionMode.Decompress, leaveOpen: true);
}
