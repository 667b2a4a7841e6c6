namespace MedAiNode.Results;

/// <summary>The model that produced the result: recorded in the SEG (Segmentation Algorithm Identification) and the SR.</summary>
public sealed record AlgorithmInfo(string Name, string Version, string? ModelSha256 = null)
{
    /// <summary>Text for Algorithm Parameters: the model file's SHA-256, so a result names the exact weights it came from.</summary>
    public string? Parameters => ModelSha256 is { Length: > 0 } h ? "model-sha256=" + h.ToLowerInvariant() : null;
}

/// <summary>CIELab as DICOM stores it: L*, a*, b* scaled to 0..65535 (PS3.3 C.10.7.1.1).</summary>
public readonly record struct DicomCieLab(ushort L, ushort A, ushort B)
{
    /// <summary>From L* in 0..100 and a*, b* in -128..127.</summary>
    public static DicomCieLab FromLab(double l, double a, double b) => new(
        (ushort)Math.Round(Math.Clamp(l, 0, 100) * 65535 / 100),
        (ushort)Math.Round((Math.Clamp(a, -128, 127) + 128) * 65535 / 255),
        (ushort)Math.Round((Math.Clamp(b, -128, 127) + 128) * 65535 / 255));

    /// <summary>From sRGB 0..255 (D65), the way viewers turn it back.</summary>
    public static DicomCieLab FromRgb(byte r, byte g, byte b)
    {
        static double Lin(byte c) { var v = c / 255.0; return v <= 0.04045 ? v / 12.92 : Math.Pow((v + 0.055) / 1.055, 2.4); }
        double rl = Lin(r), gl = Lin(g), bl = Lin(b);
        // sRGB to XYZ with the full-precision matrix, whose rows sum to the D65 white point (so white maps to a* = b* = 0).
        var x = (0.4124564 * rl + 0.3575761 * gl + 0.1804375 * bl) / 0.95047;
        var y = 0.2126729 * rl + 0.7151522 * gl + 0.0721750 * bl;
        var z = (0.0193339 * rl + 0.1191920 * gl + 0.9503041 * bl) / 1.08883;
        static double F(double t) => t > 216.0 / 24389 ? Math.Cbrt(t) : (24389.0 / 27 * t + 16) / 116;
        return FromLab(116 * F(y) - 16, 500 * (F(x) - F(y)), 200 * (F(y) - F(z)));
    }
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
    /// <summary>Centroid in patient coordinates (mm), reported as a SCOORD3D POINT for lesions.</summary>
    public double[]? CentroidMm { get; init; }

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
