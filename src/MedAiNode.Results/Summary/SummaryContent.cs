using System.Globalization;

namespace MedAiNode.Results.Summary;

public enum SummaryOutcomeKind { Findings, NothingFound, NotAnalysed }

/// <summary>What the analysis of the study came to, as the summary's first page states it.</summary>
public sealed record SummaryOutcome(SummaryOutcomeKind Kind, string Text)
{
    public static SummaryOutcome Findings(int segments) =>
        new(SummaryOutcomeKind.Findings, segments == 1 ? "1 segment found" : $"{segments} segments found");
    public static SummaryOutcome NothingFound(string? detail = null) =>
        new(SummaryOutcomeKind.NothingFound, "nothing found" + (string.IsNullOrWhiteSpace(detail) ? "" : $" ({detail})"));
    public static SummaryOutcome NotAnalysed(string why) => new(SummaryOutcomeKind.NotAnalysed, "not analysed: " + why);
}

/// <summary>A CT window: HU centre and width.</summary>
public sealed record DisplayWindow(string Name, double Centre, double Width)
{
    public static readonly DisplayWindow Lung = new("lung", -600, 1500);
    public static readonly DisplayWindow Brain = new("brain", 40, 80);
    public static readonly DisplayWindow SoftTissue = new("soft tissue", 40, 400);
    public static readonly DisplayWindow Bone = new("bone", 400, 1800);

    /// <summary>The configured window, or for Auto: brain for a head series, lung for a chest series or lung segments, else soft tissue.</summary>
    public static DisplayWindow Choose(SummaryWindow configured, string? bodyPartExamined, IEnumerable<string> segmentNames)
    {
        switch (configured)
        {
            case SummaryWindow.Lung: return Lung;
            case SummaryWindow.Brain: return Brain;
            case SummaryWindow.SoftTissue: return SoftTissue;
            case SummaryWindow.Bone: return Bone;
        }
        var part = (bodyPartExamined ?? "").ToUpperInvariant();
        var names = string.Join(" ", segmentNames).ToLowerInvariant();
        if (part is "HEAD" or "BRAIN" or "SKULL" || names.Contains("brain") || names.Contains("haemorrhage") || names.Contains("hemorrhage")) return Brain;
        if (part is "CHEST" or "LUNG" or "THORAX" || names.Contains("lung")) return Lung;
        return SoftTissue;
    }

    public string Describe() => string.Create(CultureInfo.InvariantCulture, $"{Name} window (W {Width:0}, L {Centre:0} HU)");
}

/// <summary>One source slice to show: its index in the source series, why it was chosen, its HU and its labels (row-major).</summary>
public sealed record SummaryKeySlice(int SliceIndex, string Reason, float[] Hu, ReadOnlyMemory<byte> Labels);

/// <summary>Everything a summary series shows; the writer adds no content of its own beyond layout.</summary>
public sealed record SummaryContent
{
    public required AlgorithmInfo Algorithm { get; init; }
    public required SummaryOutcome Outcome { get; init; }
    /// <summary>The SEG's segments (numbers, names, colours), in the legend and the table.</summary>
    public IReadOnlyList<SegmentDescription> Segments { get; init; } = [];
    public IReadOnlyList<Measurement> Measurements { get; init; } = [];
    public IReadOnlyList<SummaryKeySlice> KeySlices { get; init; } = [];
    public DisplayWindow Window { get; init; } = DisplayWindow.SoftTissue;
}
