using MedAiNode.Dicom;

namespace MedAiNode.Results.Reports;

/// <summary>How the TID 1500 Measurement Report is written. Keys in messages are as in configuration (Results:Report:...).</summary>
public sealed record MeasurementReportOptions
{
    public const string Section = "Results:Report";

    public int SeriesNumber { get; init; } = 9902;
    public string SeriesDescription { get; init; } = "AI Measurements";
    public int InstanceNumber { get; init; } = 1;
    /// <summary>Procedure reported (TID 1500 row 3, CID 100).</summary>
    public CodedConcept ProcedureReported { get; init; } = Codes.CtUnspecifiedBodyRegion;
    /// <summary>COMPLETE by default: the AI run is finished; a radiologist's sign-off is the Verification Flag's business.</summary>
    public string CompletionFlag { get; init; } = "COMPLETE";
    public string? UidSeed { get; init; }
    public string? UidRoot { get; init; }
    public EquipmentOptions Equipment { get; init; } = new();
    public DateTimeOffset? ContentDateTime { get; init; }

    public void Validate()
    {
        if (SeriesNumber < 0) throw new ArgumentException($"{Section}:SeriesNumber must be 0 or more (was {SeriesNumber}).", nameof(SeriesNumber));
        if (InstanceNumber < 0) throw new ArgumentException($"{Section}:InstanceNumber must be 0 or more (was {InstanceNumber}).", nameof(InstanceNumber));
        EquipmentOptions.Require(SeriesDescription, Section + ":SeriesDescription");
        if (CompletionFlag is not ("COMPLETE" or "PARTIAL"))
            throw new ArgumentException($"{Section}:CompletionFlag must be COMPLETE or PARTIAL (was '{CompletionFlag}').", nameof(CompletionFlag));
        if (UidSeed is { Length: 0 }) throw new ArgumentException($"{Section}:UidSeed must be null or non-empty.", nameof(UidSeed));
        try { _ = new DicomUidGenerator(UidRoot); }
        catch (ArgumentException e) { throw new ArgumentException($"{Section}:UidRoot: {e.Message}", nameof(UidRoot), e); }
        Equipment.Validate(Section + ":Equipment:");
    }
}
