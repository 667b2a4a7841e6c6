namespace MedAiNode.Results;

/// <summary>The model that produced the result: recorded in the SEG (Segmentation Algorithm Identification) and the SR.</summary>
public sealed record AlgorithmInfo(string Name, string Version, string? ModelSha256 = null)
{
    /// <summary>Text for Algorithm Parameters: the model file's SHA-256, so a result names the exact weights it came from.</summary>
    public string? Parameters => ModelSha256 is { Length: > 0 } h ? "model-sha256=" + h.ToLowerInvariant() : null;
}

/// <summary>One row of the model's label table: label value n in the label map is segment n.</summary>
public sealed record SegmentDescription
{
    public required int Number { get; init; }
    public required string Label { get; init; }
    /// <summary>Segmented Property Category (CID 7150), e.g. (123037004, SCT, "Anatomical Structure").</summary>
    public required CodedConcept Category { get; init; }
    /// <summary>Segmented Property Type (CID 7151 etc.), e.g. (10200004, SCT, "Liver").</summary>
    public required CodedConcept Type { get; init; }
    public CodedConcept? AnatomicRegion { get; init; }
    public DicomCieLab? Color { get; init; }
    /// <summary>Overrides the job's algorithm for this segment, if a label table mixes models.</summary>
    public AlgorithmInfo? Algorithm { get; init; }
    /// <summary>Tracking Identifier; defaults to the label.</summary>
    public string? TrackingId { get; init; }
}

/// <summary>
/// The label map on the source grid: for each source instance (by SOP Instance UID) Rows*Columns bytes in row-major
/// order, 0 background and n meaning segment n. Instances with no entry have no voxel set.
/// </summary>
public sealed class LabelMap
{
    private readonly Dictionary<string, ReadOnlyMemory<byte>> _slices = new(StringComparer.Ordinal);

    public LabelMap Set(string sopInstanceUid, ReadOnlyMemory<byte> labels)
    {
        _slices[sopInstanceUid] = labels;
        return this;
    }

    public bool TryGet(string sopInstanceUid, out ReadOnlyMemory<byte> labels) => _slices.TryGetValue(sopInstanceUid, out labels);
    public IReadOnlyCollection<string> Instances => _slices.Keys;
}

/// <summary>
/// The longest in-plane distance of a region on one source image (its key slice): two points in image coordinates as a
/// SCOORD holds them (PS3.3 C.18.6.1.1: 0,0 is the top left corner of the top left pixel, so a pixel's centre is at
/// +0.5), and the length in mm between them (pixel spacing applied).
/// </summary>
public sealed record KeySliceLongAxis(string SopInstanceUid, double Column1, double Row1, double Column2, double Row2, double LengthMm);

/// <summary>
/// One measurement group of the SR: the measurements of one segment (TID 1411, pointing at its SEG segment), of one
/// lesion within a segment, or of several segments together (TID 1501, named by <see cref="TrackingId"/>).
/// </summary>
public sealed record MeasurementGroup
{
    /// <summary>The SEG segment measured; null for a group over several segments (see <see cref="Segments"/>).</summary>
    public int? SegmentNumber { get; init; }
    /// <summary>The segments a multi-segment group covers (for its name and finding sites); empty otherwise.</summary>
    public IReadOnlyList<int> Segments { get; init; } = [];
    /// <summary>Null for a whole-segment group; 1, 2, ... for the lesions of a detection model.</summary>
    public int? LesionNumber { get; init; }
    /// <summary>Tracking Identifier; defaults to the segment's (with " lesion N"), or the segments' labels joined.</summary>
    public string? TrackingId { get; init; }
    /// <summary>Overrides the segment's type code as the Finding, e.g. (27925004, SCT, "Nodule") for a lesion.</summary>
    public CodedConcept? Finding { get; init; }
    /// <summary>The numbers, written in this order as TID 1419 NUM items.</summary>
    public IReadOnlyList<Measurement> Measurements { get; init; } = [];
    /// <summary>Centroid of the measured region (segment, lesion, or union of segments) in patient coordinates (mm), written as the group's SCOORD3D POINT "Center of Mass".</summary>
    public double[]? CentroidMm { get; init; }
    /// <summary>The region's long axis on its key slice, in that image's pixel coordinates; written as a planar group of
    /// its own beside this one (see <see cref="Reports.MeasurementReportOptions.KeySliceLengths"/>). Null: none.</summary>
    public KeySliceLongAxis? KeySliceLongAxis { get; init; }

    /// <summary>
    /// Groups measurements as the SR reports them: by the one segment (and lesion) they measure, or by the set of
    /// segments they cover together; groups in the order their first measurement comes.
    /// </summary>
    public static List<MeasurementGroup> From(IEnumerable<Measurement> measurements)
    {
        var groups = new List<(string Key, MeasurementGroup Group, List<Measurement> Items)>();
        foreach (var m in measurements)
        {
            var labels = m.Labels.Distinct().Order().ToArray();
            var key = string.Join(",", labels) + "|" + m.Lesion;
            var at = groups.FindIndex(g => g.Key == key);
            if (at < 0)
            {
                groups.Add((key, new MeasurementGroup
                {
                    SegmentNumber = labels.Length == 1 ? labels[0] : null,
                    Segments = labels.Length == 1 ? [] : labels,
                    LesionNumber = m.Lesion,
                }, []));
                at = groups.Count - 1;
            }
            groups[at].Items.Add(m);
        }
        return groups.Select(g => g.Group with { Measurements = g.Items }).ToList();
    }
}
