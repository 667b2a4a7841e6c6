using System.Globalization;

namespace MedAiNode.Dicom;

/// <summary>A data element tag (group, element), ordered as the standard orders them on the wire.</summary>
public readonly struct DicomTag : IEquatable<DicomTag>, IComparable<DicomTag>
{
    public DicomTag(ushort group, ushort element) => Value = ((uint)group << 16) | element;
    public DicomTag(uint value) => Value = value;

    public uint Value { get; }
    public ushort Group => (ushort)(Value >> 16);
    public ushort Element => (ushort)(Value & 0xFFFF);
    public bool IsPrivate => (Group & 1) == 1;
    /// <summary>(gggg,0010-00FF) in an odd group: reserves a block for a private creator.</summary>
    public bool IsPrivateCreator => IsPrivate && Element >= 0x0010 && Element <= 0x00FF;
    public bool IsGroupLength => Element == 0;

    public static readonly DicomTag Item = new(0xFFFE, 0xE000);
    public static readonly DicomTag ItemDelimitation = new(0xFFFE, 0xE00D);
    public static readonly DicomTag SequenceDelimitation = new(0xFFFE, 0xE0DD);

    /// <summary>For a private data element, the creator element that reserves its block, e.g. (0029,1010) → (0029,0010).</summary>
    public DicomTag PrivateCreatorTag => new(Group, (ushort)(Element >> 8));

    public static DicomTag Parse(string text)
    {
        if (TryParse(text, out var tag)) return tag;
        throw new FormatException($"'{text}' is not a DICOM tag; expected (gggg,eeee), gggg,eeee or ggggeeee.");
    }

    public static bool TryParse(string? text, out DicomTag tag)
    {
        tag = default;
        if (string.IsNullOrWhiteSpace(text)) return false;
        var s = text.Trim().Trim('(', ')').Replace(",", "");
        if (s.Length != 8 || !uint.TryParse(s, NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var v))
        {
            var e = DicomDictionary.FindByKeyword(text.Trim());
            if (e is null) return false;
            tag = new DicomTag(e.Tag);
            return true;
        }
        tag = new DicomTag(v);
        return true;
    }

    public bool Equals(DicomTag other) => Value == other.Value;
    public override bool Equals(object? obj) => obj is DicomTag t && t.Value == Value;
    public override int GetHashCode() => (int)Value;
    public int CompareTo(DicomTag other) => Value.CompareTo(other.Value);
    public static bool operator ==(DicomTag a, DicomTag b) => a.Value == b.Value;
    public static bool operator !=(DicomTag a, DicomTag b) => a.Value != b.Value;
    public static bool operator <(DicomTag a, DicomTag b) => a.Value < b.Value;
    public static bool operator >(DicomTag a, DicomTag b) => a.Value > b.Value;
    public override string ToString() => $"({Group:X4},{Element:X4})";
    /// <summary>The 8-hex-digit form DICOM JSON uses as a key.</summary>
    public string ToJsonKey() => Value.ToString("X8", CultureInfo.InvariantCulture);
}
