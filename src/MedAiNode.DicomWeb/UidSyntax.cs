namespace MedAiNode.DicomWeb;

/// <summary>UID syntax (PS3.5 9.1): digits and dots, at most 64 characters. Checked before a UID from a server or a
/// user goes into a URL path or a file name, so neither can smuggle in '/', '..' or query syntax.</summary>
public static class UidSyntax
{
    public static bool IsValid(string? uid)
    {
        if (string.IsNullOrEmpty(uid) || uid.Length > 64 || uid[0] == '.' || uid[^1] == '.') return false;
        var prevDot = false;
        foreach (var c in uid)
        {
            if (c == '.')
            {
                if (prevDot) return false;
                prevDot = true;
            }
            else if (c is >= '0' and <= '9') prevDot = false;
            else return false;
        }
        return true;
    }

    public static string Require(string? uid, string what) =>
        IsValid(uid) ? uid! : throw new ArgumentException($"{what} '{uid}' is not a valid DICOM UID (digits and dots, at most 64 characters).");
}
