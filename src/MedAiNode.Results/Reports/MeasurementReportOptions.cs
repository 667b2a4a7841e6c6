namespace MedAiNode.Results.Reports;

/// <summary>How the TID 1500 Measurement Report is written. Keys in messages are as in configuration (Results:Report:...).</summary>
public sealed record MeasurementReportOptions : WrittenObjectOptions
{
    public const string Section = "Results:Report";

    public MeasurementReportOptions() : base(9902, "AI Measurements") { }

    /// <summary>Procedure reported (TID 1500 row 3, CID 100).</summary>
    public CodedConcept ProcedureReported { get; init; } = Codes.CtUnspecifiedBodyRegion;
    /// <summary>COMPLETE by default: the AI run is finished; a radiologist's sign-off is the Verification Flag's business.</summary>
    public string CompletionFlag { get; init; } = "COMPLETE";

    private protected override string ConfigSection => Section;

    private protected override void ValidateOwn(string section)
    {
        if (CompletionFlag is not ("COMPLETE" or "PARTIAL"))
            throw new ArgumentException($"{section}:CompletionFlag must be COMPLETE or PARTIAL (was '{CompletionFlag}').", nameof(CompletionFlag));
    }
}
