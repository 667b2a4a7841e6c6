using System.Globalization;

namespace MedAiNode.Dicom;

/// <summary>Parsing of DA, TM and DT values, including the truncated forms PS3.5 allows.</summary>
public static class DicomDateTime
{
    public static TimeOnly? ParseTime(string s)
    {
        s = s.Trim();
        if (s.Length < 2) return null;
        if (s.Contains(':')) s = s.Replace(":", ""); // ACR-NEMA style, still seen
        var hh = int.Parse(s[..2], CultureInfo.InvariantCulture);
        var mm = s.Length >= 4 ? int.Parse(s.Substring(2, 2), CultureInfo.InvariantCulture) : 0;
        var ss = s.Length >= 6 ? int.Parse(s.Substring(4, 2), CultureInfo.InvariantCulture) : 0;
        var ticks = 0L;
        if (s.Length > 7 && s[6] == '.')
        {
            var frac = s[7..].PadRight(7, '0')[..7];
            ticks = long.Parse(frac, CultureInfo.InvariantCulture);
        }
        if (hh > 23 || mm > 59 || ss > 60) return null;
        return new TimeOnly(hh, mm, Math.Min(ss, 59)).Add(TimeSpan.FromTicks(ticks));
    }

    public static DateTime? ParseDateTime(string s)
    {
        s = s.Trim();
        var offsetAt = s.IndexOfAny(['+', '-'], 4);
        var main = offsetAt > 0 ? s[..offsetAt] : s;
        if (main.Length < 4) return null;
        var year = int.Parse(main[..4], CultureInfo.InvariantCulture);
        var month = main.Length >= 6 ? int.Parse(main.Substring(4, 2), CultureInfo.InvariantCulture) : 1;
        var day = main.Length >= 8 ? int.Parse(main.Substring(6, 2), CultureInfo.InvariantCulture) : 1;
        var time = main.Length > 8 ? ParseTime(main[8..]) ?? TimeOnly.MinValue : TimeOnly.MinValue;
        return new DateOnly(year, month, day).ToDateTime(time);
    }
}
