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
    /// <summary>
    /// Beside each segment's and lesion's group, one more TID 1501 group: the region's long axis on its key slice, a NUM
    /// inferred from a two-point SCOORD on that source image, under the Tracking Identifier Cornerstone gives its Length
    /// tool (<see cref="CornerstoneLengthTrackingIdentifier"/>) and the region's name (and volume) as a Comment. OHIF 3
    /// lists only groups it can turn into its own tools in its measurement panel; this is the one such shape that carries
    /// our own number (conformance/results.md, "OHIF's measurement panel"). On by default.
    /// </summary>
    public bool KeySliceLengths { get; init; } = true;

    /// <summary>The Tracking Identifier OHIF's SR import (@cornerstonejs/adapters, Length adapter) recognises as its Length tool.</summary>
    public const string CornerstoneLengthTrackingIdentifier = "Cornerstone3DTools@^0.1.0:Length";

    private protected override string ConfigSection => Section;

    private protected override void ValidateOwn(string section)
    {
        if (CompletionFlag is not ("COMPLETE" or "PARTIAL"))
            throw new ArgumentException($"{section}:CompletionFlag must be COMPLETE or PARTIAL (was '{CompletionFlag}').", nameof(CompletionFlag));
    }
}
