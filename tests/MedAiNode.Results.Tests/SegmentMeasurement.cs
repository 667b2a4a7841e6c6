using MedAiNode.Dicom;

namespace MedAiNode.Results.Tests;

/// <summary>
/// Test shorthand for a measurement group with the usual numbers of a segment or lesion; <see cref="Groups.ToGroups"/>
/// turns it into the coded measurements the writer takes, as the analysis pipeline would make them.
/// </summary>
/// <param name="LesionNumber">Null for the whole segment; 1, 2, ... for its lesions.</param>
/// <param name="MeanHu">Mean attenuation, written as Attenuation Coefficient with Derivation = Mean.</param>
/// <param name="LongAxisEndsMm">The longest diameter's two end points (x1,y1,z1,x2,y2,z2, patient mm): its SCOORD3D POLYLINE.</param>
/// <param name="Laa950Percent">Percentage of the region below -950 HU.</param>
internal sealed record SegmentMeasurement(
    int SegmentNumber = 0, int? LesionNumber = null, double? VolumeMl = null, double? MeanHu = null, double? LongestDiameterMm = null,
    double[]? LongAxisEndsMm = null, double? Laa950Percent = null, double[]? CentroidMm = null, CodedConcept? Finding = null);

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
