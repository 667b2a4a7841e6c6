using System.Collections.Frozen;
using System.Globalization;
using System.Text.RegularExpressions;

namespace MedAiNode.Dicom;

/// <summary>PS3.5 6.2 rules for string values: character repertoire, length and format. Applied when a value is set.</summary>
public static partial class DicomValueRules
{
    [GeneratedRegex(@"^[0-9]+(\.[0-9]+)*$")] private static partial Regex UidPattern();
    [GeneratedRegex(@"^ *[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)? *$")] private static partial Regex DsPattern();
    [GeneratedRegex(@"^ *[+-]?[0-9]+ *$")] private static partial Regex IsPattern();
    [GeneratedRegex(@"^[0-9]{3}[DWMY]$")] private static partial Regex AsPattern();
    [GeneratedRegex(@"^[A-Z0-9_ ]*$")] private static partial Regex CsPattern();
    [GeneratedRegex(@"^([0-9]{8})?(-([0-9]{8})?)?$")] private static partial Regex DaPattern();
    [GeneratedRegex(@"^([0-9]{2}([0-9]{2}([0-9]{2}(\.[0-9]{1,6})?)?)?)?(-([0-9]{2}([0-9]{2}([0-9]{2}(\.[0-9]{1,6})?)?)?)?)? *$")] private static partial Regex TmPattern();
    [GeneratedRegex(@"^[0-9]{4}([0-9]{2}([0-9]{2}([0-9]{2}([0-9]{2}([0-9]{2}(\.[0-9]{1,6})?)?)?)?)?)?([+-][0-9]{4})?( *-.*)? *$")] private static partial Regex DtPattern();

    /// <summary>The VRs whose value is valid when it matches a pattern: the pattern, and what a value that does not match is not.</summary>
    private static readonly FrozenDictionary<string, (Regex Pattern, string Fails)> Formats = new Dictionary<string, (Regex, string)>
    {
        ["DS"] = (DsPattern(), "is not a decimal string"),
        ["AS"] = (AsPattern(), "is not an age string (nnnD/W/M/Y)"),
        ["CS"] = (CsPattern(), "has characters other than A-Z, 0-9, space and underscore"),
        ["DA"] = (DaPattern(), "is not a date (YYYYMMDD)"),
        ["TM"] = (TmPattern(), "is not a time (HHMMSS.FFFFFF)"),
        ["DT"] = (DtPattern(), "is not a date-time (YYYYMMDDHHMMSS.FFFFFF&ZZXX)"),
    }.ToFrozenDictionary(StringComparer.Ordinal);

    /// <summary>Returns null when the single value is valid for the VR, else the reason it is not. The reason never
    /// quotes the value (it names its length, or a character's code point): values come from datasets, where a bad
    /// one may be a patient's name or birth date, and these reasons reach logs, study reasons and Error Comments. A
    /// caller checking its own configuration may quote the value itself.</summary>
    public static string? Check(DicomVR vr, string value)
    {
        if (value.Length == 0) return null;
        if (vr.MaxLength > 0 && vr != DicomVR.PN && value.Length > vr.MaxLength)
            return $"value of {value.Length} characters exceeds the maximum of {vr.MaxLength}";
        if (vr.AllowsMultipleValues && value.Contains('\\'))
            return "a single value may not contain a backslash";
        if (Formats.TryGetValue(vr.Code, out var format) && !format.Pattern.IsMatch(value))
            return $"value of {value.Length} characters {format.Fails}";
        switch (vr.Code)
        {
            case "UI":
                if (!UidPattern().IsMatch(value)) return $"value of {value.Length} characters is not a UID (digits and dots)";
                var parts = value.Split('.');
                for (var i = 0; i < parts.Length; i++)
                    if (parts[i].Length > 1 && parts[i][0] == '0') return $"UID component {i + 1} of {parts.Length} has a leading zero";
                break;
            case "IS":
                if (!IsPattern().IsMatch(value) || !long.TryParse(value, NumberStyles.AllowLeadingSign | NumberStyles.AllowLeadingWhite | NumberStyles.AllowTrailingWhite, CultureInfo.InvariantCulture, out var l)
                    || l < int.MinValue || l > int.MaxValue)
                    return $"value of {value.Length} characters is not an integer string in [-2^31, 2^31-1]";
                break;
            case "AE":
                if (value.Trim().Length == 0) return "an AE title may not be all spaces";
                if (value.Any(c => c < 0x20 || c > 0x7E || c == '\\')) return "an AE title has only printable ASCII";
                break;
            case "PN":
                var groups = value.Split('=');
                if (groups.Length > 3) return "a person name has at most three component groups";
                foreach (var g in groups)
                {
                    if (g.Length > 64) return "a person name component group exceeds 64 characters";
                    if (g.Split('^').Length > 5) return "a person name has at most five components";
                }
                break;
        }
        if (vr is { IsCharacterSetSensitive: false } && vr.IsString && vr != DicomVR.UR)
            foreach (var c in value)
                if (c < 0x20 && c != 0 || c > 0x7E) return $"character U+{(int)c:X4} is not in the default repertoire required by {vr}";
        if (vr == DicomVR.SH || vr == DicomVR.LO || vr == DicomVR.UC || vr == DicomVR.PN)
            foreach (var c in value)
                if (c is '\r' or '\n' or '\f') return "control characters are not allowed in " + vr;
        return null;
    }
}
