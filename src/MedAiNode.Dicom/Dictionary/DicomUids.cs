using System.Collections.Frozen;

namespace MedAiNode.Dicom;

public sealed record DicomUidEntry(string Uid, string Name, string Type, string Keyword, bool IsRetired);

/// <summary>The PS3.6 UID registry (SOP classes, transfer syntaxes, well-known instances).</summary>
public static partial class DicomUids
{
    private static readonly FrozenDictionary<string, DicomUidEntry> ByUid =
        CreateEntries().ToFrozenDictionary(e => e.Uid, StringComparer.Ordinal);

    public static DicomUidEntry? Find(string uid) => ByUid.TryGetValue(uid, out var e) ? e : null;
    public static string NameOf(string uid) => Find(uid)?.Name ?? uid;
}
