namespace MedAiNode.Dicom;

/// <summary>A value representation of PS3.5 section 6.2, with the rules the reader, writer and validator need.</summary>
public sealed class DicomVR : IEquatable<DicomVR>
{
    private DicomVR(string code, DicomVRKind kind, bool longLength, byte pad, int maxLength, int unitSize,
        bool multiValue = true, bool charsetSensitive = false)
    {
        // Set as tuples: the constructor stays private, which a primary constructor (always public) would not.
        (Code, Kind, HasLongLength, PaddingByte) = (code, kind, longLength, pad);
        (MaxLength, UnitSize, AllowsMultipleValues, IsCharacterSetSensitive) = (maxLength, unitSize, multiValue, charsetSensitive);
        Id = (ushort)(code[0] << 8 | code[1]);
    }

    public string Code { get; }
    public ushort Id { get; }
    public DicomVRKind Kind { get; }
    /// <summary>Explicit VR encodes a 2-byte reserved field and a 4-byte length (PS3.5 7.1.2).</summary>
    public bool HasLongLength { get; }
    public byte PaddingByte { get; }
    /// <summary>Maximum length of one value in bytes (strings) or characters; 0 when unbounded.</summary>
    public int MaxLength { get; }
    /// <summary>Bytes per value for binary VRs (byte-swapping unit); 1 for strings and OB/UN.</summary>
    public int UnitSize { get; }
    public bool AllowsMultipleValues { get; }
    public bool IsCharacterSetSensitive { get; }
    public bool IsString => Kind == DicomVRKind.String;

    public static readonly DicomVR AE = new("AE", DicomVRKind.String, false, 0x20, 16, 1);
    public static readonly DicomVR AS = new("AS", DicomVRKind.String, false, 0x20, 4, 1);
    public static readonly DicomVR AT = new("AT", DicomVRKind.Binary, false, 0, 0, 2);
    public static readonly DicomVR CS = new("CS", DicomVRKind.String, false, 0x20, 16, 1);
    public static readonly DicomVR DA = new("DA", DicomVRKind.String, false, 0x20, 18, 1); // 18: a range "d1-d2"
    public static readonly DicomVR DS = new("DS", DicomVRKind.String, false, 0x20, 16, 1);
    public static readonly DicomVR DT = new("DT", DicomVRKind.String, false, 0x20, 54, 1); // range allowed
    public static readonly DicomVR FD = new("FD", DicomVRKind.Binary, false, 0, 0, 8);
    public static readonly DicomVR FL = new("FL", DicomVRKind.Binary, false, 0, 0, 4);
    public static readonly DicomVR IS = new("IS", DicomVRKind.String, false, 0x20, 12, 1);
    public static readonly DicomVR LO = new("LO", DicomVRKind.String, false, 0x20, 64, 1, charsetSensitive: true);
    public static readonly DicomVR LT = new("LT", DicomVRKind.String, false, 0x20, 10240, 1, multiValue: false, charsetSensitive: true);
    public static readonly DicomVR OB = new("OB", DicomVRKind.Binary, true, 0, 0, 1, multiValue: false);
    public static readonly DicomVR OD = new("OD", DicomVRKind.Binary, true, 0, 0, 8, multiValue: false);
    public static readonly DicomVR OF = new("OF", DicomVRKind.Binary, true, 0, 0, 4, multiValue: false);
    public static readonly DicomVR OL = new("OL", DicomVRKind.Binary, true, 0, 0, 4, multiValue: false);
    public static readonly DicomVR OV = new("OV", DicomVRKind.Binary, true, 0, 0, 8, multiValue: false);
    public static readonly DicomVR OW = new("OW", DicomVRKind.Binary, true, 0, 0, 2, multiValue: false);
    public static readonly DicomVR PN = new("PN", DicomVRKind.String, false, 0x20, 64, 1, charsetSensitive: true);
    public static readonly DicomVR SH = new("SH", DicomVRKind.String, false, 0x20, 16, 1, charsetSensitive: true);
    public static readonly DicomVR SL = new("SL", DicomVRKind.Binary, false, 0, 0, 4);
    public static readonly DicomVR SQ = new("SQ", DicomVRKind.Sequence, true, 0, 0, 1);
    public static readonly DicomVR SS = new("SS", DicomVRKind.Binary, false, 0, 0, 2);
    public static readonly DicomVR ST = new("ST", DicomVRKind.String, false, 0x20, 1024, 1, multiValue: false, charsetSensitive: true);
    public static readonly DicomVR SV = new("SV", DicomVRKind.Binary, true, 0, 0, 8);
    public static readonly DicomVR TM = new("TM", DicomVRKind.String, false, 0x20, 28, 1); // range allowed
    public static readonly DicomVR UC = new("UC", DicomVRKind.String, true, 0x20, 0, 1, charsetSensitive: true);
    public static readonly DicomVR UI = new("UI", DicomVRKind.String, false, 0x00, 64, 1);
    public static readonly DicomVR UL = new("UL", DicomVRKind.Binary, false, 0, 0, 4);
    public static readonly DicomVR UN = new("UN", DicomVRKind.Binary, true, 0, 0, 1, multiValue: false);
    public static readonly DicomVR UR = new("UR", DicomVRKind.String, true, 0x20, 0, 1, multiValue: false);
    public static readonly DicomVR US = new("US", DicomVRKind.Binary, false, 0, 0, 2);
    public static readonly DicomVR UT = new("UT", DicomVRKind.String, true, 0x20, 0, 1, multiValue: false, charsetSensitive: true);
    public static readonly DicomVR UV = new("UV", DicomVRKind.Binary, true, 0, 0, 8);

    public static IReadOnlyList<DicomVR> All { get; } = new[]
    {
        AE, AS, AT, CS, DA, DS, DT, FD, FL, IS, LO, LT, OB, OD, OF, OL, OV, OW, PN, SH, SL, SQ, SS, ST, SV, TM, UC, UI, UL, UN, UR, US, UT, UV,
    };

    private static readonly Dictionary<ushort, DicomVR> ById = All.ToDictionary(v => v.Id);

    /// <summary>Looks a VR up by its two bytes as they appear on the wire.</summary>
    public static bool TryGet(byte first, byte second, out DicomVR vr) => ById.TryGetValue((ushort)(first << 8 | second), out vr!);

    public static DicomVR Parse(string code)
    {
        if (code.Length == 2 && TryGet((byte)code[0], (byte)code[1], out var vr)) return vr;
        throw new FormatException($"'{code}' is not a DICOM value representation.");
    }

    /// <summary>VRs whose values are fixed-size binary numbers (AT, FL, FD, SL, SS, SV, UL, US, UV).</summary>
    public bool IsNumericBinary => Kind == DicomVRKind.Binary && !HasLongLength || this == SV || this == UV;
    /// <summary>The "other" VRs (OB, OD, OF, OL, OV, OW) and UN: bulk values.</summary>
    public bool IsBulk => Kind == DicomVRKind.Binary && HasLongLength && this != SV && this != UV;

    public bool Equals(DicomVR? other) => ReferenceEquals(this, other);
    public override bool Equals(object? obj) => ReferenceEquals(this, obj);
    public override int GetHashCode() => Id;
    public override string ToString() => Code;
}

public enum DicomVRKind { String, Binary, Sequence }
