using System.Numerics;
using System.Security.Cryptography;

namespace MedAiNode.Dicom;

/// <summary>Creates globally unique UIDs: under a configured organisational root, or as 2.25 UUID-derived UIDs (PS3.5 B.2).</summary>
public sealed class DicomUidGenerator
{
    public const string UuidRoot = "2.25";

    public DicomUidGenerator(string? root = null)
    {
        root = string.IsNullOrWhiteSpace(root) ? UuidRoot : root.Trim().TrimEnd('.');
        if (DicomValueRules.Check(DicomVR.UI, root) is { } problem) throw new ArgumentException($"UID root: {problem}", nameof(root));
        if (root.Length > 40) throw new ArgumentException("UID root must leave room for a unique suffix (at most 40 characters).", nameof(root));
        Root = root;
    }

    public static DicomUidGenerator Default { get; } = new();
    public string Root { get; }

    public string Generate()
    {
        Span<byte> bytes = stackalloc byte[16];
        RandomNumberGenerator.Fill(bytes);
        if (Root == UuidRoot)
        {
            // A version-4 UUID as an unsigned integer, as PS3.5 B.2 and ISO/IEC 9834-8 describe.
            bytes[6] = (byte)(bytes[6] & 0x0F | 0x40);
            bytes[8] = (byte)(bytes[8] & 0x3F | 0x80);
            return UuidRoot + "." + new BigInteger(bytes, isUnsigned: true, isBigEndian: true).ToString();
        }
        var suffix = new BigInteger(bytes, isUnsigned: true, isBigEndian: true).ToString();
        var room = 64 - Root.Length - 1;
        if (suffix.Length > room) suffix = suffix[..room];
        suffix = suffix.TrimStart('0');
        if (suffix.Length == 0) suffix = "1";
        return Root + "." + suffix;
    }

    /// <summary>A UID derived deterministically from a name under the root, e.g. so a retried job re-creates the same SOP Instance UID.</summary>
    public string FromName(string name)
    {
        var hash = SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(Root + "|" + name));
        var value = new BigInteger(hash.AsSpan(0, 16), isUnsigned: true, isBigEndian: true).ToString();
        var room = 64 - Root.Length - 1;
        if (value.Length > room) value = value[..room];
        value = value.TrimStart('0');
        return Root + "." + (value.Length == 0 ? "1" : value);
    }
}
