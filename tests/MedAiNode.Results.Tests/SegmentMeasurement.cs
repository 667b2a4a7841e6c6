using MedAiNode.Dicom;

namespace MedAiNode.Results.Tests;

/// <summary>
/// Test shorthand for a measurement group with the usual numbers of a segment or lesion; <see cref="Groups.ToGroups"/>
/// turns it into the coded measurements the writer takes, as the analysis pipeline would make them.
/// </summary>
internal sealed record SegmentMeasurement
{
    public required int SegmentNumber { get; init; }
    public int? LesionNumber { get; init; }
    public double? VolumeMl { get; init; }
    public double? MeanHu { get; init; }
    public double? LongestDiameterMm { get; init; }
    /// <summary>The longest diameter's two end points (x1,y1,z1,x2,y2,z2, patient mm): its SCOORD3D POLYLINE.</summary>
    public double[]? LongAxisEndsMm { get; init; }
    /// <summary>Percentage of the region below -950 HU.</summary>
    public double? Laa950Percent { get; init; }
    public double[]? CentroidMm { get; init; }
    public CodedConcept? Finding { get; init; }
}

internal static class Groups
{
    public static readonly CodedConcept Laa950 = Codes.PercentBelow(-950, Codes.HounsfieldUnit);

    public static MeasurementGroup ToGroup(this SegmentMeasurement m)
    {
        var values = new List<Measurement>();
        int[] labels = [m.SegmentNumber];
        if (m.VolumeMl is { } v)
            values.Add(new Measurement(Codes.Volume, v, Codes.Milliliter) { Labels = labels, Lesion = m.LesionNumber, Modifiers = [new(Codes.MeasurementMethod, Codes.SumOfSegmentedVoxelVolumes)] });
        if (m.MeanHu is { } hu)
            values.Add(new Measurement(Codes.AttenuationCoefficient, hu, Codes.HounsfieldUnit) { Labels = labels, Lesion = m.LesionNumber, Modifiers = [new(Codes.Derivation, Codes.Mean)] });
        if (m.LongestDiameterMm is { } d)
            values.Add(new Measurement(Codes.LongAxis, d, Codes.Millimeter)
            {
                Labels = labels, Lesion = m.LesionNumber,
                Geometry = m.LongAxisEndsMm is { } e ? SpatialCoordinates.Line(e[0], e[1], e[2], e[3], e[4], e[5]) : null,
            });
        if (m.Laa950Percent is { } laa) values.Add(new Measurement(Laa950, laa, Codes.Percent) { Labels = labels, Lesion = m.LesionNumber });
        return new MeasurementGroup { SegmentNumber = m.SegmentNumber, LesionNumber = m.LesionNumber, Finding = m.Finding, CentroidMm = m.CentroidMm, Measurements = values };
    }

    public static List<MeasurementGroup> ToGroups(this IEnumerable<SegmentMeasurement> list) => list.Select(ToGroup).ToList();
}
