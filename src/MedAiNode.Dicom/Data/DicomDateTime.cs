using System.Globalization;

namespace MedAiNode.Dicom;

/// <summary>
/// A parsed DT value (PS3.5 6.2): the date and time as written, and the UTC offset when the value carries one
/// (<c>&amp;ZZXX</c>). Without an offset the value is in the creator's local time, which (0008,0201) Timezone Offset
/// From UTC may name; <see cref="ToDateTimeOffset"/> takes that as the fallback.
/// </summary>
public readonly record struct DicomDateTimeValue(DateTime DateTime, TimeSpan? Offset)
{
    /// <summary>The instant, when the value carries its offset; null when it is local time of an unnamed zone.</summary>
    public DateTimeOffset? AsDateTimeOffset => Offset is { } o ? new DateTimeOffset(DateTime, o) : null;

    /// <summary>The instant, using <paramref name="assumedOffset"/> when the value carries no offset of its own.</summary>
    public DateTimeOffset ToDateTimeOffset(TimeSpan assumedOffset) => new(DateTime, Offset ?? assumedOffset);
}

/// <summary>
/// Parsing of TM, DT and UTC-offset values, including the truncated forms PS3.5 allows. An empty value (or one of only
/// padding spaces) is "no value" and gives null; a value that breaks the VR's form throws a
/// <see cref="DicomFormatException"/> that quotes it.
/// </summary>
public static class DicomDateTime
{
    /// <summary>TM: HH[MM[SS[.F{1-6}]]], also the ACR-NEMA form HH:MM:SS. A leap second (60) is read as 59.</summary>
    public static TimeOnly? ParseTime(string? s)
    {
        s = s?.Trim();
        if (string.IsNullOrEmpty(s)) return null;
        var t = s.Contains(':') ? s.Replace(":", "") : s; // ACR-NEMA style, still seen
        return ParseTimeCore(t, s, "TM") ?? throw Bad("TM", s, "expected HH[MM[SS[.F{1-6}]]]");
    }

    /// <summary>DT: YYYY[MM[DD[HH[MM[SS[.F{1-6}]]]]]][&amp;ZZXX]. Missing components take their smallest value.</summary>
    public static DicomDateTimeValue? ParseDateTime(string? s)
    {
        s = s?.Trim();
        if (string.IsNullOrEmpty(s)) return null;
        var offsetAt = s.IndexOfAny(['+', '-']);
        var main = offsetAt >= 0 ? s[..offsetAt] : s;
        TimeSpan? offset = offsetAt >= 0 ? ParseOffsetCore(s[offsetAt..]) ?? throw Bad("DT", s, "the UTC offset must be &ZZXX, -1200 to +1400") : null;
        if (main.Length is not (4 or 6 or 8 or 10 or 12 or 14) && !(main.Length >= 16 && main.Length <= 21 && main[14] == '.'))
            throw Bad("DT", s, "expected YYYY[MM[DD[HH[MM[SS[.F{1-6}]]]]]][&ZZXX]");
        if (!Digits(main.AsSpan(0, Math.Min(main.Length, 14)))) throw Bad("DT", s, "non-digit in the date or time");
        var year = Int(main, 0, 4);
        var month = main.Length >= 6 ? Int(main, 4, 2) : 1;
        var day = main.Length >= 8 ? Int(main, 6, 2) : 1;
        if (year < 1 || month is < 1 or > 12 || day < 1 || day > DateTime.DaysInMonth(year, month))
            throw Bad("DT", s, "no such date");
        var time = TimeOnly.MinValue;
        if (main.Length > 8) time = ParseTimeCore(main[8..], s, "DT") ?? throw Bad("DT", s, "no such time");
        return new DicomDateTimeValue(new DateOnly(year, month, day).ToDateTime(time, DateTimeKind.Unspecified), offset);
    }

    /// <summary>(0008,0201) Timezone Offset From UTC and the offset suffix of DT: ±HHMM, -1200 to +1400.</summary>
    public static TimeSpan? ParseUtcOffset(string? s)
    {
        s = s?.Trim();
        if (string.IsNullOrEmpty(s)) return null;
        return ParseOffsetCore(s) ?? throw Bad("UTC offset", s, "expected ±HHMM from -1200 to +1400");
    }

    /// <summary>An offset as DICOM writes it: sign and four digits, "+0000" for UTC.</summary>
    public static string FormatUtcOffset(TimeSpan offset) =>
        (offset < TimeSpan.Zero ? "-" : "+") + offset.ToString("hhmm", CultureInfo.InvariantCulture);

    private static TimeSpan? ParseOffsetCore(string s)
    {
        if (s.Length != 5 || s[0] is not ('+' or '-') || !Digits(s.AsSpan(1))) return null;
        var hh = Int(s, 1, 2);
        var mm = Int(s, 3, 2);
        if (mm > 59) return null;
        var offset = new TimeSpan(hh, mm, 0);
        if (s[0] == '-') offset = -offset;
        return offset < TimeSpan.FromHours(-12) || offset > TimeSpan.FromHours(14) ? null : offset;
    }

    // HH[MM[SS[.F{1-6}]]] without separators; null when malformed. Components out of range throw with the whole value.
    private static TimeOnly? ParseTimeCore(string t, string whole, string vr)
    {
        var dot = t.IndexOf('.');
        var clock = dot >= 0 ? t[..dot] : t;
        if (clock.Length is not (2 or 4 or 6) || !Digits(clock)) return null;
        if (dot >= 0 && (clock.Length != 6 || t.Length - dot - 1 is < 1 or > 6 || !Digits(t.AsSpan(dot + 1)))) return null;
        var hh = Int(clock, 0, 2);
        var mm = clock.Length >= 4 ? Int(clock, 2, 2) : 0;
        var ss = clock.Length >= 6 ? Int(clock, 4, 2) : 0;
        if (hh > 23 || mm > 59 || ss > 60) throw Bad(vr, whole, "hour, minute or second out of range");
        var ticks = dot >= 0 ? long.Parse(t[(dot + 1)..].PadRight(7, '0'), CultureInfo.InvariantCulture) : 0;
        return new TimeOnly(hh, mm, Math.Min(ss, 59)).Add(TimeSpan.FromTicks(ticks));
    }

    private static bool Digits(ReadOnlySpan<char> s)
    {
        foreach (var c in s)
            if (c is < '0' or > '9') return false;
        return true;
    }

    private static int Int(string s, int start, int length) => int.Parse(s.AsSpan(start, length), NumberStyles.None, CultureInfo.InvariantCulture);

    // The value itself is not quoted: a date may be a birth date, and these messages reach logs and status comments.
    private static DicomFormatException Bad(string vr, string value, string why) =>
        new($"Invalid {vr} value ({value.Length} characters): {why}");
}
