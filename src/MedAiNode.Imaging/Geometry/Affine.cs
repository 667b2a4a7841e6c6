namespace MedAiNode.Imaging.Geometry;

/// <summary>
/// Maps voxel indices (i = column/x, j = row/y, k = slice/z) to patient coordinates in LPS millimetres:
/// p = Origin + i*Col0 + j*Col1 + k*Col2. The columns need not be orthogonal, so a gantry-tilted stack keeps its true
/// (sheared) geometry instead of being forced onto a rectangular grid.
/// </summary>
public sealed record Affine(Vec3 Origin, Vec3 Col0, Vec3 Col1, Vec3 Col2)
{
    public static Affine FromDirections(Vec3 origin, Vec3 spacing, Vec3 dirX, Vec3 dirY, Vec3 dirZ) =>
        new(origin, dirX * spacing.X, dirY * spacing.Y, dirZ * spacing.Z);

    public Vec3 Spacing => new(Col0.Length, Col1.Length, Col2.Length);
    public Vec3 DirectionX => Col0.Normalized();
    public Vec3 DirectionY => Col1.Normalized();
    public Vec3 DirectionZ => Col2.Normalized();

    /// <summary>True when the three axes are mutually orthogonal (within a small angular tolerance).</summary>
    public bool IsOrthogonal(double tolerance = 1e-4) =>
        Math.Abs(DirectionX.Dot(DirectionY)) < tolerance && Math.Abs(DirectionX.Dot(DirectionZ)) < tolerance && Math.Abs(DirectionY.Dot(DirectionZ)) < tolerance;

    public Vec3 IndexToPatient(double i, double j, double k) => Origin + Col0 * i + Col1 * j + Col2 * k;
    public Vec3 IndexToPatient(Vec3 ijk) => IndexToPatient(ijk.X, ijk.Y, ijk.Z);

    public Vec3 PatientToIndex(Vec3 p) => Inverse().Apply(p);

    /// <summary>The inverse mapping, patient to continuous index, as a 3x4 matrix.</summary>
    public InverseAffine Inverse() => _inverse ??= InverseAffine.Of(this);
    private InverseAffine? _inverse;

    /// <summary>Row-major 4x4 matrix (last row 0 0 0 1).</summary>
    public double[,] ToMatrix() => new double[,]
    {
        { Col0.X, Col1.X, Col2.X, Origin.X },
        { Col0.Y, Col1.Y, Col2.Y, Origin.Y },
        { Col0.Z, Col1.Z, Col2.Z, Origin.Z },
        { 0, 0, 0, 1 },
    };

    public static Affine FromMatrix(double[,] m) =>
        new(new Vec3(m[0, 3], m[1, 3], m[2, 3]), new Vec3(m[0, 0], m[1, 0], m[2, 0]), new Vec3(m[0, 1], m[1, 1], m[2, 1]), new Vec3(m[0, 2], m[1, 2], m[2, 2]));
}

public sealed class InverseAffine
{
    private readonly double[] _m = new double[12];

    public static InverseAffine Of(Affine a)
    {
        var c0 = a.Col0; var c1 = a.Col1; var c2 = a.Col2;
        var det = c0.Dot(c1.Cross(c2));
        if (Math.Abs(det) < 1e-12) throw new InvalidOperationException("The voxel-to-patient mapping is singular (degenerate spacing or directions).");
        // Rows of the inverse are the reciprocal basis vectors.
        var r0 = c1.Cross(c2) / det;
        var r1 = c2.Cross(c0) / det;
        var r2 = c0.Cross(c1) / det;
        var inv = new InverseAffine();
        Set(inv._m, 0, r0, a.Origin);
        Set(inv._m, 4, r1, a.Origin);
        Set(inv._m, 8, r2, a.Origin);
        return inv;
    }

    private static void Set(double[] m, int at, Vec3 r, Vec3 origin)
    {
        m[at] = r.X; m[at + 1] = r.Y; m[at + 2] = r.Z; m[at + 3] = -r.Dot(origin);
    }

    public Vec3 Apply(Vec3 p) => new(
        _m[0] * p.X + _m[1] * p.Y + _m[2] * p.Z + _m[3],
        _m[4] * p.X + _m[5] * p.Y + _m[6] * p.Z + _m[7],
        _m[8] * p.X + _m[9] * p.Y + _m[10] * p.Z + _m[11]);
}
