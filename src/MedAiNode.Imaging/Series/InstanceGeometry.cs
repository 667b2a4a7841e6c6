using MedAiNode.Dicom;
using MedAiNode.Imaging.Geometry;

namespace MedAiNode.Imaging.Series;

/// <summary>One 2D frame of a series with everything needed to place it in patient space and convert it to HU.</summary>
public sealed record FrameInfo(
    DicomFile File, int FrameIndex, string SopInstanceUid, string SopClassUid,
    int Rows, int Columns, Vec3 Position, Vec3 RowDirection, Vec3 ColumnDirection,
    double RowSpacing, double ColumnSpacing, double? SliceThickness, double Slope, double Intercept)
{
    /// <summary>Unit normal of the image plane: row direction x column direction.</summary>
    public Vec3 Normal => RowDirection.Cross(ColumnDirection).Normalized();

    /// <summary>Patient coordinate of pixel (column c, row r) by PS3.3 C.7.6.2.1.1.</summary>
    public Vec3 PixelToPatient(double c, double r) => Position + RowDirection * (c * ColumnSpacing) + ColumnDirection * (r * RowSpacing);
}

/// <summary>Reads frame geometry from classic single-frame images and from Enhanced multi-frame functional groups.</summary>
public static class InstanceGeometry
{
    public static IEnumerable<FrameInfo> Frames(DicomFile file)
    {
        var ds = file.Dataset;
        var sop = Uid(ds.GetString(DicomTags.SOPInstanceUID)) ?? Uid(file.FileMetaInfo.GetString(DicomTags.MediaStorageSOPInstanceUID)) ?? "";
        var sopClass = Uid(ds.GetString(DicomTags.SOPClassUID)) ?? Uid(file.FileMetaInfo.GetString(DicomTags.MediaStorageSOPClassUID)) ?? "";
        var rows = ds.GetValueOrDefault<int>(DicomTags.Rows, 0);
        var cols = ds.GetValueOrDefault<int>(DicomTags.Columns, 0);
        var frames = Math.Max(1, ds.GetValueOrDefault<int>(DicomTags.NumberOfFrames, 1));
        var perFrame = ds.GetSequence(DicomTags.PerFrameFunctionalGroupsSequence);
        var shared = ds.GetSequence(DicomTags.SharedFunctionalGroupsSequence)?.Items.FirstOrDefault();
        if (perFrame is null)
        {
            if (frames != 1) throw new VolumeAssemblyException($"Instance {sop} has {frames} frames but no Per-frame Functional Groups, so its frames cannot be placed in space.");
            yield return Build(file, 0, sop, sopClass, rows, cols, ds, ds, ds, ds);
            yield break;
        }
        if (perFrame.Items.Count != frames)
            throw new VolumeAssemblyException($"Instance {sop} has {frames} frames but {perFrame.Items.Count} Per-frame Functional Groups items.");
        for (var f = 0; f < frames; f++)
        {
            var item = perFrame.Items[f];
            DicomDataset? Group(DicomTag seq) => item.GetSequence(seq)?.Items.FirstOrDefault() ?? shared?.GetSequence(seq)?.Items.FirstOrDefault();
            yield return Build(file, f, sop, sopClass, rows, cols,
                Group(DicomTags.PlanePositionSequence), Group(DicomTags.PlaneOrientationSequence),
                Group(DicomTags.PixelMeasuresSequence), Group(DicomTags.PixelValueTransformationSequence) ?? ds);
        }
    }

    private static string? Uid(string? s) => string.IsNullOrWhiteSpace(s) ? null : s;

    private static FrameInfo Build(DicomFile file, int frame, string sop, string sopClass, int rows, int cols,
        DicomDataset? position, DicomDataset? orientation, DicomDataset? measures, DicomDataset? transform)
    {
        var ipp = position?.GetValues<double>(DicomTags.ImagePositionPatient) ?? [];
        var iop = orientation?.GetValues<double>(DicomTags.ImageOrientationPatient) ?? [];
        var ps = measures?.GetValues<double>(DicomTags.PixelSpacing) ?? [];
        if (ipp.Length != 3) throw new VolumeAssemblyException($"Instance {sop} frame {frame + 1}: Image Position (Patient) is missing or malformed.");
        if (iop.Length != 6) throw new VolumeAssemblyException($"Instance {sop} frame {frame + 1}: Image Orientation (Patient) is missing or malformed.");
        if (ps.Length != 2 || ps[0] <= 0 || ps[1] <= 0) throw new VolumeAssemblyException($"Instance {sop} frame {frame + 1}: Pixel Spacing is missing or not positive.");
        var rowDir = new Vec3(iop[0], iop[1], iop[2]);
        var colDir = new Vec3(iop[3], iop[4], iop[5]);
        if (Math.Abs(rowDir.Length - 1) > 1e-3 || Math.Abs(colDir.Length - 1) > 1e-3 || Math.Abs(rowDir.Dot(colDir)) > 1e-3)
            throw new VolumeAssemblyException($"Instance {sop} frame {frame + 1}: Image Orientation (Patient) is not two orthogonal unit vectors.");
        double? thickness = measures?.GetValueOrNull<double>(DicomTags.SliceThickness);
        var slope = transform?.GetValueOrNull<double>(DicomTags.RescaleSlope) ?? 1.0;
        var intercept = transform?.GetValueOrNull<double>(DicomTags.RescaleIntercept) ?? 0.0;
        // PixelSpacing is (row spacing = between rows, column spacing = between columns).
        return new FrameInfo(file, frame, sop, sopClass, rows, cols, new Vec3(ipp[0], ipp[1], ipp[2]), rowDir.Normalized(), colDir.Normalized(),
            ps[0], ps[1], thickness, slope == 0 ? 1 : slope, intercept);
    }
}

public sealed class VolumeAssemblyException(string message) : Exception(message);
