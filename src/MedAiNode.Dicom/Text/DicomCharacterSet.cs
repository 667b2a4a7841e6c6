using System.Text;

namespace MedAiNode.Dicom;

/// <summary>
/// Specific Character Set (0008,0005) handling per PS3.5 section 6.1 and Annexes H, I, J: single-byte sets,
/// UTF-8, GB18030 and GBK, and the ISO 2022 code extension sets (Japanese, Korean, Chinese) switched by escape sequences.
/// </summary>
public sealed class DicomCharacterSet
{

    private enum Plane { G0, G1 }

    /// <summary>One defined term: the repertoire it brings, where it is invoked, and the escape sequence that designates it.</summary>
    private sealed class Term
    {
        public required string Name { get; init; }
        public required Encoding Encoding { get; init; }
        public bool Iso2022 { get; init; }
        public Plane Plane { get; init; }
        public byte[] Escape { get; init; } = [];
        public int BytesPerChar { get; init; } = 1;
        /// <summary>JIS X 0208/0212 are carried 7-bit in G0 and map to EUC-JP by setting the high bit.</summary>
        public bool SevenBitEuc { get; init; }
        public byte EucPrefix { get; init; }
    }

    private static readonly Encoding Strict = Encoding.GetEncoding("us-ascii", EncoderFallback.ExceptionFallback, DecoderFallback.ReplacementFallback);
    private static Encoding Enc(int codePage) =>
        Encoding.GetEncoding(codePage, EncoderFallback.ExceptionFallback, DecoderFallback.ReplacementFallback);

    private static readonly byte[] EscAscii = [0x1B, 0x28, 0x42];   // ESC ( B
    private static readonly byte[] EscRomaji = [0x1B, 0x28, 0x4A];  // ESC ( J

    private static readonly Dictionary<string, Term> Terms = BuildTerms();

    private static Dictionary<string, Term> BuildTerms()
    {
        // Field initialisers run before a static constructor, so the code pages are registered here.
        Encoding.RegisterProvider(CodePagesEncodingProvider.Instance);
        var t = new Dictionary<string, Term>(StringComparer.Ordinal);
        void Single(string name, int cp) => t[name] = new Term { Name = name, Encoding = Enc(cp) };
        void G1(string name, int cp, byte final) => t[name] = new Term
            { Name = name, Encoding = Enc(cp), Iso2022 = true, Plane = Plane.G1, Escape = [0x1B, 0x2D, final] };

        t[""] = new Term { Name = "", Encoding = Strict };
        t["ISO_IR 6"] = new Term { Name = "ISO_IR 6", Encoding = Strict };
        Single("ISO_IR 100", 28591); Single("ISO_IR 101", 28592); Single("ISO_IR 109", 28593); Single("ISO_IR 110", 28594);
        Single("ISO_IR 144", 28595); Single("ISO_IR 127", 28596); Single("ISO_IR 126", 28597); Single("ISO_IR 138", 28598);
        Single("ISO_IR 148", 28599); Single("ISO_IR 203", 28605); Single("ISO_IR 166", 874); Single("ISO_IR 13", 932);
        t["ISO_IR 192"] = new Term { Name = "ISO_IR 192", Encoding = new UTF8Encoding(false, true) };
        Single("GB18030", 54936);
        Single("GBK", 936);

        t["ISO 2022 IR 6"] = new Term { Name = "ISO 2022 IR 6", Encoding = Strict, Iso2022 = true, Plane = Plane.G0, Escape = EscAscii };
        G1("ISO 2022 IR 100", 28591, 0x41); G1("ISO 2022 IR 101", 28592, 0x42); G1("ISO 2022 IR 109", 28593, 0x43);
        G1("ISO 2022 IR 110", 28594, 0x44); G1("ISO 2022 IR 144", 28595, 0x4C); G1("ISO 2022 IR 127", 28596, 0x47);
        G1("ISO 2022 IR 126", 28597, 0x46); G1("ISO 2022 IR 138", 28598, 0x48); G1("ISO 2022 IR 148", 28599, 0x4D);
        G1("ISO 2022 IR 203", 28605, 0x62); G1("ISO 2022 IR 166", 874, 0x54);
        // JIS X 0201 katakana in G1 (ESC ) I); its Roman half replaces ASCII in G0 (ESC ( J).
        t["ISO 2022 IR 13"] = new Term { Name = "ISO 2022 IR 13", Encoding = Enc(932), Iso2022 = true, Plane = Plane.G1, Escape = [0x1B, 0x29, 0x49] };
        t["ISO 2022 IR 87"] = new Term { Name = "ISO 2022 IR 87", Encoding = Enc(51932), Iso2022 = true, Plane = Plane.G0, Escape = [0x1B, 0x24, 0x42], BytesPerChar = 2, SevenBitEuc = true };
        t["ISO 2022 IR 159"] = new Term { Name = "ISO 2022 IR 159", Encoding = Enc(51932), Iso2022 = true, Plane = Plane.G0, Escape = [0x1B, 0x24, 0x28, 0x44], BytesPerChar = 2, SevenBitEuc = true, EucPrefix = 0x8F };
        t["ISO 2022 IR 149"] = new Term { Name = "ISO 2022 IR 149", Encoding = Enc(949), Iso2022 = true, Plane = Plane.G1, Escape = [0x1B, 0x24, 0x29, 0x43], BytesPerChar = 2 };
        t["ISO 2022 IR 58"] = new Term { Name = "ISO 2022 IR 58", Encoding = Enc(936), Iso2022 = true, Plane = Plane.G1, Escape = [0x1B, 0x24, 0x29, 0x41], BytesPerChar = 2 };
        return t;
    }

    private readonly Term[] _terms;
    private readonly bool _extensions;

    private DicomCharacterSet(string[] values, Term[] terms)
    {
        Values = values;
        _terms = terms;
        _extensions = terms.Length > 1 || terms[0].Iso2022;
    }

    /// <summary>The default repertoire (ISO-IR 6). Bytes above 0x7F, which some modalities send undeclared, are read as Latin-1.</summary>
    public static DicomCharacterSet Default { get; } = new([""], [Terms[""]]);

    /// <summary>The values of Specific Character Set as they were given.</summary>
    public IReadOnlyList<string> Values { get; }
    public bool UsesCodeExtensions => _extensions;
    /// <summary>A defined term we do not know, read from a file; its text is decoded as the default repertoire (Latin-1 leniency).</summary>
    public string? UnknownTerm { get; private init; }

    public static DicomCharacterSet FromValues(IReadOnlyList<string> values)
    {
        if (values.Count == 0 || values.Count == 1 && string.IsNullOrWhiteSpace(values[0])) return Default;
        var terms = new Term[values.Count];
        for (var i = 0; i < values.Count; i++)
        {
            var v = values[i].Trim();
            if (!Terms.TryGetValue(v, out var term))
            {
                // Some writers put "ISO_IR 100" where "ISO 2022 IR 100" is meant, or the reverse.
                var alt = v.StartsWith("ISO_IR ", StringComparison.Ordinal) ? "ISO 2022 IR " + v[7..] : v.Replace("ISO 2022 IR ", "ISO_IR ");
                if (!Terms.TryGetValue(alt, out term))
                {
                    // Like DCMTK: an unknown term must not make the file unreadable; text falls back to the default repertoire.
                    return new DicomCharacterSet(values.ToArray(), [Terms[""]]) { UnknownTerm = v };
                }
            }
            if (i == 0 && v.Length == 0) term = Terms["ISO 2022 IR 6"];
            terms[i] = term;
        }
        return new DicomCharacterSet(values.ToArray(), terms);
    }

    public static bool IsSupported(string term) => Terms.ContainsKey(term.Trim());

    private static bool IsDelimiter(byte b, DicomVR vr) =>
        b is 0x0D or 0x0A or 0x09 or 0x0C
        || b == 0x5C && vr.AllowsMultipleValues
        || vr == DicomVR.PN && b is 0x5E or 0x3D;

    public string Decode(ReadOnlySpan<byte> bytes, DicomVR vr)
    {
        if (!_extensions)
        {
            var term = _terms[0];
            if (term.Encoding == Strict)
                return Encoding.Latin1.GetString(bytes);
            return term.Encoding.GetString(bytes);
        }
        return DecodeIso2022(bytes, vr);
    }

    private string DecodeIso2022(ReadOnlySpan<byte> bytes, DicomVR vr)
    {
        var first = _terms[0];
        Term? initialG0 = first.Plane == Plane.G0 ? first : null;   // null = ASCII
        Term? initialG1 = first.Plane == Plane.G1 ? first : null;
        var g0 = initialG0;
        var g1 = initialG1;
        var sb = new StringBuilder(bytes.Length);
        Span<byte> tmp = stackalloc byte[3];
        var i = 0;
        while (i < bytes.Length)
        {
            var b = bytes[i];
            if (b == 0x1B)
            {
                var matched = MatchEscape(bytes[i..]);
                if (matched is null)
                {
                    if (bytes[i..].StartsWith(EscAscii) || bytes[i..].StartsWith(EscRomaji)) { g0 = null; i += 3; continue; }
                    i++; // an escape we don't know: skip the ESC, keep the rest readable
                    continue;
                }
                if (matched.Plane == Plane.G0) g0 = matched.BytesPerChar == 1 ? null : matched;
                else g1 = matched;
                i += matched.Escape.Length;
                continue;
            }
            var singleByteG0 = g0 is null || g0.BytesPerChar == 1;
            if (singleByteG0 && IsDelimiter(b, vr))
            {
                g0 = initialG0;
                g1 = initialG1;
                sb.Append((char)b);
                i++;
                continue;
            }
            if (b < 0x80)
            {
                if (g0 is { BytesPerChar: 2 } && i + 1 < bytes.Length)
                {
                    var n = 0;
                    if (g0.EucPrefix != 0) tmp[n++] = g0.EucPrefix;
                    tmp[n++] = (byte)(b | 0x80);
                    tmp[n++] = (byte)(bytes[i + 1] | 0x80);
                    sb.Append(g0.Encoding.GetString(tmp[..n]));
                    i += 2;
                }
                else
                {
                    sb.Append((char)b);
                    i++;
                }
                continue;
            }
            if (g1 is null)
            {
                sb.Append((char)b); // undeclared high byte: Latin-1
                i++;
            }
            else if (g1.BytesPerChar == 2 && i + 1 < bytes.Length)
            {
                sb.Append(g1.Encoding.GetString(bytes.Slice(i, 2)));
                i += 2;
            }
            else
            {
                sb.Append(g1.Encoding.GetString(bytes.Slice(i, 1)));
                i++;
            }
        }
        return sb.ToString();
    }

    private Term? MatchEscape(ReadOnlySpan<byte> at)
    {
        foreach (var t in _terms)
            if (t.Escape.Length > 0 && at.StartsWith(t.Escape)) return t;
        // A designation of a set not listed in (0008,0005) is still decoded when we know it.
        foreach (var t in Terms.Values)
            if (t.Iso2022 && t.Escape.Length > 0 && at.StartsWith(t.Escape)) return t;
        return null;
    }

    /// <summary>Encodes text for a value of the given VR. Throws when a character has no encoding in the declared sets.</summary>
    public byte[] Encode(string text, DicomVR vr)
    {
        if (!_extensions)
        {
            try
            {
                return _terms[0].Encoding.GetBytes(text);
            }
            catch (EncoderFallbackException e)
            {
                throw new ArgumentException(
                    $"Character U+{(int)e.CharUnknown:X4} cannot be encoded in Specific Character Set '{string.Join('\\', Values)}'.", e);
            }
        }
        return EncodeIso2022(text, vr);
    }

    private byte[] EncodeIso2022(string text, DicomVR vr)
    {
        var first = _terms[0];
        var romajiInitial = first.Name == "ISO 2022 IR 13";
        Term? initialG1 = first.Plane == Plane.G1 ? first : null;
        Term? g0 = null; // null: the single-byte initial G0 (ASCII, or JIS X 0201 Roman after IR 13)
        var g1 = initialG1;
        var output = new List<byte>(text.Length * 2);

        void ResetG0()
        {
            if (g0 is not null) output.AddRange(romajiInitial ? EscRomaji : EscAscii);
            g0 = null;
        }

        for (var ci = 0; ci < text.Length; ci++)
        {
            var c = text[ci];
            if (c < 0x80)
            {
                ResetG0();
                if (IsDelimiter((byte)c, vr)) g1 = initialG1;
                output.Add((byte)c);
                continue;
            }
            var s = char.IsHighSurrogate(c) && ci + 1 < text.Length ? text.Substring(ci++, 2) : c.ToString();
            var done = false;
            foreach (var term in _terms)
            {
                if (term.Encoding == Strict) continue;
                byte[] enc;
                try { enc = term.Encoding.GetBytes(s); }
                catch (EncoderFallbackException) { continue; }
                if (term.Plane == Plane.G1)
                {
                    if (enc.Length != term.BytesPerChar || enc.Any(x => x < 0x80)) continue;
                    if (g1 != term) { output.AddRange(term.Escape); g1 = term; }
                    output.AddRange(enc);
                }
                else
                {
                    // JIS X 0208 is two EUC bytes, JIS X 0212 the same after a 0x8F prefix.
                    var body = term.EucPrefix != 0
                        ? enc.Length == 3 && enc[0] == term.EucPrefix ? enc[1..] : null
                        : enc.Length == 2 && enc[0] >= 0xA1 ? enc : null;
                    if (body is null) continue;
                    if (g0 != term) { output.AddRange(term.Escape); g0 = term; }
                    output.Add((byte)(body[0] & 0x7F));
                    output.Add((byte)(body[1] & 0x7F));
                }
                done = true;
                break;
            }
            if (!done)
                throw new ArgumentException(
                    $"Character '{s}' cannot be encoded in Specific Character Set '{string.Join('\\', Values)}'.");
        }
        ResetG0();
        return output.ToArray();
    }

    public override string ToString() => string.Join('\\', Values);
}
