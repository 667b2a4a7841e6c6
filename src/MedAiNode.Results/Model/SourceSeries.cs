using MedAiNode.Dicom;

namespace MedAiNode.Results;

/// <summary>
/// The source instances of one series, checked to share a study, series, Frame of Reference and grid size, and sorted
/// along the slice normal. Slices keep their own planes: a tilted or unevenly spaced series stays as acquired.
/// </summary>
public sealed class SourceSeries
{
    private SourceSeries(IReadOnlyList<SourceImage> images, string studyUid, string seriesUid, string frameOfReferenceUid, IReadOnlyList<string> warnings)
    {
        Images = images;
        StudyInstanceUid = studyUid;
        SeriesInstanceUid = seriesUid;
        FrameOfReferenceUid = frameOfReferenceUid;
        Warnings = warnings;
    }

    /// <summary>Slices in order along the first slice's normal.</summary>
    public IReadOnlyList<SourceImage> Images { get; }
    public SourceImage First => Images[0];
    public int Rows => First.Rows;
    public int Columns => First.Columns;
    public string StudyInstanceUid { get; }
    public string SeriesInstanceUid { get; }
    public string FrameOfReferenceUid { get; }
    /// <summary>Problems worked around (e.g. a Study UID the archive left empty); UIDs only, never patient data.</summary>
    public IReadOnlyList<string> Warnings { get; }

    /// <summary>The series in a folder: every file that reads as DICOM image with geometry; others are listed in <paramref name="skipped"/>.</summary>
    public static SourceSeries Open(string directory, ICollection<string>? skipped = null)
    {
        var images = new List<SourceImage>();
        foreach (var path in Directory.EnumerateFiles(directory).Order(StringComparer.Ordinal))
        {
            try { images.Add(SourceImage.Open(path)); }
            catch (Exception e) when (e is DicomFormatException or ResultsInputException or IOException)
            {
                skipped?.Add($"{Path.GetFileName(path)}: {e.Message}");
            }
        }
        if (images.Count == 0) throw new ResultsInputException($"No DICOM images with plane geometry in {directory}.");
        return Create(images);
    }

    public static SourceSeries Create(IEnumerable<SourceImage> images)
    {
        var list = images.ToList();
        if (list.Count == 0) throw new ResultsInputException("No source images were given.");
        var dupes = list.GroupBy(i => i.SopInstanceUid).FirstOrDefault(g => g.Count() > 1);
        if (dupes is not null) throw new ResultsInputException($"Source instance {dupes.Key} was given more than once.");
        var first = list[0];
        var warnings = new List<string>();
        foreach (var img in list)
        {
            if (img.Rows != first.Rows || img.Columns != first.Columns)
                throw new ResultsInputException($"Source instance {img.SopInstanceUid} is {img.Columns}x{img.Rows}, the series is {first.Columns}x{first.Rows}; one SEG covers one grid size.");
        }
        var study = Single(list, i => i.StudyInstanceUid, "Study Instance UID");
        var series = Single(list, i => i.SeriesInstanceUid, "Series Instance UID");
        var frame = Single(list, i => i.FrameOfReferenceUid, "Frame of Reference UID");
        var sortedUids = string.Join("|", list.Select(i => i.SopInstanceUid).Order(StringComparer.Ordinal));
        // Archives that blank these UIDs still need results that group together; derive them from the instances so a
        // retried job gets the same ones.
        if (study is null)
        {
            study = DicomUidGenerator.Default.FromName("source-study|" + sortedUids);
            warnings.Add($"Source instances carry no Study Instance UID; derived {study} from their SOP Instance UIDs.");
        }
        if (series is null)
        {
            series = DicomUidGenerator.Default.FromName("source-series|" + sortedUids);
            warnings.Add($"Source instances carry no Series Instance UID; derived {series} from their SOP Instance UIDs.");
        }
        if (frame is null)
            throw new ResultsInputException("Source instances carry no Frame of Reference UID; a SEG cannot be placed in patient space without one.");

        var normal = first.Normal;
        var sorted = list.OrderBy(i => Vector.Dot(i.ImagePositionPatient, normal)).ToList();
        return new SourceSeries(sorted, study, series, frame, warnings);
    }

    private static string? Single(List<SourceImage> list, Func<SourceImage, string?> get, string name)
    {
        var values = list.Select(get).Where(v => v is not null).Distinct(StringComparer.Ordinal).ToList();
        if (values.Count > 1) throw new ResultsInputException($"Source instances have {values.Count} different {name}s ({string.Join(", ", values)}); give one series at a time.");
        return values.Count == 1 ? values[0] : null;
    }

    /// <summary>Whether every slice has the same orientation (then it is a shared functional group).</summary>
    public bool SameOrientation => Images.All(i => Same(i.ImageOrientationPatient, First.ImageOrientationPatient, 1e-4));
    public bool SamePixelSpacing => Images.All(i => Same(i.PixelSpacing, First.PixelSpacing, 1e-6) && i.SliceThickness == First.SliceThickness);

    private static bool Same(double[] a, double[] b, double tol)
    {
        for (var i = 0; i < a.Length; i++) if (Math.Abs(a[i] - b[i]) > tol) return false;
        return true;
    }
}
