using MedAiNode.Dicom;
using MedAiNode.Dicom.IO;

namespace MedAiNode.Results;

/// <summary>
/// One source slice: its dataset (identity of patient, study, series, Frame of Reference) and its plane geometry
/// (IPP, IOP, PixelSpacing, Rows, Columns). The label map for this slice is laid out on exactly this grid.
/// </summary>
public sealed class SourceImage
{
    private SourceImage(DicomDataset dataset, string sopClassUid, string sopInstanceUid)
    {
        Dataset = dataset;
        SopClassUid = sopClassUid;
        SopInstanceUid = sopInstanceUid;
        Rows = dataset.GetValueOrDefault<int>(DicomTags.Rows, 0);
        Columns = dataset.GetValueOrDefault<int>(DicomTags.Columns, 0);
        ImagePositionPatient = ReadVector(dataset, DicomTags.ImagePositionPatient, 3)!;
        ImageOrientationPatient = ReadVector(dataset, DicomTags.ImageOrientationPatient, 6)!;
        PixelSpacing = ReadVector(dataset, DicomTags.PixelSpacing, 2)!;
        SliceThickness = dataset.GetValueOrNull<double>(DicomTags.SliceThickness);
        if (Rows <= 0 || Columns <= 0) throw new ResultsInputException($"Source image {sopInstanceUid} has no Rows/Columns.");
        if (ImagePositionPatient is null || ImageOrientationPatient is null || PixelSpacing is null)
            throw new ResultsInputException($"Source image {sopInstanceUid} lacks Image Position/Orientation (Patient) or Pixel Spacing; a SEG needs its plane geometry.");
        if (PixelSpacing[0] <= 0 || PixelSpacing[1] <= 0) throw new ResultsInputException($"Source image {sopInstanceUid} has a non-positive Pixel Spacing.");
    }

    public DicomDataset Dataset { get; }
    public string SopClassUid { get; }
    public string SopInstanceUid { get; }
    public int Rows { get; }
    public int Columns { get; }
    /// <summary>Patient coordinates (mm) of the centre of the first transmitted pixel.</summary>
    public double[] ImagePositionPatient { get; }
    /// <summary>Row direction cosines (along a row, i.e. increasing column) then column direction cosines.</summary>
    public double[] ImageOrientationPatient { get; }
    /// <summary>Row spacing (between rows) then column spacing, mm.</summary>
    public double[] PixelSpacing { get; }
    public double? SliceThickness { get; }

    public string? StudyInstanceUid => NonEmpty(Dataset.GetString(DicomTags.StudyInstanceUID));
    public string? SeriesInstanceUid => NonEmpty(Dataset.GetString(DicomTags.SeriesInstanceUID));
    public string? FrameOfReferenceUid => NonEmpty(Dataset.GetString(DicomTags.FrameOfReferenceUID));

    /// <summary>Unit normal of the slice plane (row cosines x column cosines).</summary>
    public double[] Normal
    {
        get
        {
            var o = ImageOrientationPatient;
            return Vector.Normalize([o[1] * o[5] - o[2] * o[4], o[2] * o[3] - o[0] * o[5], o[0] * o[4] - o[1] * o[3]]);
        }
    }

    /// <summary>Patient coordinates (mm) of pixel (row, column).</summary>
    public double[] PixelToPatient(double row, double column)
    {
        var p = ImagePositionPatient;
        var o = ImageOrientationPatient;
        var dr = PixelSpacing[0];
        var dc = PixelSpacing[1];
        return
        [
            p[0] + o[0] * column * dc + o[3] * row * dr,
            p[1] + o[1] * column * dc + o[4] * row * dr,
            p[2] + o[2] * column * dc + o[5] * row * dr,
        ];
    }

    public static SourceImage FromDataset(DicomDataset dataset) => Create(dataset, null);

    /// <summary>From a Part 10 file. Some archives leave SOP Class/Instance empty in the dataset and keep them only in the
    /// File Meta (seen in the wild); those are taken from Media Storage SOP Class/Instance UID.</summary>
    public static SourceImage FromFile(DicomFile file) => Create(file.Dataset, file.FileMetaInfo);

    public static SourceImage Open(string path) => FromFile(DicomFile.Open(path, new DicomReadOptions { StopBeforePixelData = true }));

    private static SourceImage Create(DicomDataset ds, DicomDataset? meta)
    {
        var sopClass = NonEmpty(ds.GetString(DicomTags.SOPClassUID)) ?? NonEmpty(meta?.GetString(DicomTags.MediaStorageSOPClassUID));
        var sopInstance = NonEmpty(ds.GetString(DicomTags.SOPInstanceUID)) ?? NonEmpty(meta?.GetString(DicomTags.MediaStorageSOPInstanceUID));
        if (sopClass is null || sopInstance is null)
            throw new ResultsInputException("Source image has no SOP Class/Instance UID in its dataset or File Meta.");
        return new SourceImage(ds, sopClass, sopInstance);
    }

    private static double[]? ReadVector(DicomDataset ds, DicomTag tag, int count)
    {
        try
        {
            var v = ds.GetValues<double>(tag);
            return v.Length == count ? v : null;
        }
        catch (FormatException) { return null; }
    }

    internal static string? NonEmpty(string? s) => string.IsNullOrWhiteSpace(s) ? null : s.Trim();
}

internal static class Vector
{
    public static double Dot(ReadOnlySpan<double> a, ReadOnlySpan<double> b) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];

    public static double[] Normalize(double[] v)
    {
        var n = Math.Sqrt(Dot(v, v));
        return n == 0 ? v : [v[0] / n, v[1] / n, v[2] / n];
    }
}

/// <summary>Input the results writers cannot turn into a valid object: the message says what is wrong, nothing is written.</summary>
public sealed class ResultsInputException(string message) : Exception(message);
