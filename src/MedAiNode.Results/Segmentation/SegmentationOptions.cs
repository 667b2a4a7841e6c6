namespace MedAiNode.Results.Segmentation;

/// <summary>How a SEG is written. Keys in messages are as in configuration (Results:Segmentation:...).</summary>
public sealed record SegmentationOptions : WrittenObjectOptions
{
    public const string Section = "Results:Segmentation";

    public SegmentationOptions() : base(9901, "AI Segmentation") { }

    /// <summary>Content Label (CS): upper case, at most 16 characters.</summary>
    public string ContentLabel { get; init; } = "AI_SEGMENTATION";
    public string? ContentDescription { get; init; }
    /// <summary>Content Creator's Name (PN); the node itself by default.</summary>
    public string ContentCreatorName { get; init; } = "MedAiNode^AI";
    /// <summary>Keep (segment, slice) frames with no voxel set. Off by default: viewers and PACS get far smaller objects.</summary>
    public bool IncludeEmptyFrames { get; init; }

    private protected override string ConfigSection => Section;

    private protected override void ValidateOwn(string section)
    {
        if (DicomValueRules.Check(DicomVR.CS, ContentLabel) is not null || ContentLabel.Length == 0)
            throw new ArgumentException($"{section}:ContentLabel '{ContentLabel}' is not a valid Code String (upper case, digits, space, underscore; 16 characters).", nameof(ContentLabel));
        EquipmentOptions.Require(ContentCreatorName, section + ":ContentCreatorName");
    }
}
