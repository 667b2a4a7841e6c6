using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace MedAiNode.Dicom;

public sealed partial class DicomDataset
{
    /// <summary>Sets string values with the dictionary's VR. Values are checked against the VR's rules.</summary>
    public DicomDataset Set(DicomTag tag, params string[] values) => Set(tag, DicomDictionary.GetVR(tag), values);

    /// <summary>Sets a value of any VR from text: strings as given, numbers parsed invariantly, AT as ggggeeee.</summary>
    public DicomDataset Set(DicomTag tag, DicomVR vr, params string[] values)
    {
        if (vr == DicomVR.SQ) throw new ArgumentException($"{tag} is a sequence; use SetSequence.");
        if (!vr.IsString)
        {
            var ci = CultureInfo.InvariantCulture;
            return vr.Code switch
            {
                "US" => Set(tag, vr, values.Select(v => ushort.Parse(v, ci)).ToArray()),
                "SS" => Set(tag, vr, values.Select(v => short.Parse(v, ci)).ToArray()),
                "UL" => Set(tag, vr, values.Select(v => uint.Parse(v, ci)).ToArray()),
                "SL" => Set(tag, vr, values.Select(v => int.Parse(v, ci)).ToArray()),
                "UV" => Set(tag, vr, values.Select(v => ulong.Parse(v, ci)).ToArray()),
                "SV" => Set(tag, vr, values.Select(v => long.Parse(v, ci)).ToArray()),
                "FL" => Set(tag, vr, values.Select(v => float.Parse(v, ci)).ToArray()),
                "FD" => Set(tag, vr, values.Select(v => double.Parse(v, ci)).ToArray()),
                "AT" => SetTags(tag, values.Select(DicomTag.Parse).ToArray()),
                _ => SetBytes(tag, vr, values.Length == 0 ? [] : System.Convert.FromBase64String(values[0])),
            };
        }
        if (!vr.AllowsMultipleValues && values.Length > 1)
            throw new DicomValidationException(tag, vr, $"{vr} holds a single value; {values.Length} were given");
        foreach (var v in values)
            if (DicomValueRules.Check(vr, v) is { } problem) throw new DicomValidationException(tag, vr, problem);
        var text = string.Join('\\', values);
        byte[] bytes;
        if (tag == DicomTags.SpecificCharacterSet)
        {
            foreach (var v in values)
                if (!DicomCharacterSet.IsSupported(v)) throw new DicomValidationException(tag, vr, $"a value of {v.Length} characters is not a supported character set");
            bytes = Encoding.ASCII.GetBytes(text);
        }
        else if (vr.IsCharacterSetSensitive)
        {
            try { bytes = CharacterSet.Encode(text, vr); }
            catch (ArgumentException e) { throw new DicomValidationException(tag, vr, e.Message); }
        }
        else bytes = Encoding.ASCII.GetBytes(text);
        if ((bytes.Length & 1) == 1)
        {
            Array.Resize(ref bytes, bytes.Length + 1);
            bytes[^1] = vr.PaddingByte;
        }
        return Add(new DicomElement(tag, vr, bytes));
    }

    /// <summary>Sets binary numbers (US, SS, UL, SL, FL, FD, SV, UV, and the OB/OW/OF/OD/OL/OV arrays) or IS/DS from numbers.</summary>
    public DicomDataset Set<T>(DicomTag tag, DicomVR vr, params T[] values) where T : unmanaged, INumber<T>
    {
        if (vr == DicomVR.IS || vr == DicomVR.DS)
        {
            var ci = CultureInfo.InvariantCulture;
            var texts = values.Select(v => vr == DicomVR.IS ? long.CreateChecked(v).ToString(ci) : FormatDecimal(double.CreateChecked(v))).ToArray();
            return Set(tag, vr, texts);
        }
        if (vr.IsString || vr == DicomVR.SQ || vr == DicomVR.AT)
            throw new DicomValidationException(tag, vr, $"numbers of type {typeof(T).Name} cannot be stored in {vr}");
        var size = Marshal.SizeOf<T>();
        if (size != vr.UnitSize)
            throw new DicomValidationException(tag, vr, $"{vr} holds {vr.UnitSize}-byte values, not {typeof(T).Name}");
        var bytes = MemoryMarshal.AsBytes(values.AsSpan()).ToArray();
        if (!BitConverter.IsLittleEndian) ByteOrder.Swap(bytes, size);
        return SetBytes(tag, vr, bytes);
    }

    public DicomDataset Set<T>(DicomTag tag, params T[] values) where T : unmanaged, INumber<T> =>
        Set(tag, DicomDictionary.GetVR(tag), values);

    /// <summary>DS values are at most 16 characters; use the shortest round-trip form that fits.</summary>
    public static string FormatDecimal(double value)
    {
        var ci = CultureInfo.InvariantCulture;
        var s = value.ToString("R", ci);
        if (s.Length <= 16) return s;
        for (var digits = 15; digits > 1; digits--)
        {
            s = value.ToString("G" + digits, ci);
            if (s.Length <= 16) return s;
        }
        return value.ToString("E6", ci);
    }

    public DicomDataset SetBytes(DicomTag tag, DicomVR vr, ReadOnlyMemory<byte> bytes)
    {
        if (vr.IsString || vr == DicomVR.SQ)
            throw new DicomValidationException(tag, vr, "raw bytes are only for binary VRs");
        if (vr.UnitSize > 1 && bytes.Length % vr.UnitSize != 0)
            throw new DicomValidationException(tag, vr, $"length {bytes.Length} is not a multiple of {vr.UnitSize}");
        if ((bytes.Length & 1) == 1)
        {
            var padded = new byte[bytes.Length + 1];
            bytes.Span.CopyTo(padded);
            bytes = padded;
        }
        return Add(new DicomElement(tag, vr, bytes));
    }

    public DicomDataset SetTags(DicomTag tag, params DicomTag[] values)
    {
        var bytes = new byte[values.Length * 4];
        for (var i = 0; i < values.Length; i++)
        {
            BitConverter.TryWriteBytes(bytes.AsSpan(i * 4), values[i].Group);
            BitConverter.TryWriteBytes(bytes.AsSpan(i * 4 + 2), values[i].Element);
        }
        return Add(new DicomElement(tag, DicomVR.AT, bytes));
    }

    public DicomDataset SetDate(DicomTag tag, DateOnly date) =>
        Set(tag, DicomVR.DA, date.ToString("yyyyMMdd", CultureInfo.InvariantCulture));

    public DicomDataset SetTime(DicomTag tag, TimeOnly time) =>
        Set(tag, DicomVR.TM, time.ToString("HHmmss.ffffff", CultureInfo.InvariantCulture));

    public DicomDataset SetDateTime(DicomTag tag, DateTimeOffset value) =>
        Set(tag, DicomVR.DT, value.ToString("yyyyMMddHHmmss.ffffff", CultureInfo.InvariantCulture) + DicomDateTime.FormatUtcOffset(value.Offset));

    public DicomDataset SetPersonName(DicomTag tag, DicomPersonName name) => Set(tag, DicomVR.PN, name.ToString());

    /// <summary>Adds an empty (zero-length) element, as Type 2 attributes need.</summary>
    public DicomDataset SetEmpty(DicomTag tag, DicomVR? vr = null)
    {
        var v = vr ?? DicomDictionary.GetVR(tag);
        if (v == DicomVR.SQ) return Add(new DicomSequence(tag));
        return Add(new DicomElement(tag, v, MemoryByteBuffer.Empty));
    }

    public DicomSequence SetSequence(DicomTag tag, params DicomDataset[] items)
    {
        var seq = new DicomSequence(tag, items);
        Add(seq);
        return seq;
    }

    /// <summary>Adds an item to a sequence, creating the sequence when it is absent.</summary>
    public DicomDataset AddItem(DicomTag sequenceTag, DicomDataset item)
    {
        var seq = GetSequence(sequenceTag) ?? SetSequence(sequenceTag);
        seq.Items.Add(item);
        item.Parent = this;
        return item;
    }

    /// <summary>Finds the tag of a private element: the block reserved by <paramref name="creator"/> in <paramref name="group"/>,
    /// reserving the next free block when asked to and none exists.</summary>
    public DicomTag? GetPrivateTag(ushort group, string creator, byte elementOffset, bool reserve = false)
    {
        if ((group & 1) == 0) throw new ArgumentException("Private groups are odd.", nameof(group));
        for (ushort block = 0x10; block <= 0xFF; block++)
        {
            var creatorTag = new DicomTag(group, block);
            if (this[creatorTag] is null)
            {
                if (!reserve) continue;
                Set(creatorTag, DicomVR.LO, creator);
                return new DicomTag(group, (ushort)(block << 8 | elementOffset));
            }
            if (GetString(creatorTag) == creator) return new DicomTag(group, (ushort)(block << 8 | elementOffset));
        }
        if (reserve) throw new InvalidOperationException($"No free private block left in group {group:X4}.");
        return null;
    }

    /// <summary>The private creator that reserved the block of a private data element, if any.</summary>
    public string? GetPrivateCreator(DicomTag tag) =>
        tag.IsPrivate && !tag.IsPrivateCreator && tag.Element > 0xFF ? GetString(tag.PrivateCreatorTag) : null;
}
