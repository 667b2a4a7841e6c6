using System.Collections;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace MedAiNode.Dicom;

/// <summary>
/// A DICOM dataset (or sequence item): attributes kept in ascending tag order. Values are stored as their encoded
/// bytes and decoded on access, so a dataset read from a file writes back unchanged.
/// </summary>
public sealed partial class DicomDataset : IEnumerable<DicomAttribute>
{
    private readonly List<DicomAttribute> _items = new();
    private DicomCharacterSet? _charset;

    public DicomDataset() { }

    public DicomDataset(IEnumerable<DicomAttribute> attributes)
    {
        foreach (var a in attributes) Add(a);
    }

    /// <summary>The dataset this item belongs to through a sequence; character set and pixel description are inherited from it.</summary>
    public DicomDataset? Parent { get; internal set; }
    /// <summary>For an item read from a stream, whether it was encoded with undefined length (kept on re-write).</summary>
    public bool UndefinedLength { get; set; }

    public int Count => _items.Count;

    private int IndexOf(DicomTag tag)
    {
        int lo = 0, hi = _items.Count - 1;
        while (lo <= hi)
        {
            var mid = (lo + hi) >> 1;
            var v = _items[mid].Tag.Value;
            if (v == tag.Value) return mid;
            if (v < tag.Value) lo = mid + 1;
            else hi = mid - 1;
        }
        return ~lo;
    }

    public bool Contains(DicomTag tag) => IndexOf(tag) >= 0;

    public DicomAttribute? this[DicomTag tag]
    {
        get
        {
            var i = IndexOf(tag);
            return i >= 0 ? _items[i] : null;
        }
    }

    /// <summary>Adds or replaces an attribute.</summary>
    public DicomDataset Add(DicomAttribute attribute)
    {
        if (attribute is DicomSequence seq)
            foreach (var item in seq.Items) item.Parent = this;
        if (attribute.Tag == DicomTags.SpecificCharacterSet) _charset = null;
        if (_items.Count == 0 || _items[^1].Tag.Value < attribute.Tag.Value)
        {
            _items.Add(attribute); // the common case when reading a stream in order
            return this;
        }
        var i = IndexOf(attribute.Tag);
        if (i >= 0) _items[i] = attribute;
        else _items.Insert(~i, attribute);
        return this;
    }

    public bool Remove(DicomTag tag)
    {
        var i = IndexOf(tag);
        if (i < 0) return false;
        _items.RemoveAt(i);
        if (tag == DicomTags.SpecificCharacterSet) _charset = null;
        return true;
    }

    public void RemoveAll(Predicate<DicomAttribute> match) => _items.RemoveAll(match);
    public void Clear() => _items.Clear();

    public IEnumerator<DicomAttribute> GetEnumerator() => _items.GetEnumerator();
    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <summary>The character set for this dataset: its own (0008,0005), else the enclosing dataset's.</summary>
    public DicomCharacterSet CharacterSet
    {
        get
        {
            if (_charset is not null) return _charset;
            if (this[DicomTags.SpecificCharacterSet] is DicomElement e)
                return _charset = DicomCharacterSet.FromValues(SplitValues(Encoding.ASCII.GetString(e.Buffer.GetData().Span)).Select(v => v.Trim()).ToArray());
            return Parent?.CharacterSet ?? DicomCharacterSet.Default;
        }
    }

    /// <summary>A deep copy; file-backed values stay file-backed.</summary>
    public DicomDataset Clone()
    {
        var copy = new DicomDataset { UndefinedLength = UndefinedLength };
        foreach (var a in _items)
        {
            switch (a)
            {
                case DicomSequence s:
                    var ns = new DicomSequence(s.Tag, s.Items.Select(i => i.Clone())) { UndefinedLength = s.UndefinedLength };
                    copy.Add(ns);
                    break;
                default:
                    copy.Add(a); // elements and fragment buffers are immutable once built
                    break;
            }
        }
        return copy;
    }

    // ---------------------------------------------------------------- reading values

    internal static string[] SplitValues(string s) => s.Length == 0 ? [] : s.Split('\\');

    private static string TrimValue(string s, DicomVR vr)
    {
        if (vr == DicomVR.UI) return s.TrimEnd('\0', ' ');
        if (vr == DicomVR.LT || vr == DicomVR.ST || vr == DicomVR.UT) return s.TrimEnd(' ', '\0');
        return s.Trim(' ', '\0');
    }

    /// <summary>The whole decoded value of a string element (values joined with backslashes), padding removed.</summary>
    public string? GetString(DicomTag tag)
    {
        if (this[tag] is not DicomElement e) return null;
        if (!e.VR.IsString)
        {
            var values = GetValuesAsStrings(e);
            return string.Join('\\', values);
        }
        var raw = DecodeString(e);
        if (!e.VR.AllowsMultipleValues) return TrimValue(raw, e.VR);
        return string.Join('\\', SplitValues(raw).Select(v => TrimValue(v, e.VR)));
    }

    private string DecodeString(DicomElement e)
    {
        var data = e.Buffer.GetData().Span;
        return e.VR.IsCharacterSetSensitive ? CharacterSet.Decode(data, e.VR) : Encoding.Latin1.GetString(data);
    }

    /// <summary>Each value of a multi-valued element as text (numbers formatted invariantly).</summary>
    public string[] GetStrings(DicomTag tag)
    {
        if (this[tag] is not DicomElement e) return [];
        if (!e.VR.IsString) return GetValuesAsStrings(e);
        var raw = DecodeString(e);
        if (!e.VR.AllowsMultipleValues) return raw.Length == 0 ? [] : [TrimValue(raw, e.VR)];
        return SplitValues(raw).Select(v => TrimValue(v, e.VR)).ToArray();
    }

    public string GetStringOrDefault(DicomTag tag, string fallback = "") => GetString(tag) ?? fallback;

    private static string[] GetValuesAsStrings(DicomElement e)
    {
        var d = e.Buffer.GetData().Span;
        var ci = CultureInfo.InvariantCulture;
        return e.VR.Code switch
        {
            "US" => MemoryMarshal.Cast<byte, ushort>(d).ToArray().Select(v => v.ToString(ci)).ToArray(),
            "SS" => MemoryMarshal.Cast<byte, short>(d).ToArray().Select(v => v.ToString(ci)).ToArray(),
            "UL" => MemoryMarshal.Cast<byte, uint>(d).ToArray().Select(v => v.ToString(ci)).ToArray(),
            "SL" => MemoryMarshal.Cast<byte, int>(d).ToArray().Select(v => v.ToString(ci)).ToArray(),
            "UV" => MemoryMarshal.Cast<byte, ulong>(d).ToArray().Select(v => v.ToString(ci)).ToArray(),
            "SV" => MemoryMarshal.Cast<byte, long>(d).ToArray().Select(v => v.ToString(ci)).ToArray(),
            "FL" or "OF" => MemoryMarshal.Cast<byte, float>(d).ToArray().Select(v => v.ToString("R", ci)).ToArray(),
            "FD" or "OD" => MemoryMarshal.Cast<byte, double>(d).ToArray().Select(v => v.ToString("R", ci)).ToArray(),
            "AT" => ReadTags(d).Select(t => t.ToJsonKey()).ToArray(),
            _ => [System.Convert.ToBase64String(d)],
        };
    }

    internal static DicomTag[] ReadTags(ReadOnlySpan<byte> d)
    {
        var u = MemoryMarshal.Cast<byte, ushort>(d);
        var result = new DicomTag[u.Length / 2];
        for (var i = 0; i < result.Length; i++) result[i] = new DicomTag(u[2 * i], u[2 * i + 1]);
        return result;
    }

    /// <summary>Numeric values of a binary (US, SS, UL, SL, FL, FD, SV, UV, OB, OW, OF, OD, OL, OV) or numeric string (IS, DS) element.</summary>
    public T[] GetValues<T>(DicomTag tag) where T : unmanaged, INumber<T>
    {
        if (this[tag] is not DicomElement e) return [];
        var d = e.Buffer.GetData().Span;
        switch (e.VR.Code)
        {
            case "IS":
            case "DS":
            {
                var texts = GetStrings(tag);
                var numbers = new List<T>(texts.Length);
                for (var i = 0; i < texts.Length; i++)
                {
                    if (texts[i].Length == 0) continue;
                    // .NET's own FormatException quotes the text; a value from a dataset is not quoted (it may be patient data).
                    if (!double.TryParse(texts[i], NumberStyles.Float, CultureInfo.InvariantCulture, out var v))
                        throw new FormatException($"{tag} {DicomDictionary.GetKeyword(tag)} ({e.VR}): value {i + 1} ({texts[i].Length} characters) is not a number");
                    numbers.Add(T.CreateChecked(v));
                }
                return numbers.ToArray();
            }
            case "US" or "OW": return ConvertAll<ushort, T>(d);
            case "SS": return ConvertAll<short, T>(d);
            case "UL" or "OL": return ConvertAll<uint, T>(d);
            case "SL": return ConvertAll<int, T>(d);
            case "UV" or "OV": return ConvertAll<ulong, T>(d);
            case "SV": return ConvertAll<long, T>(d);
            case "FL" or "OF": return ConvertAll<float, T>(d);
            case "FD" or "OD": return ConvertAll<double, T>(d);
            case "OB" or "UN": return ConvertAll<byte, T>(d);
            default: throw new InvalidCastException($"{tag} has VR {e.VR}, which holds no numbers.");
        }
    }

    private static T[] ConvertAll<TSource, T>(ReadOnlySpan<byte> d) where TSource : unmanaged, INumber<TSource> where T : INumber<T>
    {
        var src = MemoryMarshal.Cast<byte, TSource>(d);
        var result = new T[src.Length];
        for (var i = 0; i < src.Length; i++) result[i] = T.CreateChecked(src[i]);
        return result;
    }

    public T GetValue<T>(DicomTag tag, int index = 0) where T : unmanaged, INumber<T>
    {
        var values = GetValues<T>(tag);
        if (index >= values.Length)
            throw new KeyNotFoundException($"{tag} {DicomDictionary.GetKeyword(tag)} has no value {index + 1} (it has {values.Length}).");
        return values[index];
    }

    public T? GetValueOrNull<T>(DicomTag tag, int index = 0) where T : unmanaged, INumber<T>
    {
        try
        {
            var values = GetValues<T>(tag);
            return index < values.Length ? values[index] : null;
        }
        catch (FormatException) { return null; }
        catch (OverflowException) { return null; }
    }

    public T GetValueOrDefault<T>(DicomTag tag, T fallback, int index = 0) where T : unmanaged, INumber<T> =>
        GetValueOrNull<T>(tag, index) ?? fallback;

    public DicomTag[] GetTags(DicomTag tag) =>
        this[tag] is DicomElement { VR.Code: "AT" } e ? ReadTags(e.Buffer.GetData().Span) : [];

    public DicomSequence? GetSequence(DicomTag tag) => this[tag] as DicomSequence;

    public DicomPersonName? GetPersonName(DicomTag tag) => GetString(tag) is { } s ? DicomPersonName.Parse(s) : null;

    public DateOnly? GetDate(DicomTag tag) =>
        GetString(tag) is { Length: >= 8 } s && DateOnly.TryParseExact(s[..8], "yyyyMMdd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var d) ? d : null;

    /// <summary>A TM value; null when absent or empty. A malformed value throws a <see cref="DicomFormatException"/> naming the tag.</summary>
    public TimeOnly? GetTime(DicomTag tag) => Parsed(tag, DicomDateTime.ParseTime);

    /// <summary>A DT value, or a date element combined with its time element (e.g. StudyDate + StudyTime), as the clock
    /// read where it was written (a DT's UTC offset is not applied; <see cref="GetDateTimeOffset"/> keeps it).</summary>
    public DateTime? GetDateTime(DicomTag dateOrDateTimeTag, DicomTag? timeTag = null)
    {
        if (timeTag is null) return Parsed(dateOrDateTimeTag, DicomDateTime.ParseDateTime)?.DateTime;
        var date = GetDate(dateOrDateTimeTag);
        if (date is null) return null;
        var time = GetTime(timeTag.Value) ?? TimeOnly.MinValue;
        return date.Value.ToDateTime(time);
    }

    /// <summary>
    /// The instant of a DT value (or a DA + TM pair): the value's own offset, else this dataset's (0008,0201) Timezone
    /// Offset From UTC, else <paramref name="assumedOffset"/>; null when no offset is known from any of them, since
    /// the local time of an unnamed zone is no instant.
    /// </summary>
    public DateTimeOffset? GetDateTimeOffset(DicomTag dateOrDateTimeTag, DicomTag? timeTag = null, TimeSpan? assumedOffset = null)
    {
        TimeSpan? Fallback() => Parsed(DicomTags.TimezoneOffsetFromUTC, DicomDateTime.ParseUtcOffset) ?? assumedOffset;
        if (timeTag is null)
        {
            if (Parsed(dateOrDateTimeTag, DicomDateTime.ParseDateTime) is not { } dt) return null;
            if (dt.AsDateTimeOffset is { } own) return own;
            return Fallback() is { } f ? dt.ToDateTimeOffset(f) : null;
        }
        return GetDateTime(dateOrDateTimeTag, timeTag) is { } local && Fallback() is { } o ? new DateTimeOffset(local, o) : null;
    }

    private T? Parsed<T>(DicomTag tag, Func<string?, T?> parse) where T : struct
    {
        if (GetString(tag) is not { } s) return null;
        try { return parse(s); }
        catch (DicomFormatException e) { throw new DicomFormatException(e.Message, tag: tag, inner: e); }
    }

    /// <summary>The bytes of a primitive element's value, read now if they live in a file.</summary>
    public ReadOnlyMemory<byte> GetBytes(DicomTag tag) => this[tag] is DicomElement e ? e.Buffer.GetData() : ReadOnlyMemory<byte>.Empty;
}
