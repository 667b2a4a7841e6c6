namespace MedAiNode.Dicom;

/// <summary>A concept modifier of a measurement (PS3.16 TID 1419 rows), e.g. (Measurement Method, Sum of segmented voxel volumes).</summary>
public sealed record ConceptModifier(CodedConcept Name, CodedConcept Value);

/// <summary>
/// One number a model's analysis measured, as data: what it is (a coded concept), its value and UCUM unit, and the
/// region it was measured on. An SR NUM item is written from exactly this, whatever model produced it.
/// </summary>
public sealed record Measurement(CodedConcept Concept, double Value, CodedConcept Unit)
{
    /// <summary>The manifest's id for it (e.g. "laa950"), for measurements.json and logs.</summary>
    public string Id { get; init; } = "";
    /// <summary>A person's name for it (e.g. "Lung volume"); the concept's meaning when empty.</summary>
    public string Name { get; init; } = "";
    /// <summary>The label values (segments) the region is made of: one for a per-segment measurement, several for their union.</summary>
    public IReadOnlyList<int> Labels { get; init; } = [];
    /// <summary>1, 2, ... when the region is one lesion (connected component) of <see cref="Labels"/>; null for the whole region.</summary>
    public int? Lesion { get; init; }
    public IReadOnlyList<ConceptModifier> Modifiers { get; init; } = [];
    /// <summary>Where it was measured, when it has a spatial extent (a longest diameter's two end points); written as a
    /// SCOORD3D the NUM is inferred from.</summary>
    public SpatialCoordinates? Geometry { get; init; }

    public string DisplayName => Name.Length > 0 ? Name : Concept.Meaning;
}

/// <summary>
/// Spatial coordinates in the patient coordinate system (mm) of the source's Frame of Reference, as an SR SCOORD3D
/// holds them (PS3.3 C.18.9): a POINT (one x,y,z) or a POLYLINE (two or more, e.g. a diameter's end points).
/// </summary>
public sealed record SpatialCoordinates
{
    public const string PointType = "POINT", PolylineType = "POLYLINE";

    private SpatialCoordinates(string graphicType, double[] pointsMm)
    {
        if (pointsMm.Any(v => !double.IsFinite(v))) throw new ArgumentException("Spatial coordinates must be finite numbers.", nameof(pointsMm));
        GraphicType = graphicType;
        PointsMm = pointsMm;
    }

    /// <summary>POINT or POLYLINE.</summary>
    public string GraphicType { get; }
    /// <summary>x1,y1,z1, x2,y2,z2, ... in mm.</summary>
    public IReadOnlyList<double> PointsMm { get; }
    public int PointCount => PointsMm.Count / 3;

    public static SpatialCoordinates Point(double x, double y, double z) => new(PointType, [x, y, z]);

    /// <summary>A two-point POLYLINE: a line from one point to the other (a diameter, a distance).</summary>
    public static SpatialCoordinates Line(double x1, double y1, double z1, double x2, double y2, double z2) =>
        new(PolylineType, [x1, y1, z1, x2, y2, z2]);

    /// <summary>The polyline's length (0 for a point).</summary>
    public double LengthMm
    {
        get
        {
            double sum = 0;
            for (var i = 3; i + 2 < PointsMm.Count; i += 3)
            {
                double dx = PointsMm[i] - PointsMm[i - 3], dy = PointsMm[i + 1] - PointsMm[i - 2], dz = PointsMm[i + 2] - PointsMm[i - 1];
                sum += Math.Sqrt(dx * dx + dy * dy + dz * dz);
            }
            return sum;
        }
    }
}
