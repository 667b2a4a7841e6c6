namespace MedAiNode.Dicom;

/// <summary>
/// The Image Pixel module of a dataset and access to its frames, native or encapsulated. Encapsulated frames are found
/// through the Extended Offset Table, then the Basic Offset Table, then one-fragment-per-frame, then codestream start markers.
/// </summary>
public sealed class DicomPixelData
{
    private readonly DicomDataset _ds;

    public DicomPixelData(DicomDataset ds, DicomTransferSyntax transferSyntax)
    {
        _ds = ds;
        TransferSyntax = transferSyntax;
        Rows = ds.GetValueOrDefault<int>(DicomTags.Rows, 0);
        Columns = ds.GetValueOrDefault<int>(DicomTags.Columns, 0);
        BitsAllocated = ds.GetValueOrDefault<int>(DicomTags.BitsAllocated, 0);
        BitsStored = ds.GetValueOrDefault<int>(DicomTags.BitsStored, BitsAllocated);
        HighBit = ds.GetValueOrDefault<int>(DicomTags.HighBit, BitsStored - 1);
        SamplesPerPixel = ds.GetValueOrDefault<int>(DicomTags.SamplesPerPixel, 1);
        PixelRepresentation = ds.GetValueOrDefault<int>(DicomTags.PixelRepresentation, 0);
        PlanarConfiguration = ds.GetValueOrDefault<int>(DicomTags.PlanarConfiguration, 0);
        NumberOfFrames = Math.Max(1, ds.GetValueOrDefault<int>(DicomTags.NumberOfFrames, 1));
        PhotometricInterpretation = ds.GetString(DicomTags.PhotometricInterpretation) ?? "";
    }

    public DicomTransferSyntax TransferSyntax { get; }
    public int Rows { get; }
    public int Columns { get; }
    public int BitsAllocated { get; }
    public int BitsStored { get; }
    public int HighBit { get; }
    public int SamplesPerPixel { get; }
    public int PixelRepresentation { get; }
    public int PlanarConfiguration { get; }
    public int NumberOfFrames { get; }
    public string PhotometricInterpretation { get; }
    public bool IsSigned => PixelRepresentation == 1;
    public bool IsEncapsulated => _ds[DicomTags.PixelData] is DicomFragmentSequence;

    /// <summary>Bytes of one uncompressed frame. BitsAllocated 1 frames are bit-packed (PS3.5 8.1.1).</summary>
    public long FrameSize => BitsAllocated == 1
        ? ((long)Rows * Columns * SamplesPerPixel + 7) / 8
        : (long)Rows * Columns * SamplesPerPixel * ((BitsAllocated + 7) / 8);

    /// <summary>The bytes of one frame as stored: native pixels, or the frame's compressed codestream.</summary>
    public ReadOnlyMemory<byte> GetFrame(int index)
    {
        if (index < 0 || index >= NumberOfFrames) throw new ArgumentOutOfRangeException(nameof(index), $"Frame {index} of {NumberOfFrames}.");
        switch (_ds[DicomTags.PixelData] ?? _ds[DicomTags.FloatPixelData] ?? _ds[DicomTags.DoubleFloatPixelData])
        {
            case null:
                throw new InvalidOperationException("The dataset has no pixel data.");
            case DicomElement e:
                if (BitsAllocated == 1 && NumberOfFrames > 1)
                    return ExtractBitFrame(e, index);
                var size = FrameSize;
                if ((index + 1) * size > e.Length)
                    throw new DicomFormatException($"Pixel Data holds {e.Length} bytes; frame {index + 1} of {size} bytes needs {(index + 1) * size}", -1, e.Tag);
                var bytes = new byte[size];
                e.Buffer.CopyTo(bytes, checked((int)(index * size)));
                return bytes;
            case DicomFragmentSequence f:
                return GetEncapsulatedFrame(f, index);
            default:
                throw new InvalidOperationException("Unexpected pixel data attribute.");
        }
    }

    /// <summary>
    /// Copies native frame <paramref name="index"/> (<see cref="FrameSize"/> bytes) into <paramref name="destination"/>
    /// without an array of its own, read straight from the file for a lazily read value; false when the pixel data is
    /// encapsulated or bit-packed (use <see cref="GetFrame"/>).
    /// </summary>
    public bool TryCopyFrame(int index, Span<byte> destination)
    {
        if (index < 0 || index >= NumberOfFrames) throw new ArgumentOutOfRangeException(nameof(index), $"Frame {index} of {NumberOfFrames}.");
        if ((_ds[DicomTags.PixelData] ?? _ds[DicomTags.FloatPixelData] ?? _ds[DicomTags.DoubleFloatPixelData]) is not DicomElement e || BitsAllocated == 1) return false;
        var size = FrameSize;
        if ((index + 1) * size > e.Length)
            throw new DicomFormatException($"Pixel Data holds {e.Length} bytes; frame {index + 1} of {size} bytes needs {(index + 1) * size}", -1, e.Tag);
        if (destination.Length < size) throw new ArgumentException($"{destination.Length} bytes cannot hold a frame of {size}.", nameof(destination));
        e.Buffer.CopyTo(destination[..(int)size], checked((int)(index * size)));
        return true;
    }

    private ReadOnlyMemory<byte> ExtractBitFrame(DicomElement e, int index)
    {
        // Multi-frame 1-bit data is packed across frame boundaries.
        var bits = (long)Rows * Columns * SamplesPerPixel;
        var all = e.Buffer.GetData().Span;
        var result = new byte[(bits + 7) / 8];
        var start = index * bits;
        for (long i = 0; i < bits; i++)
        {
            var src = start + i;
            if ((all[(int)(src >> 3)] >> (int)(src & 7) & 1) != 0) result[i >> 3] |= (byte)(1 << (int)(i & 7));
        }
        return result;
    }

    private ReadOnlyMemory<byte> GetEncapsulatedFrame(DicomFragmentSequence f, int index)
    {
        var frags = f.Fragments;
        if (frags.Count == 0) throw new DicomFormatException("Encapsulated pixel data has no fragments", -1, f.Tag);

        // Extended Offset Table (7FE0,0001) with its lengths (7FE0,0002).
        var eot = _ds.GetValues<ulong>(DicomTags.ExtendedOffsetTable);
        var eotLengths = _ds.GetValues<ulong>(DicomTags.ExtendedOffsetTableLengths);
        if (eot.Length == NumberOfFrames)
            return Collect(frags, (long)eot[index], eotLengths.Length == eot.Length ? (long)eotLengths[index] : -1, index + 1 < eot.Length ? (long)eot[index + 1] : long.MaxValue);

        var bot = f.GetOffsets();
        if (bot.Length == NumberOfFrames && NumberOfFrames > 0)
            return Collect(frags, bot[index], -1, index + 1 < bot.Length ? bot[index + 1] : long.MaxValue);

        if (NumberOfFrames == 1) return Concat(frags, 0, frags.Count);
        if (frags.Count == NumberOfFrames) return frags[index].GetData();

        // No usable table: a frame starts at each fragment that begins a codestream (JPEG SOI, JPEG 2000 SOC).
        var starts = new List<int>();
        for (var i = 0; i < frags.Count; i++)
        {
            var head = new byte[Math.Min(2, frags[i].Length)];
            frags[i].CopyTo(head);
            if (head.Length == 2 && head[0] == 0xFF && head[1] is 0xD8 or 0x4F) starts.Add(i);
        }
        if (starts.Count != NumberOfFrames)
            throw new DicomFormatException($"Cannot tell which of {frags.Count} fragments belong to frame {index + 1} of {NumberOfFrames}", -1, f.Tag);
        var end = index + 1 < starts.Count ? starts[index + 1] : frags.Count;
        return Concat(frags, starts[index], end);
    }

    /// <summary>Gathers fragments whose item starts at <paramref name="offset"/> (measured from the first fragment's item tag).</summary>
    private static ReadOnlyMemory<byte> Collect(List<IByteBuffer> frags, long offset, long length, long nextOffset)
    {
        long pos = 0;
        var first = -1;
        var last = frags.Count;
        for (var i = 0; i < frags.Count; i++)
        {
            if (pos == offset) first = i;
            if (first >= 0 && pos >= nextOffset) { last = i; break; }
            pos += 8 + frags[i].Length;
        }
        if (first < 0) throw new DicomFormatException($"Offset table entry {offset} does not point at a fragment");
        var data = Concat(frags, first, last);
        return length >= 0 && length <= data.Length ? data[..(int)length] : data;
    }

    private static ReadOnlyMemory<byte> Concat(List<IByteBuffer> frags, int from, int to)
    {
        if (to - from == 1) return frags[from].GetData();
        var total = 0;
        for (var i = from; i < to; i++) total += frags[i].Length;
        var result = new byte[total];
        var at = 0;
        for (var i = from; i < to; i++)
        {
            frags[i].CopyTo(result.AsSpan(at, frags[i].Length));
            at += frags[i].Length;
        }
        return result;
    }
}
