using System.Globalization;
using MedAiNode.Dicom;
using MedAiNode.Dicom.IO;
using MedAiNode.Results.Segmentation;

namespace MedAiNode.Results.Summary;

/// <summary>The summary series as written: one Secondary Capture image per page, the measurement page first; with
/// <see cref="SummaryOptions.Pdf"/>, the Encapsulated PDF of the same pages last in <see cref="Files"/>.</summary>
public sealed class SummaryResult(IReadOnlyList<DicomFile> files, IReadOnlyList<SummaryPage> pages, string seriesInstanceUid)
{
    public IReadOnlyList<DicomFile> Files { get; } = files;
    public IReadOnlyList<SummaryPage> Pages { get; } = pages;
    public string SeriesInstanceUid { get; } = seriesInstanceUid;
}

/// <summary>
/// Writes the "AI summary" series: Secondary Capture Image Storage (PS3.3 A.8.1), 8-bit RGB, one page per instance, in
/// the source study, for viewers that show neither SEG nor SR. Marked derived and burned in (ImageType
/// DERIVED\SECONDARY, Burned In Annotation YES, Conversion Type WSD), and every page says it is not for diagnosis.
/// Plain single-frame SC rather than multi-frame: it is the one image object every PACS viewer displays.
/// </summary>
public static class SummaryWriter
{
    /// <param name="study">A dataset of the study (a source image): patient and study modules are copied from it as the SEG's are.</param>
    /// <param name="source">The series the key slices come from; needed when <paramref name="content"/> has key slices.</param>
    public static SummaryResult Create(SummaryContent content, DicomDataset study, string studyInstanceUid, SummaryOptions? options = null, SourceSeries? source = null)
    {
        options ??= new SummaryOptions();
        options.Validate();
        if (content.KeySlices.Count > 0 && source is null) throw new ResultsInputException("Summary key slices need the source series they come from.");
        var face = SummaryFonts.Resolve(options.FontFile);
        var pages = new List<SummaryPage> { SummaryRenderer.Table(content, face) };
        foreach (var s in content.KeySlices)
        {
            if (s.SliceIndex < 0 || s.SliceIndex >= source!.Images.Count)
                throw new ResultsInputException($"Summary key slice {s.SliceIndex} is outside the source series (0..{source!.Images.Count - 1}).");
            var img = source.Images[s.SliceIndex];
            if (s.Hu.Length != img.Rows * img.Columns || (s.Labels.Length != 0 && s.Labels.Length != img.Rows * img.Columns))
                throw new ResultsInputException($"Summary key slice {s.SliceIndex}: pixels and labels must be {img.Columns}x{img.Rows}.");
            var p = img.ImagePositionPatient;
            var where = string.Create(CultureInfo.InvariantCulture, $"position {p[0]:0.0}, {p[1]:0.0}, {p[2]:0.0} mm");
            pages.Add(SummaryRenderer.KeySlice(content, s, img.Rows, img.Columns, where, source.Images.Count, face));
        }

        var uids = new UidSource(options.UidRoot, options.UidSeed);
        var when = options.ContentDateTime ?? DateTimeOffset.Now;
        var laterality = new[] { study.GetString(DicomTags.ImageLaterality), study.GetString(DicomTags.Laterality) }
            .FirstOrDefault(l => l is "R" or "L" or "U" or "B") ?? "B";
        var files = new List<DicomFile>();
        for (var i = 0; i < pages.Count; i++)
        {
            var page = pages[i];
            var ds = new DicomDataset();
            CompositeHeader.CopyPatientAndStudy(study, ds, studyInstanceUid);
            ds.Set(DicomTags.SOPClassUID, DicomUids.SecondaryCaptureImageStorage);
            ds.Set(DicomTags.SOPInstanceUID, uids.Get("summary-instance|" + (i + 1).ToString(CultureInfo.InvariantCulture)));
            // General Series: OT, not the source's modality: these are no acquisition, and CT hanging protocols should not take them.
            ds.Set(DicomTags.Modality, "OT");
            ds.Set(DicomTags.SeriesInstanceUID, uids.Get("summary-series"));
            ds.Set(DicomTags.SeriesNumber, DicomVR.IS, options.SeriesNumber.ToString(CultureInfo.InvariantCulture));
            ds.Set(DicomTags.SeriesDescription, options.SeriesDescription);
            CompositeHeader.SetEquipment(ds, options.Equipment);
            CompositeHeader.SetContentDateTime(ds, when);
            // SC Equipment: drawn on a workstation.
            ds.Set(DicomTags.ConversionType, "WSD");
            ds.Set(DicomTags.DateOfSecondaryCapture, ds.GetString(DicomTags.ContentDate)!);
            ds.Set(DicomTags.TimeOfSecondaryCapture, ds.GetString(DicomTags.ContentTime)!);

            // General Image
            ds.Set(DicomTags.ImageType, "DERIVED", "SECONDARY");
            ds.Set(DicomTags.InstanceNumber, DicomVR.IS, (options.InstanceNumber + i).ToString(CultureInfo.InvariantCulture));
            ds.SetEmpty(DicomTags.PatientOrientation); // Type 2C: an SC page has no patient orientation to state
            // Image Laterality stands in for the series' Laterality (2C): the source's when it states one, else B, as an axial CT
            // slice shows both sides (an empty Laterality would claim "unknown").
            ds.Set(DicomTags.ImageLaterality, laterality);
            ds.Set(DicomTags.BurnedInAnnotation, "YES");
            ds.Set(DicomTags.LossyImageCompression, "00");
            ds.Set(DicomTags.DerivationDescription, SegmentationWriter.Truncate($"AI summary of {content.Algorithm.Name} {content.Algorithm.Version}: {page.Title}", 1024));
            ds.Set(DicomTags.ImageComments, $"Not for diagnostic use. AI result ({content.Algorithm.Name} {content.Algorithm.Version}); check against the source images. Outcome: {content.Outcome.Text}");
            if (page.SliceIndex is { } z)
            {
                var img = source!.Images[z];
                ds.SetSequence(DicomTags.SourceImageSequence, new DicomDataset()
                    .Set(DicomTags.ReferencedSOPClassUID, img.SopClassUid)
                    .Set(DicomTags.ReferencedSOPInstanceUID, img.SopInstanceUid));
            }

            // Image Pixel: 8-bit RGB, colour-by-pixel.
            ds.Set<ushort>(DicomTags.SamplesPerPixel, DicomVR.US, 3);
            ds.Set(DicomTags.PhotometricInterpretation, "RGB");
            ds.Set<ushort>(DicomTags.PlanarConfiguration, DicomVR.US, 0);
            ds.Set<ushort>(DicomTags.Rows, DicomVR.US, (ushort)page.Height);
            ds.Set<ushort>(DicomTags.Columns, DicomVR.US, (ushort)page.Width);
            ds.Set<ushort>(DicomTags.BitsAllocated, DicomVR.US, 8);
            ds.Set<ushort>(DicomTags.BitsStored, DicomVR.US, 8);
            ds.Set<ushort>(DicomTags.HighBit, DicomVR.US, 7);
            ds.Set<ushort>(DicomTags.PixelRepresentation, DicomVR.US, 0);
            ds.SetBytes(DicomTags.PixelData, DicomVR.OB, page.Rgb); // width and height are even: an even length
            files.Add(new DicomFile(ds, DicomTransferSyntax.ExplicitVRLittleEndian));
        }
        if (options.Pdf) files.Add(SummaryPdf.Create(content, pages, study, studyInstanceUid, options, uids, when, source));
        return new SummaryResult(files, pages, uids.Get("summary-series"));
    }
}
