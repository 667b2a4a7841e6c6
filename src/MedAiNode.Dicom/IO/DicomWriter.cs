using System.Buffers;
using System.Buffers.Binary;

namespace MedAiNode.Dicom.IO;

public sealed class DicomWriteOptions
{
    public static DicomWriteOptions Default { get; } = new();
    /// <summary>Group length elements (gggg,0000) other than File Meta's: recalculated when present (as DCMTK does), kept as read, or dropped.</summary>
    public GroupLengthPolicy GroupLengths { get; init; } = GroupLengthPolicy.Recalculate;
    internal bool RemoveGroupLengths => GroupLengths == GroupLengthPolicy.Remove;
    /// <summary>Write every sequence and item with explicit lengths, ignoring how they were read.</summary>
    public bool ForceDefinedLengths { get; init; }
    /// <summary>fsync the file before Save returns.</summary>
    public bool FlushToDisk { get; init; }
}

public enum GroupLengthPolicy { Recalculate, Keep, Remove }

/// <summary>Encodes a dataset in a transfer syntax (PS3.5 section 7). Sequences and items keep the length style they were read with.</summary>
public sealed class DicomWriter
{
    private readonly Stream _out;
    private readonly bool _explicit;
    private readonly bool _bigEndian;
    private readonly DicomWriteOptions _options;

    public DicomWriter(Stream output, DicomTransferSyntax ts, DicomWriteOptions? options = null)
    {
        _out = output;
        _explicit = ts.IsExplicitVR;
        _bigEndian = ts.IsBigEndian;
        _options = options ?? DicomWriteOptions.Default;
    }

    /// <summary>File Meta is always Explicit VR Little Endian, with its group length computed here.</summary>
    public static void WriteFileMeta(Stream output, DicomDataset meta)
    {
        var w = new DicomWriter(output, DicomTransferSyntax.ExplicitVRLittleEndian);
        var body = meta.Where(a => a.Tag.Group == 2 && a.Tag.Element != 0).ToList();
        var length = body.Sum(a => w.EncodedLength(a));
        w.WriteHeader(DicomTags.FileMetaInformationGroupLength, DicomVR.UL, 4);
        w.WriteUInt32((uint)length);
        foreach (var a in body) w.WriteAttribute(a);
    }

    public void WriteDataset(DicomDataset ds)
    {
        foreach (var a in ds)
        {
            if (a.Tag.Group == 2) continue; // File Meta is written apart from the dataset
            if (a.Tag.Element == 0)
            {
                if (_options.RemoveGroupLengths) continue;
                if (_options.GroupLengths == GroupLengthPolicy.Keep && a is DicomElement { Length: 4 })
                {
                    WriteAttribute(a);
                    continue;
                }
                var group = a.Tag.Group;
                var len = ds.Where(x => x.Tag.Group == group && x.Tag.Element != 0).Sum(x => EncodedLength(x));
                WriteHeader(a.Tag, DicomVR.UL, 4);
                WriteUInt32((uint)len);
                continue;
            }
            WriteAttribute(a);
        }
    }

    private DicomVR WireVR(DicomAttribute a) =>
        // A short-length VR cannot carry 64 KiB or more in explicit VR; PS3.5 6.2.2 says to send it as UN.
        _explicit && a is DicomElement e && !e.VR.HasLongLength && PaddedLength(e) > 0xFFFF ? DicomVR.UN : a.VR;

    private static long PaddedLength(DicomElement e) => (e.Length + 1) & ~1L;

    /// <summary>Encoded size of an attribute, header included.</summary>
    public long EncodedLength(DicomAttribute a)
    {
        var vr = WireVR(a);
        var header = !_explicit ? 8 : vr.HasLongLength ? 12 : 8;
        switch (a)
        {
            case DicomElement e:
                return header + PaddedLength(e);
            case DicomSequence s:
            {
                long body = 0;
                foreach (var item in s.Items) body += ItemLength(item);
                return header + body + (UndefinedSeq(s) ? 8 : 0);
            }
            case DicomFragmentSequence f:
            {
                long body = 8 + ((f.OffsetTable.Length + 1) & ~1);
                foreach (var frag in f.Fragments) body += 8 + ((frag.Length + 1) & ~1);
                return header + body + 8;
            }
        }
        throw new InvalidOperationException("Unknown attribute type");
    }

    private bool UndefinedSeq(DicomSequence s) => s.UndefinedLength && !_options.ForceDefinedLengths;
    private bool UndefinedItem(DicomDataset d) => d.UndefinedLength && !_options.ForceDefinedLengths;

    private long ItemLength(DicomDataset item) => 8 + ItemBodyLength(item) + (UndefinedItem(item) ? 8 : 0);

    private long ItemBodyLength(DicomDataset item)
    {
        long n = 0;
        foreach (var a in item)
        {
            if (a.Tag.Element == 0 && _options.RemoveGroupLengths) continue;
            n += EncodedLength(a);
        }
        return n;
    }

    public void WriteAttribute(DicomAttribute a)
    {
        switch (a)
        {
            case DicomElement e:
            {
                var vr = WireVR(e);
                var padded = PaddedLength(e);
                WriteHeader(e.Tag, vr, (uint)padded);
                WriteValue(e, vr);
                break;
            }
            case DicomSequence s:
            {
                var undefined = UndefinedSeq(s);
                long body = 0;
                if (!undefined) foreach (var item in s.Items) body += ItemLength(item);
                WriteHeader(s.Tag, DicomVR.SQ, undefined ? 0xFFFFFFFF : checked((uint)body));
                foreach (var item in s.Items)
                {
                    var undefItem = UndefinedItem(item);
                    WriteItemTag(DicomTag.Item, undefItem ? 0xFFFFFFFF : checked((uint)ItemBodyLength(item)));
                    WriteDataset(item);
                    if (undefItem) WriteItemTag(DicomTag.ItemDelimitation, 0);
                }
                if (undefined) WriteItemTag(DicomTag.SequenceDelimitation, 0);
                break;
            }
            case DicomFragmentSequence f:
            {
                WriteHeader(f.Tag, f.VR, 0xFFFFFFFF);
                WriteFragment(f.OffsetTable);
                foreach (var frag in f.Fragments) WriteFragment(frag);
                WriteItemTag(DicomTag.SequenceDelimitation, 0);
                break;
            }
        }
    }

    private void WriteFragment(IByteBuffer b)
    {
        WriteItemTag(DicomTag.Item, (uint)((b.Length + 1) & ~1));
        CopyBuffer(b, 1);
        if ((b.Length & 1) == 1) _out.WriteByte(0);
    }

    private void WriteItemTag(DicomTag tag, uint length)
    {
        WriteUInt16(tag.Group);
        WriteUInt16(tag.Element);
        WriteUInt32(length);
    }

    private void WriteHeader(DicomTag tag, DicomVR vr, uint length)
    {
        WriteUInt16(tag.Group);
        WriteUInt16(tag.Element);
        if (!_explicit)
        {
            WriteUInt32(length);
            return;
        }
        _out.WriteByte((byte)vr.Code[0]);
        _out.WriteByte((byte)vr.Code[1]);
        if (vr.HasLongLength)
        {
            WriteUInt16(0);
            WriteUInt32(length);
        }
        else WriteUInt16((ushort)length);
    }

    private void WriteValue(DicomElement e, DicomVR wireVR)
    {
        var swap = _bigEndian && e.VR.UnitSize > 1 ? e.VR.UnitSize : 1;
        if (_bigEndian && e.VR == DicomVR.AT) swap = 2;
        CopyBuffer(e.Buffer, swap);
        if ((e.Length & 1) == 1) _out.WriteByte(e.VR.PaddingByte);
    }

    private void CopyBuffer(IByteBuffer b, int swap)
    {
        if (b.Length == 0) return;
        if (b.IsMemory && swap == 1)
        {
            _out.Write(b.GetData().Span);
            return;
        }
        // Stream file-backed values through a pooled chunk instead of loading them whole.
        const int chunk = 1 << 20;
        var rented = ArrayPool<byte>.Shared.Rent(Math.Min(chunk, b.Length));
        try
        {
            for (var off = 0; off < b.Length; off += chunk)
            {
                var n = Math.Min(chunk, b.Length - off);
                var span = rented.AsSpan(0, n);
                b.CopyTo(span, off);
                if (swap > 1) ByteOrder.Swap(span, swap);
                _out.Write(span);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    private void WriteUInt16(ushort v)
    {
        Span<byte> b = stackalloc byte[2];
        if (_bigEndian) BinaryPrimitives.WriteUInt16BigEndian(b, v); else BinaryPrimitives.WriteUInt16LittleEndian(b, v);
        _out.Write(b);
    }

    private void WriteUInt32(uint v)
    {
        Span<byte> b = stackalloc byte[4];
        if (_bigEndian) BinaryPrimitives.WriteUInt32BigEndian(b, v); else BinaryPrimitives.WriteUInt32LittleEndian(b, v);
        _out.Write(b);
    }
}
