using System.Globalization;
using MedAiNode.Dicom;
using MedAiNode.Dicom.IO;
using MedAiNode.Results.Segmentation;
using SkiaSharp;

namespace MedAiNode.Results.Summary;

/// <summary>
/// The same summary pages as one PDF in an Encapsulated PDF instance (PS3.3 A.45.1), its own series (Modality DOC) in
/// the source study: for archives and reports that take documents rather than images. Each page is the Secondary
/// Capture page's pixels, losslessly (Flate), at 96 pixels per inch. Off by default (<see cref="SummaryOptions.Pdf"/>).
/// </summary>
internal static class SummaryPdf
{
    /// <summary>One PDF page per summary page; document dates are the content time, so the same input gives the same bytes.</summary>
    public static byte[] Render(IReadOnlyList<SummaryPage> pages, string title, string creator, DateTimeOffset when)
    {
        using var stream = new MemoryStream();
        var metadata = new SKDocumentPdfMetadata
        {
            Title = title,
            Creator = creator,
            Producer = creator,
            Creation = when.UtcDateTime,
            Modified = when.UtcDateTime,
            EncodingQuality = 101, // above 100: lossless
            RasterDpi = 96,
        };
        using (var document = SKDocument.CreatePdf(stream, metadata))
        {
            foreach (var page in pages)
            {
                var rgba = new byte[page.Width * page.Height * 4];
                for (int p = 0, q = 0; p < page.Rgb.Length; p += 3, q += 4)
                {
                    rgba[q] = page.Rgb[p];
                    rgba[q + 1] = page.Rgb[p + 1];
                    rgba[q + 2] = page.Rgb[p + 2];
                    rgba[q + 3] = 255;
                }
                using var image = SKImage.FromPixelCopy(new SKImageInfo(page.Width, page.Height, SKColorType.Rgba8888, SKAlphaType.Opaque), rgba);
                var canvas = document.BeginPage(page.Width * 0.75f, page.Height * 0.75f); // 96 px per inch in 72 pt per inch
                canvas.Scale(0.75f);
                canvas.DrawImage(image, 0, 0);
                document.EndPage();
            }
            document.Close();
        }
        return stream.ToArray();
    }

    /// <summary>The Encapsulated PDF instance: patient and study copied from <paramref name="study"/> as the pages' are,
    /// Source Instance Sequence naming the key slices shown.</summary>
    public static DicomFile Create(SummaryContent content, IReadOnlyList<SummaryPage> pages, DicomDataset study, string studyInstanceUid,
        SummaryOptions options, UidSource uids, DateTimeOffset when, SourceSeries? source)
    {
        var title = $"AI summary: {content.Algorithm.Name} {content.Algorithm.Version}".Trim();
        var pdf = Render(pages, title, options.Equipment.Manufacturer, when);
        var ds = new DicomDataset();
        CompositeHeader.CopyPatientAndStudy(study, ds, studyInstanceUid);
        ds.Set(DicomTags.SOPClassUID, DicomUids.EncapsulatedPDFStorage);
        ds.Set(DicomTags.SOPInstanceUID, uids.Get("summary-pdf-instance"));
        // Encapsulated Document Series
        ds.Set(DicomTags.Modality, "DOC");
        ds.Set(DicomTags.SeriesInstanceUID, uids.Get("summary-pdf-series"));
        ds.Set(DicomTags.SeriesNumber, DicomVR.IS, options.PdfSeriesNumber.ToString(CultureInfo.InvariantCulture));
        ds.Set(DicomTags.SeriesDescription, options.SeriesDescription + " (PDF)");
        CompositeHeader.SetEquipment(ds, options.Equipment);
        CompositeHeader.SetContentDateTime(ds, when);
        // SC Equipment: made on a workstation.
        ds.Set(DicomTags.ConversionType, "WSD");
        // Encapsulated Document
        ds.Set(DicomTags.InstanceNumber, DicomVR.IS, options.InstanceNumber.ToString(CultureInfo.InvariantCulture));
        ds.SetEmpty(DicomTags.AcquisitionDateTime); // Type 2: nothing was acquired
        ds.Set(DicomTags.BurnedInAnnotation, "YES");
        ds.Set(DicomTags.DocumentTitle, SegmentationWriter.Truncate(title, 1024));
        ds.SetEmpty(DicomTags.ConceptNameCodeSequence); // Type 2: no document title code
        var shown = pages.Where(p => p.SliceIndex is not null).Select(p => source!.Images[p.SliceIndex!.Value]).ToList();
        if (shown.Count > 0)
            ds.SetSequence(DicomTags.SourceInstanceSequence, shown.Select(i => new DicomDataset()
                .Set(DicomTags.ReferencedSOPClassUID, i.SopClassUid).Set(DicomTags.ReferencedSOPInstanceUID, i.SopInstanceUid)).ToArray());
        ds.Set(DicomTags.MIMETypeOfEncapsulatedDocument, "application/pdf");
        // OB of even length: an odd PDF gets one trailing NUL, and the length says how much is the document.
        ds.Set(DicomTags.EncapsulatedDocumentLength, DicomVR.UL, (uint)pdf.Length);
        ds.SetBytes(DicomTags.EncapsulatedDocument, DicomVR.OB, pdf.Length % 2 == 0 ? pdf : [.. pdf, 0]);
        return new DicomFile(ds, DicomTransferSyntax.ExplicitVRLittleEndian);
    }
}
