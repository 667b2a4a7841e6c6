namespace MedAiNode.Results.Summary;

/// <summary>Which CT window the key slices are drawn in. Auto: lung for a chest series or lung segments, brain for a head, else soft tissue.</summary>
public enum SummaryWindow { Auto, Lung, Brain, SoftTissue, Bone }

/// <summary>
/// How the "AI summary" Secondary Capture series is written: key slices with coloured overlays and a page with the
/// measurements, for viewers that show neither SEG nor SR. Keys in messages are as in configuration (Results:Summary:...).
/// </summary>
public sealed record SummaryOptions : WrittenObjectOptions
{
    public const string Section = "Results:Summary";

    public SummaryOptions() : base(9903, "AI summary") { }

    /// <summary>On by default: many PACS viewers show neither SEG nor SR, and this series is all their users see.</summary>
    public bool Enabled { get; init; } = true;
    /// <summary>At most this many key-slice images (the measurement page comes on top).</summary>
    public int MaxKeySlices { get; init; } = 8;
    public SummaryWindow Window { get; init; } = SummaryWindow.Auto;
    /// <summary>A study no model analyses (no eligible series, a series that forms no volume) still gets one page saying
    /// "not analysed: why", sent like any result, while the study ends Failed with that reason. On by default (with
    /// <see cref="Enabled"/>); false: such a study sends nothing, as before.</summary>
    public bool NotAnalysed { get; init; } = true;
    /// <summary>The same pages also as one Encapsulated PDF, a series of its own (Modality DOC). Off by default.</summary>
    public bool Pdf { get; init; }
    public int PdfSeriesNumber { get; init; } = 9904;
    /// <summary>A TrueType/OpenType file for the text; empty: DejaVu Sans (Debian fonts-dejavu-core), else Skia's default.</summary>
    public string FontFile { get; init; } = "";

    private protected override string ConfigSection => Section;

    private protected override void ValidateOwn(string section)
    {
        if (PdfSeriesNumber < 0) throw new ArgumentException($"{section}:PdfSeriesNumber must be 0 or more (was {PdfSeriesNumber}).", nameof(PdfSeriesNumber));
        if (MaxKeySlices is < 0 or > 64)
            throw new ArgumentException($"{section}:MaxKeySlices must be 0..64 (was {MaxKeySlices}).", nameof(MaxKeySlices));
        if (!Enum.IsDefined(Window))
            throw new ArgumentException($"{section}:Window must be one of {string.Join(", ", Enum.GetNames<SummaryWindow>())} (was {Window}).", nameof(Window));
        // Only when the series is written: a node with it switched off needs no font.
        if (Enabled) SummaryFonts.Resolve(FontFile, section + ":FontFile");
    }
}
