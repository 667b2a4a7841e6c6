using MedAiNode.Dicom;
using MedAiNode.Dicom.IO;
using MedAiNode.Results.Summary;
using SkiaSharp;

namespace MedAiNode.Results.Tests;

/// <summary>The "AI summary" Secondary Capture series: valid SC that DCMTK converts, overlays exactly on the segment's
/// pixels in the segment's colour, text where the page has text, and pages for "nothing found" and "not analysed".</summary>
public class SummaryWriterTests
{
    private const int Rows = 48, Cols = 64, Slice = 2;

    /// <summary>Four synthetic slices; on the key slice, a disc of segment 1 and a box of segment 2; HU a ramp along the row.</summary>
    private static (SourceSeries Source, SummaryContent Content, byte[] Labels, float[] Hu) Scene()
    {
        var source = SourceSeries.Create(Fixtures.SyntheticSeries(4, Rows, Cols, seed: "summary"));
        var labels = new byte[Rows * Cols];
        var hu = new float[Rows * Cols];
        for (var r = 0; r < Rows; r++)
            for (var c = 0; c < Cols; c++)
            {
                hu[r * Cols + c] = -1000 + 30 * c; // -1000 .. 890 HU
                if ((r - 20) * (r - 20) + (c - 18) * (c - 18) <= 81) labels[r * Cols + c] = 1;
                else if (r is >= 10 and < 30 && c is >= 40 and < 56) labels[r * Cols + c] = 2;
            }
        var segments = Fixtures.Segments(2);
        var content = new SummaryContent
        {
            Algorithm = Fixtures.Algorithm,
            Outcome = SummaryOutcome.Findings(2),
            Segments = segments,
            Measurements =
            [
                new Measurement(new CodedConcept("118565006", "SCT", "Volume"), 12.345, new CodedConcept("ml", "UCUM", "milliliter")) { Labels = [1] },
                new Measurement(new CodedConcept("112031", "DCM", "Attenuation Coefficient"), -812.5, new CodedConcept("[hnsf'U]", "UCUM", "Hounsfield unit")) { Labels = [2], Name = "Mean density" },
            ],
            KeySlices = [new SummaryKeySlice(Slice, "largest area of Liver", hu, labels)],
            Window = DisplayWindow.Lung,
        };
        return (source, content, labels, hu);
    }

    private static SummaryResult Write(SummaryContent content, SourceSeries source) =>
        SummaryWriter.Create(content, source.First.Dataset, source.StudyInstanceUid,
            new SummaryOptions { UidSeed = "summary-test", ContentDateTime = new DateTimeOffset(2024, 1, 2, 10, 0, 0, TimeSpan.Zero) }, source);

    /// <summary>Saves the files, and each page as PNG for a person to look at.</summary>
    private static List<string> Save(SummaryResult result, string name)
    {
        var dir = TestData.TempDir(name);
        var paths = new List<string>();
        for (var i = 0; i < result.Files.Count; i++)
        {
            var path = Path.Combine(dir, $"summary_{i + 1:00}.dcm");
            result.Files[i].Save(path);
            paths.Add(path);
            var page = result.Pages[i];
            using var bmp = new SKBitmap(new SKImageInfo(page.Width, page.Height, SKColorType.Rgba8888, SKAlphaType.Opaque));
            for (var y = 0; y < page.Height; y++)
                for (var x = 0; x < page.Width; x++)
                {
                    var (r, g, b) = page.Pixel(x, y);
                    bmp.SetPixel(x, y, new SKColor(r, g, b));
                }
            using var png = bmp.Encode(SKEncodedImageFormat.Png, 100);
            File.WriteAllBytes(Path.ChangeExtension(path, ".png"), png.ToArray());
        }
        return paths;
    }

    [Fact]
    public void Key_slice_shows_each_segment_in_its_SEG_colour_exactly_on_its_pixels()
    {
        var (source, content, labels, hu) = Scene();
        var result = Write(content, source);
        Assert.Equal(2, result.Files.Count); // the measurement page, then the key slice
        var page = result.Pages[1];
        Assert.Equal(Slice, page.SliceIndex);
        var colours = SummaryRenderer.Colours(content.Segments);
        int coloured = 0, grey = 0;
        for (var r = 0; r < Rows; r++)
            for (var c = 0; c < Cols; c++)
            {
                var (x, y) = SummaryRenderer.PagePixel(r, c, Rows, Cols);
                var (R, G, B) = page.Pixel(x, y);
                var g = SummaryRenderer.Grey(hu[r * Cols + c], DisplayWindow.Lung);
                var l = labels[r * Cols + c];
                if (l == 0)
                {
                    Assert.True((R, G, B) == (g, g, g), $"unlabelled pixel ({r},{c}) is ({R},{G},{B}), expected grey {g}");
                    grey++;
                    continue;
                }
                var col = colours[l]!.Value;
                var interior = r > 0 && c > 0 && r < Rows - 1 && c < Cols - 1 && labels[(r - 1) * Cols + c] == l && labels[(r + 1) * Cols + c] == l
                               && labels[r * Cols + c - 1] == l && labels[r * Cols + c + 1] == l;
                var expected = interior
                    ? (SummaryRenderer.Blend(g, col.Red), SummaryRenderer.Blend(g, col.Green), SummaryRenderer.Blend(g, col.Blue))
                    : (col.Red, col.Green, col.Blue);
                Assert.True((R, G, B) == expected, $"segment {l} pixel ({r},{c}) is ({R},{G},{B}), expected {expected}");
                coloured++;
            }
        Assert.True(coloured > 300 && grey > 2000, $"{coloured} coloured, {grey} grey");
    }

    [Fact]
    public void Segment_colours_are_the_SEG_CIELab_turned_back_to_the_RGB_given()
    {
        foreach (var (r, g, b) in new (byte, byte, byte)[] { (221, 130, 101), (128, 174, 128), (255, 0, 0), (0, 0, 255), (250, 250, 225) })
        {
            var back = SummaryRenderer.ToRgb(DicomCieLab.FromRgb(r, g, b));
            Assert.True(Math.Abs(back.Red - r) <= 1 && Math.Abs(back.Green - g) <= 1 && Math.Abs(back.Blue - b) <= 1, $"({r},{g},{b}) came back as {back}");
        }
    }

    [Fact]
    public void Every_page_is_valid_Secondary_Capture_in_the_source_study_that_dcm2pnm_converts_pixel_for_pixel()
    {
        var (source, content, _, _) = Scene();
        var result = Write(content, source);
        var paths = Save(result, "summary-sc");
        for (var i = 0; i < paths.Count; i++)
        {
            Dciodvfy.Check(paths[i]);
            var ds = DicomFile.Open(paths[i]).Dataset;
            Assert.Equal(DicomUids.SecondaryCaptureImageStorage, ds.GetString(DicomTags.SOPClassUID));
            Assert.Equal(source.StudyInstanceUid, ds.GetString(DicomTags.StudyInstanceUID));
            Assert.Equal(result.SeriesInstanceUid, ds.GetString(DicomTags.SeriesInstanceUID));
            Assert.NotEqual(source.SeriesInstanceUid, result.SeriesInstanceUid);
            Assert.Equal("AI summary", ds.GetString(DicomTags.SeriesDescription));
            Assert.Equal(source.First.Dataset.GetString(DicomTags.PatientName), ds.GetString(DicomTags.PatientName));
            Assert.Equal(["DERIVED", "SECONDARY"], ds.GetStrings(DicomTags.ImageType));
            Assert.Equal("YES", ds.GetString(DicomTags.BurnedInAnnotation));
            Assert.Equal("WSD", ds.GetString(DicomTags.ConversionType));
            Assert.Equal("RGB", ds.GetString(DicomTags.PhotometricInterpretation));
            Assert.Contains("Not for diagnostic use", ds.GetString(DicomTags.ImageComments));
            Assert.Equal((i + 1).ToString(), ds.GetString(DicomTags.InstanceNumber));
            // The key slice names the CT slice it shows.
            var reference = ds.GetSequence(DicomTags.SourceImageSequence)?.Items.Single().GetString(DicomTags.ReferencedSOPInstanceUID);
            Assert.Equal(i == 0 ? null : source.Images[Slice].SopInstanceUid, reference);

            // DCMTK reads it as we drew it.
            var png = Path.ChangeExtension(paths[i], ".dcmtk.png");
            var r = Tool.Run("dcm2pnm", ["--write-png", paths[i], png]);
            Assert.True(r.ExitCode == 0, r.StdErr);
            using var decoded = SKBitmap.Decode(png);
            var page = result.Pages[i];
            Assert.Equal((page.Width, page.Height), (decoded.Width, decoded.Height));
            for (var y = 0; y < page.Height; y += 7)
                for (var x = 0; x < page.Width; x += 5)
                {
                    var p = decoded.GetPixel(x, y);
                    Assert.True(page.Pixel(x, y) == (p.Red, p.Green, p.Blue), $"page {i + 1} ({x},{y}): dcm2pnm {p}, drawn {page.Pixel(x, y)}");
                }
        }
    }

    /// <summary>Non-black pixels in a band of the page: where text is drawn, there are some.</summary>
    private static int Ink(SummaryPage page, int y0, int y1, int x0 = 0, int x1 = -1)
    {
        var n = 0;
        for (var y = y0; y < y1; y++)
            for (var x = x0; x < (x1 < 0 ? page.Width : x1); x++)
                if (page.Pixel(x, y) != (0, 0, 0)) n++;
        return n;
    }

    private static int WarningInk(SummaryPage page)
    {
        var n = 0;
        for (var y = 0; y < page.Height; y++)
            for (var x = 0; x < page.Width; x++)
            {
                var (r, g, b) = page.Pixel(x, y);
                if (r > 200 && g is > 120 and < 220 && b < 60) n++;
            }
        return n;
    }

    [Fact]
    public void The_measurement_page_has_text_in_each_row_and_the_not_for_diagnosis_line()
    {
        var (source, content, _, _) = Scene();
        var page = Write(content, source).Pages[0];
        // Title band, the warning line (orange), and one band per measurement row.
        Assert.True(Ink(page, 0, 40) > 300, "no title text");
        Assert.True(WarningInk(page) > 100, "no not-for-diagnostic-use line");
        var rowTop = SummaryRenderer.Header + 36 + 28 + 28 + 26 + 18 + 30 - 20; // model, sha, one outcome line, gap, header row
        for (var i = 0; i < content.Measurements.Count; i++)
        {
            var y = rowTop + i * 26;
            Assert.True(Ink(page, y, y + 24, 360) > 100, $"row {i + 1} has no text at y {y}");
        }
        // Below the last row and above the footer the page is empty.
        Assert.Equal(0, Ink(page, rowTop + 26 * content.Measurements.Count + 10, page.Height - SummaryRenderer.Footer));
        // The segment column carries the segment's colour swatch.
        var colour = SummaryRenderer.Colours(content.Segments)[1]!.Value;
        Assert.Equal((colour.Red, colour.Green, colour.Blue), page.Pixel(SummaryRenderer.Margin + 8, rowTop + 12));
    }

    [Fact]
    public void Nothing_found_and_not_analysed_are_one_page_each_that_says_so()
    {
        var (source, _, _, _) = Scene();
        var pages = new List<SummaryResult>();
        foreach (var outcome in new[] { SummaryOutcome.NothingFound("test model found none of its labels"), SummaryOutcome.NotAnalysed("no series matches: body part HEAD") })
        {
            var content = new SummaryContent { Algorithm = Fixtures.Algorithm, Outcome = outcome };
            var result = SummaryWriter.Create(content, source.First.Dataset, source.StudyInstanceUid, new SummaryOptions());
            var path = Assert.Single(Save(result, "summary-" + outcome.Kind));
            Dciodvfy.Check(path);
            Assert.Contains(outcome.Text, DicomFile.Open(path).Dataset.GetString(DicomTags.ImageComments));
            Assert.True(WarningInk(result.Pages[0]) > 100);
            pages.Add(result);
        }
        // The outcome line is drawn: the two pages differ there, in its own colour (green for nothing found, orange for not analysed).
        var (found, notAnalysed) = (pages[0].Pages[0], pages[1].Pages[0]);
        var outcomeY = SummaryRenderer.Header + 36 + 28 + 28 - 20;
        Assert.True(Ink(found, outcomeY, outcomeY + 26) > 200 && Ink(notAnalysed, outcomeY, outcomeY + 26) > 200);
        var greens = 0;
        for (var x = 0; x < found.Width; x++)
            for (var y = outcomeY; y < outcomeY + 26; y++)
                if (found.Pixel(x, y) is var (r, g, b) && g > 150 && r < 150 && b < 150) greens++;
        Assert.True(greens > 50, $"{greens} green pixels in the nothing-found line");
    }

    [Fact]
    public void With_pdf_on_the_same_pages_also_go_as_one_encapsulated_pdf_in_a_series_of_its_own()
    {
        var (source, content, _, _) = Scene();
        var options = new SummaryOptions { UidSeed = "summary-pdf", ContentDateTime = new DateTimeOffset(2024, 1, 2, 10, 0, 0, TimeSpan.Zero), Pdf = true };
        var result = SummaryWriter.Create(content, source.First.Dataset, source.StudyInstanceUid, options, source);
        Assert.Equal(result.Pages.Count + 1, result.Files.Count);
        Assert.Equal(result.Pages.Count, Write(content, source).Files.Count); // off by default
        var ds = result.Files[^1].Dataset;
        Assert.Equal((DicomUids.EncapsulatedPDFStorage, "DOC", "application/pdf"),
            (ds.GetString(DicomTags.SOPClassUID), ds.GetString(DicomTags.Modality), ds.GetString(DicomTags.MIMETypeOfEncapsulatedDocument)));
        Assert.Equal(source.StudyInstanceUid, ds.GetString(DicomTags.StudyInstanceUID));
        Assert.NotEqual(result.SeriesInstanceUid, ds.GetString(DicomTags.SeriesInstanceUID));
        Assert.Equal(("9904", "AI summary (PDF)"), (ds.GetString(DicomTags.SeriesNumber), ds.GetString(DicomTags.SeriesDescription)));
        Assert.Equal(source.First.Dataset.GetString(DicomTags.PatientID), ds.GetString(DicomTags.PatientID));
        // The key slice it shows is named as its source instance.
        var shown = Assert.Single(ds.GetSequence(DicomTags.SourceInstanceSequence)!.Items);
        Assert.Equal(source.Images[Slice].SopInstanceUid, shown.GetString(DicomTags.ReferencedSOPInstanceUID));
        var bytes = ds.GetBytes(DicomTags.EncapsulatedDocument).ToArray();
        var length = ds.GetValue<uint>(DicomTags.EncapsulatedDocumentLength);
        Assert.True(bytes.Length % 2 == 0 && length <= bytes.Length && bytes.Length - length <= 1, $"{bytes.Length} bytes, length {length}");
        var pdf = System.Text.Encoding.Latin1.GetString(bytes, 0, (int)length);
        Assert.StartsWith("%PDF-", pdf);
        Assert.EndsWith("%%EOF", pdf.TrimEnd());
        Assert.Equal(result.Pages.Count, System.Text.RegularExpressions.Regex.Matches(pdf, @"/Type\s*/Page\b").Count);
        // Each page is the SC page's pixels, losslessly (a Flate image XObject of the page's size).
        var images = System.Text.RegularExpressions.Regex.Matches(pdf, @"/Width (\d+)\s*/Height (\d+)[^>]*?/Filter /FlateDecode.*?stream\r?\n",
            System.Text.RegularExpressions.RegexOptions.Singleline);
        Assert.Equal(result.Pages.Count, images.Count);
        for (var i = 0; i < images.Count; i++)
        {
            var start = images[i].Index + images[i].Length;
            using var z = new System.IO.Compression.ZLibStream(new MemoryStream(bytes, start, pdf.IndexOf("endstream", start, StringComparison.Ordinal) - start), System.IO.Compression.CompressionMode.Decompress);
            using var rgb = new MemoryStream();
            z.CopyTo(rgb);
            Assert.Equal((result.Pages[i].Width, result.Pages[i].Height), (int.Parse(images[i].Groups[1].Value), int.Parse(images[i].Groups[2].Value)));
            Assert.True(rgb.ToArray().AsSpan().SequenceEqual(result.Pages[i].Rgb), $"PDF page {i + 1} differs from the SC page");
        }
        // Same input, same bytes (dates are the content time).
        var again = SummaryWriter.Create(content, source.First.Dataset, source.StudyInstanceUid, options, source).Files[^1].Dataset;
        Assert.True(bytes.AsSpan().SequenceEqual(again.GetBytes(DicomTags.EncapsulatedDocument).Span), "the PDF differs between two runs");
        var path = Path.Combine(TestData.TempDir("summary-pdf"), "summary.pdf.dcm");
        result.Files[^1].Save(path);
        File.WriteAllBytes(Path.ChangeExtension(path, null), bytes[..(int)length]);
        var v = Tool.Run("dciodvfy", [path]);
        Assert.True(!(v.StdOut + v.StdErr).Contains("Error"), v.StdOut + v.StdErr);
        Assert.True(!(v.StdOut + v.StdErr).Contains("Warning"), v.StdOut + v.StdErr);
    }

    [Fact]
    public void Options_errors_name_their_key()
    {
        var e = Assert.Throws<ArgumentException>(() => new SummaryOptions { MaxKeySlices = 100 }.Validate());
        Assert.Contains("Results:Summary:MaxKeySlices", e.Message);
        e = Assert.Throws<ArgumentException>(() => new SummaryOptions { FontFile = "/nonexistent/font.ttf" }.Validate());
        Assert.Contains("Results:Summary:FontFile", e.Message);
        e = Assert.Throws<ArgumentException>(() => new SummaryOptions { SeriesDescription = "" }.Validate());
        Assert.Contains("Results:Summary:SeriesDescription", e.Message);
        // Switched off, no font is needed.
        new SummaryOptions { Enabled = false, FontFile = "/nonexistent/font.ttf" }.Validate();
    }
}
