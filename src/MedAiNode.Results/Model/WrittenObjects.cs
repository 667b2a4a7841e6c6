using MedAiNode.Dicom.IO;

namespace MedAiNode.Results;

/// <summary>A DICOM object this library wrote (a SEG, an SR): the file, and the identity a caller sends and links by.</summary>
public abstract class WrittenObject
{
    private protected WrittenObject(DicomFile file) => File = file;

    public DicomFile File { get; }
    public DicomDataset Dataset => File.Dataset;
    public string SopInstanceUid => Dataset.GetString(DicomTags.SOPInstanceUID)!;
    public string SeriesInstanceUid => Dataset.GetString(DicomTags.SeriesInstanceUID)!;
}

/// <summary>
/// What every writer here is configured with: the new series, numbering, UIDs and equipment, checked the same way.
/// Keys in messages are as in configuration (the derived options' Section).
/// </summary>
public abstract record WrittenObjectOptions
{
    private protected WrittenObjectOptions(int seriesNumber, string seriesDescription)
    {
        SeriesNumber = seriesNumber;
        SeriesDescription = seriesDescription;
    }

    public int SeriesNumber { get; init; }
    public string SeriesDescription { get; init; }
    public int InstanceNumber { get; init; } = 1;
    /// <summary>When set, every UID is derived from it (DicomUidGenerator.FromName) so a retried job resends the same UIDs.</summary>
    public string? UidSeed { get; init; }
    /// <summary>Organisational UID root; the 2.25 UUID root when empty.</summary>
    public string? UidRoot { get; init; }
    public EquipmentOptions Equipment { get; init; } = new();
    /// <summary>Content date/time; now when null.</summary>
    public DateTimeOffset? ContentDateTime { get; init; }

    /// <summary>The configuration section the messages name (Results:...).</summary>
    private protected abstract string ConfigSection { get; }

    public void Validate()
    {
        var section = ConfigSection;
        if (SeriesNumber < 0) throw new ArgumentException($"{section}:SeriesNumber must be 0 or more (was {SeriesNumber}).", nameof(SeriesNumber));
        if (InstanceNumber < 0) throw new ArgumentException($"{section}:InstanceNumber must be 0 or more (was {InstanceNumber}).", nameof(InstanceNumber));
        EquipmentOptions.Require(SeriesDescription, section + ":SeriesDescription");
        ValidateOwn(section);
        if (UidSeed is { Length: 0 }) throw new ArgumentException($"{section}:UidSeed must be null or non-empty.", nameof(UidSeed));
        try { _ = new DicomUidGenerator(UidRoot); }
        catch (ArgumentException e) { throw new ArgumentException($"{section}:UidRoot: {e.Message}", nameof(UidRoot), e); }
        Equipment.Validate(section + ":Equipment:");
    }

    /// <summary>The checks of one kind of object, between the series checks and the UID checks (the order messages came in before).</summary>
    private protected virtual void ValidateOwn(string section) { }
}
