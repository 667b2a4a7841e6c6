using System.Collections.Frozen;

namespace MedAiNode.Dicom;

public sealed class DicomDictionaryEntry(uint tag, uint mask, string keyword, string name, string vm, bool retired, params DicomVR[] vrs)
{
    public uint Tag { get; } = tag;
    /// <summary>0xFFFFFFFF for an ordinary tag; repeating groups such as (60xx,3000) clear the wildcard nibbles.</summary>
    public uint Mask { get; } = mask;
    public string Keyword { get; } = keyword;
    public string Name { get; } = name;
    public string ValueMultiplicity { get; } = vm;
    public bool IsRetired { get; } = retired;
    /// <summary>One VR, or several where PS3.6 says "US or SS", "OB or OW".</summary>
    public IReadOnlyList<DicomVR> ValueRepresentations { get; } = vrs;
    public DicomVR VR => ValueRepresentations[0];
}

/// <summary>The PS3.6 data dictionary: tag to keyword, name, VR and VM.</summary>
public static partial class DicomDictionary
{
    private static readonly DicomDictionaryEntry[] Entries = CreateEntries();
    private static readonly FrozenDictionary<uint, DicomDictionaryEntry> ByTag =
        Entries.Where(e => e.Mask == 0xFFFFFFFF).ToFrozenDictionary(e => e.Tag);
    private static readonly DicomDictionaryEntry[] Repeaters = Entries.Where(e => e.Mask != 0xFFFFFFFF).ToArray();
    private static readonly FrozenDictionary<string, DicomDictionaryEntry> ByKeyword =
        Entries.Where(e => e.Mask == 0xFFFFFFFF && e.Keyword.Length > 0)
            .GroupBy(e => e.Keyword).ToFrozenDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal);

    public static int Count => Entries.Length;

    public static DicomDictionaryEntry? Find(DicomTag tag)
    {
        if (ByTag.TryGetValue(tag.Value, out var e)) return e;
        if (tag.IsPrivate) return null;
        foreach (var r in Repeaters)
            if ((tag.Value & r.Mask) == r.Tag) return r;
        return null;
    }

    public static DicomDictionaryEntry? FindByKeyword(string keyword) =>
        ByKeyword.TryGetValue(keyword, out var e) ? e : null;

    /// <summary>The VR to use when the encoding does not carry one (Implicit VR) or a caller does not name one.</summary>
    public static DicomVR GetVR(DicomTag tag)
    {
        if (tag.Element == 0) return DicomVR.UL; // group length
        if (tag.IsPrivate)
            return tag.IsPrivateCreator ? DicomVR.LO : DicomVR.UN;
        return Find(tag)?.VR ?? DicomVR.UN;
    }

    public static string GetKeyword(DicomTag tag)
    {
        if (tag.Element == 0) return "GroupLength";
        if (tag.IsPrivateCreator) return "PrivateCreator";
        return Find(tag)?.Keyword is { Length: > 0 } k ? k : (tag.IsPrivate ? "PrivateTag" : "Unknown");
    }
}
