namespace MedAiNode.Dicom;

/// <summary>One entry of a dataset: a primitive element, a sequence, or encapsulated pixel data.</summary>
public abstract class DicomAttribute
{
    protected DicomAttribute(DicomTag tag, DicomVR vr)
    {
        Tag = tag;
        VR = vr;
    }

    public DicomTag Tag { get; }
    public DicomVR VR { get; }
    public override string ToString() => $"{Tag} {VR} {DicomDictionary.GetKeyword(Tag)}";
}

/// <summary>A primitive data element. Its value bytes are held little-endian, exactly as encoded (padding included).</summary>
public sealed class DicomElement : DicomAttribute
{
    public DicomElement(DicomTag tag, DicomVR vr, IByteBuffer buffer) : base(tag, vr)
    {
        if (vr == DicomVR.SQ) throw new ArgumentException("Use DicomSequence for SQ elements.", nameof(vr));
        Buffer = buffer;
    }

    public DicomElement(DicomTag tag, DicomVR vr, ReadOnlyMemory<byte> bytes) : this(tag, vr, new MemoryByteBuffer(bytes)) { }

    public IByteBuffer Buffer { get; }
    public int Length => Buffer.Length;
}

/// <summary>A sequence of items (SQ), each a nested dataset.</summary>
public sealed class DicomSequence : DicomAttribute
{
    public DicomSequence(DicomTag tag, IEnumerable<DicomDataset>? items = null) : base(tag, DicomVR.SQ)
    {
        if (items is not null) Items.AddRange(items);
    }

    public List<DicomDataset> Items { get; } = new();
    /// <summary>How the sequence was encoded when read; the writer keeps it so an unmodified file re-writes byte for byte.</summary>
    public bool UndefinedLength { get; set; } = true;
}

/// <summary>Encapsulated pixel data (PS3.5 A.4): a Basic Offset Table item followed by fragments.</summary>
public sealed class DicomFragmentSequence : DicomAttribute
{
    public DicomFragmentSequence(DicomTag tag, DicomVR vr) : base(tag, vr) { }

    public IByteBuffer OffsetTable { get; set; } = MemoryByteBuffer.Empty;
    public List<IByteBuffer> Fragments { get; } = new();

    /// <summary>Basic Offset Table entries (byte offsets of each frame's first fragment, from the first fragment's item tag).</summary>
    public uint[] GetOffsets()
    {
        var data = OffsetTable.GetData().Span;
        var result = new uint[data.Length / 4];
        for (var i = 0; i < result.Length; i++) result[i] = BitConverter.ToUInt32(data.Slice(i * 4, 4));
        return result;
    }
}
