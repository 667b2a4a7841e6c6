using MedAiNode.Dicom;

namespace MedAiNode.Results.Segmentation;

/// <summary>How a SEG is written. Keys in messages are as in configuration (Results:Segmentation:...).</summary>
public sealed record SegmentationOptions
{
    public const string Section = "Results:Segmentation";

    public int SeriesNumber { get; init; } = 9901;
    public string SeriesDescription { get; init; } = "AI Segmentation";
    /// <summary>Content Label (CS): upper case, at most 16 characters.</summary>
    public string ContentLabel { get; init; } = "AI_SEGMENTATION";
    public string? ContentDescription { get; init; }
    /// <summary>Content Creator's Name (PN); the node itself by default.</summary>
    public string ContentCreatorName { get; init; } = "MedAiNode^AI";
    public int InstanceNumber { get; init; } = 1;
    /// <summary>Keep (segment, slice) frames with no voxel set. Off by default: viewers and PACS get far smaller objects.</summary>
    public bool IncludeEmptyFrames { get; init; }
    /// <summary>When set, every UID is derived from it (DicomUidGenerator.FromName) so a retried job resends the same UIDs.</summary>
    public string? UidSeed { get; init; }
    /// <summary>Organisational UID root; the 2.25 UUID root when empty.</summary>
    public string? UidRoot { get; init; }
    public EquipmentOptions Equipment { get; init; } = new();
    /// <summary>Content date/time; now when null.</summary>
    public DateTimeOffset? ContentDateTime { get; init; }

    public void Validate()
    {
        if (SeriesNumber < 0) throw new ArgumentException($"{Section}:SeriesNumber must be 0 or more (was {SeriesNumber}).", nameof(SeriesNumber));
        if (InstanceNumber < 0) throw new ArgumentException($"{Section}:InstanceNumber must be 0 or more (was {InstanceNumber}).", nameof(InstanceNumber));
        EquipmentOptions.Require(SeriesDescription, Section + ":SeriesDescription");
        if (DicomValueRules.Check(DicomVR.CS, ContentLabel) is not null || ContentLabel.Length == 0)
            throw new ArgumentException($"{Section}:ContentLabel '{ContentLabel}' is not a valid Code String (upper case, digits, space, underscore; 16 characters).", nameof(ContentLabel));
        EquipmentOptions.Require(ContentCreatorName, Section + ":ContentCreatorName");
        if (UidSeed is { Length: 0 }) throw new ArgumentException($"{Section}:UidSeed must be null or non-empty.", nameof(UidSeed));
        try { _ = new DicomUidGenerator(UidRoot); }
        catch (ArgumentException e) { throw new ArgumentException($"{Section}:UidRoot: {e.Message}", nameof(UidRoot), e); }
        Equipment.Validate(Section + ":Equipment:");
    }
}
