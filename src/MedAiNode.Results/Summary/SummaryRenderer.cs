using System.Globalization;
using SkiaSharp;

namespace MedAiNode.Results.Summary;

/// <summary>One rendered page: 8-bit RGB, interleaved, row by row. <see cref="SliceIndex"/> is the source slice shown, if any.</summary>
public sealed record SummaryPage(int Width, int Height, byte[] Rgb, int? SliceIndex, string Title)
{
    public (byte R, byte G, byte B) Pixel(int x, int y)
    {
        var i = (y * Width + x) * 3;
        return (Rgb[i], Rgb[i + 1], Rgb[i + 2]);
    }
}

/// <summary>Where a key-slice page puts the CT: below the title band, at the left, zoomed by a whole number.</summary>
public static class SummaryLayout
{
    /// <summary>Whole-number zoom, so each source pixel is exactly k x k page pixels: small grids grow to about 512.</summary>
    public static int Scale(int rows, int columns) => Math.Max(1, 512 / Math.Max(rows, columns));

    /// <summary>The page pixel at the centre of source pixel (row, column) on a key-slice page.</summary>
    public static (int X, int Y) PagePixel(int row, int column, int rows, int columns)
    {
        var k = Scale(rows, columns);
        return (column * k + k / 2, SummaryRenderer.Header + row * k + k / 2);
    }
}

/// <summary>
/// Draws the summary's pages with Skia: the measurement page, and key slices in a CT window with each segment's
/// colour blended over its pixels (its outline in full colour) and a legend. Nothing that names the patient is drawn:
/// viewers show the patient from the header.
/// </summary>
internal static class SummaryRenderer
{
    public const double OverlayAlpha = 0.4;
    public const int Header = 72, Footer = 64, LegendWidth = 380, Margin = 16;
    public const string NotForDiagnosis = "NOT FOR DIAGNOSTIC USE: AI result, check against the source images";
    private static readonly SKColor Background = new(0, 0, 0), Ink = new(235, 235, 235), Dim = new(150, 150, 150), Warning = new(255, 190, 0);

    public static int Scale(int rows, int columns) => SummaryLayout.Scale(rows, columns);
    public static (int X, int Y) PagePixel(int row, int column, int rows, int columns) => SummaryLayout.PagePixel(row, column, rows, columns);

    public static byte Grey(float hu, DisplayWindow w) =>
        (byte)Math.Clamp(Math.Round((hu - (w.Centre - w.Width / 2)) * 255.0 / w.Width), 0, 255);

    public static byte Blend(byte grey, byte colour) => (byte)Math.Round(grey * (1 - OverlayAlpha) + colour * OverlayAlpha);

    public static unsafe SummaryPage KeySlice(SummaryContent c, SummaryKeySlice s, int rows, int columns, string where, int sliceCount, SKTypeface face)
    {
        var k = Scale(rows, columns);
        int imgW = columns * k, imgH = rows * k;
        var w = Even(imgW + LegendWidth);
        var h = Even(Math.Max(imgH + Header + Footer, Header + 48 + 30 * c.Segments.Count + Footer));
        using var bmp = new SKBitmap(new SKImageInfo(w, h, SKColorType.Rgba8888, SKAlphaType.Opaque));
        using var canvas = new SKCanvas(bmp);
        canvas.Clear(Background);
        canvas.Flush();

        // The CT and its overlay pixel by pixel (nearest neighbour, no smoothing): what is coloured is exactly the label map.
        var px = new Span<byte>((void*)bmp.GetPixels(), bmp.ByteCount);
        var colours = Colours(c.Segments);
        var labels = s.Labels.Span;
        var hasLabels = labels.Length == rows * columns;
        var present = new bool[256];
        for (var r = 0; r < rows; r++)
        {
            for (var col = 0; col < columns; col++)
            {
                var i = r * columns + col;
                var g = Grey(s.Hu[i], c.Window);
                byte R = g, G = g, B = g;
                var l = hasLabels ? labels[i] : (byte)0;
                if (l > 0 && colours[l] is { } rgb)
                {
                    present[l] = true;
                    if (Edge(labels, r, col, rows, columns)) (R, G, B) = (rgb.Red, rgb.Green, rgb.Blue);
                    else (R, G, B) = (Blend(g, rgb.Red), Blend(g, rgb.Green), Blend(g, rgb.Blue));
                }
                for (var dy = 0; dy < k; dy++)
                {
                    var o = (Header + r * k + dy) * bmp.RowBytes + col * k * 4;
                    for (var dx = 0; dx < k; dx++, o += 4)
                    {
                        px[o] = R; px[o + 1] = G; px[o + 2] = B; px[o + 3] = 255;
                    }
                }
            }
        }
        bmp.NotifyPixelsChanged();

        using var title = new SKFont(face, 22) { Embolden = true };
        using var text = new SKFont(face, 17);
        using var small = new SKFont(face, 15);
        DrawTitle(canvas, c, title, small, w);
        // Legend: every segment of the result, those on this slice in full ink.
        var x = imgW + Margin;
        var y = Header + 28f;
        Text(canvas, "Legend", x, y, text, Ink, LegendWidth - 2 * Margin);
        y += 30;
        foreach (var seg in c.Segments.OrderBy(s => s.Number))
        {
            using var swatch = new SKPaint { Color = colours[seg.Number] ?? Dim, Style = SKPaintStyle.Fill };
            canvas.DrawRect(x, y - 15, 18, 18, swatch);
            Text(canvas, seg.Label + (present[seg.Number] ? "" : " (not on this slice)"), x + 28, y, text, present[seg.Number] ? Ink : Dim, LegendWidth - 2 * Margin - 28);
            y += 30;
        }
        var footY = h - Footer + 24;
        Text(canvas, $"Slice {s.SliceIndex + 1} of {sliceCount} ({where}): {s.Reason}", Margin, footY, text, Ink, w - 2 * Margin);
        Text(canvas, c.Window.Describe() + string.Create(CultureInfo.InvariantCulture, $"; overlay {OverlayAlpha:P0} opaque, outline solid"), Margin, footY + 26, small, Dim, w - 2 * Margin);
        canvas.Flush();
        return new SummaryPage(w, h, ToRgb(bmp), s.SliceIndex, $"Key slice {s.SliceIndex + 1}: {s.Reason}");
    }

    /// <summary>The first page: model, outcome and every measurement (segment, concept, value, unit).</summary>
    public static SummaryPage Table(SummaryContent c, SKTypeface face)
    {
        const int w = 1024, row = 26;
        var ci = CultureInfo.InvariantCulture;
        using var title = new SKFont(face, 22) { Embolden = true };
        using var text = new SKFont(face, 17);
        using var small = new SKFont(face, 15);
        var outcome = Wrap("Outcome: " + c.Outcome.Text, text, w - 2 * Margin);
        var h = Even(Math.Max(768, Header + 40 + 30 * (2 + outcome.Count) + 40 + row * Math.Max(1, c.Measurements.Count) + Footer));
        using var bmp = new SKBitmap(new SKImageInfo(w, h, SKColorType.Rgba8888, SKAlphaType.Opaque));
        using var canvas = new SKCanvas(bmp);
        canvas.Clear(Background);
        DrawTitle(canvas, c, title, small, w);

        var y = Header + 36f;
        var a = c.Algorithm;
        Text(canvas, a.Version.Length > 0 ? $"Model: {a.Name}, version {a.Version}" : $"Models: {a.Name}", Margin, y, text, Ink, w - 2 * Margin);
        y += 28;
        if (a.ModelSha256 is { Length: > 0 } sha)
        {
            Text(canvas, "Model file SHA-256: " + sha.ToLowerInvariant(), Margin, y, small, Dim, w - 2 * Margin);
            y += 28;
        }
        var outcomeInk = c.Outcome.Kind switch { SummaryOutcomeKind.NotAnalysed => Warning, SummaryOutcomeKind.NothingFound => new SKColor(120, 220, 120), _ => Ink };
        foreach (var line in outcome)
        {
            Text(canvas, line, Margin, y, text, outcomeInk, w - 2 * Margin);
            y += 26;
        }
        y += 18;
        if (c.Measurements.Count == 0)
        {
            Text(canvas, c.Outcome.Kind == SummaryOutcomeKind.Findings ? "No measurements." : "No segments and no measurements.", Margin, y, text, Dim, w - 2 * Margin);
        }
        else
        {
            // Columns: segment (with its colour), measurement, value (right-aligned), unit.
            float segX = Margin + 24, conceptX = 380, valueRight = 850, unitX = 864;
            Text(canvas, "Segment", segX, y, text, Dim, conceptX - segX - 8);
            Text(canvas, "Measurement", conceptX, y, text, Dim, 300);
            TextRight(canvas, "Value", valueRight, y, text, Dim);
            Text(canvas, "Unit", unitX, y, text, Dim, w - unitX - Margin);
            using (var rule = new SKPaint { Color = Dim, StrokeWidth = 1 }) canvas.DrawLine(Margin, y + 8, w - Margin, y + 8, rule);
            y += row + 4;
            var colours = Colours(c.Segments);
            foreach (var m in c.Measurements)
            {
                if (m.Labels.Count == 1 && colours[m.Labels[0]] is { } col)
                {
                    using var swatch = new SKPaint { Color = col, Style = SKPaintStyle.Fill };
                    canvas.DrawRect(Margin, y - 14, 16, 16, swatch);
                }
                Text(canvas, Region(c, m), segX, y, text, Ink, conceptX - segX - 8);
                Text(canvas, m.DisplayName, conceptX, y, text, Ink, valueRight - conceptX - 110);
                TextRight(canvas, Value(m.Value, ci), valueRight, y, text, Ink);
                Text(canvas, Unit(m.Unit), unitX, y, text, Ink, w - unitX - Margin);
                y += row;
            }
        }
        Text(canvas, c.Segments.Count > 0 ? $"Key slices follow in this series; window: {c.Window.Describe()}." : "", Margin, h - Footer + 24, small, Dim, w - 2 * Margin);
        Text(canvas, c.Outcome.Kind == SummaryOutcomeKind.Findings
            ? "Produced by MedAiNode. The DICOM SEG and SR of this study carry the same segments and numbers."
            : "Produced by MedAiNode. No SEG or SR was made for this study by this model.", Margin, h - Footer + 48, small, Dim, w - 2 * Margin);
        canvas.Flush();
        return new SummaryPage(w, h, ToRgb(bmp), null, "Measurements and outcome");
    }

    private static void DrawTitle(SKCanvas canvas, SummaryContent c, SKFont title, SKFont small, int w)
    {
        Text(canvas, $"AI summary: {c.Algorithm.Name} {c.Algorithm.Version}", Margin, 30, title, Ink, w - 2 * Margin);
        Text(canvas, NotForDiagnosis, Margin, 58, small, Warning, w - 2 * Margin);
    }

    internal static string Region(SummaryContent c, Measurement m)
    {
        var names = m.Labels.Select(l => c.Segments.FirstOrDefault(s => s.Number == l)?.Label ?? "label " + l.ToString(CultureInfo.InvariantCulture));
        return string.Join(" + ", names) + (m.Lesion is { } n ? $" lesion {n}" : "");
    }

    internal static string Value(double v, CultureInfo ci) => !double.IsFinite(v) ? "n/a"
        : Math.Abs(v) >= 100 ? v.ToString("0.0", ci) : Math.Abs(v) >= 1 ? v.ToString("0.00", ci) : v.ToString("0.###", ci);

    /// <summary>The UCUM code as people write it (Hounsfield units as HU; a dimensionless "1" as nothing).</summary>
    internal static string Unit(CodedConcept unit) => unit.Value switch { "[hnsf'U]" => "HU", "1" => "", var u => u };

    private static bool Edge(ReadOnlySpan<byte> labels, int r, int c, int rows, int cols)
    {
        var l = labels[r * cols + c];
        return r == 0 || c == 0 || r == rows - 1 || c == cols - 1
            || labels[(r - 1) * cols + c] != l || labels[(r + 1) * cols + c] != l || labels[r * cols + c - 1] != l || labels[r * cols + c + 1] != l;
    }

    private static void Text(SKCanvas canvas, string s, float x, float y, SKFont font, SKColor colour, float maxWidth)
    {
        if (s.Length == 0) return;
        using var paint = new SKPaint { Color = colour, IsAntialias = true };
        canvas.DrawText(Fit(s, font, maxWidth), x, y, SKTextAlign.Left, font, paint);
    }

    private static void TextRight(SKCanvas canvas, string s, float right, float y, SKFont font, SKColor colour)
    {
        using var paint = new SKPaint { Color = colour, IsAntialias = true };
        canvas.DrawText(s, right, y, SKTextAlign.Right, font, paint);
    }

    /// <summary>Cuts a line that does not fit, with an ellipsis, rather than draw over the next column.</summary>
    private static string Fit(string s, SKFont font, float maxWidth)
    {
        if (font.MeasureText(s) <= maxWidth) return s;
        var n = s.Length;
        while (n > 1 && font.MeasureText(s[..n] + "…") > maxWidth) n--;
        return s[..n] + "…";
    }

    private static List<string> Wrap(string s, SKFont font, float maxWidth)
    {
        var lines = new List<string>();
        var line = "";
        foreach (var word in s.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            var next = line.Length == 0 ? word : line + " " + word;
            if (line.Length > 0 && font.MeasureText(next) > maxWidth) { lines.Add(line); line = word; }
            else line = next;
        }
        if (line.Length > 0) lines.Add(line);
        return lines.Count > 12 ? [.. lines.Take(11), lines[11] + " …"] : lines;
    }

    /// <summary>Each segment's display colour (the SEG's CIELab turned back to sRGB, as viewers do); a fixed palette where none is given.</summary>
    internal static SKColor?[] Colours(IReadOnlyList<SegmentDescription> segments)
    {
        SKColor[] palette = [new(230, 25, 75), new(60, 180, 75), new(255, 225, 25), new(0, 130, 200), new(245, 130, 48), new(145, 30, 180), new(70, 240, 240), new(240, 50, 230)];
        var result = new SKColor?[256];
        foreach (var s in segments)
            result[s.Number] = s.Color is { } lab ? ToRgb(lab) : palette[(s.Number - 1) % palette.Length];
        return result;
    }

    /// <summary>CIELab (DICOM scaling, D65) to sRGB: the inverse of <see cref="DicomCieLab.FromRgb"/>.</summary>
    internal static SKColor ToRgb(DicomCieLab lab)
    {
        var l = lab.L * 100.0 / 65535;
        var a = lab.A * 255.0 / 65535 - 128;
        var b = lab.B * 255.0 / 65535 - 128;
        var fy = (l + 16) / 116;
        var fx = fy + a / 500;
        var fz = fy - b / 200;
        static double Inv(double t) => t * t * t > 216.0 / 24389 ? t * t * t : (116 * t - 16) * 27 / 24389;
        double x = 0.95047 * Inv(fx), y = Inv(fy), z = 1.08883 * Inv(fz);
        static byte Gamma(double v)
        {
            v = Math.Clamp(v, 0, 1);
            return (byte)Math.Round(255 * (v <= 0.0031308 ? 12.92 * v : 1.055 * Math.Pow(v, 1 / 2.4) - 0.055));
        }
        return new SKColor(
            Gamma(3.2404542 * x - 1.5371385 * y - 0.4985314 * z),
            Gamma(-0.9692660 * x + 1.8760108 * y + 0.0415560 * z),
            Gamma(0.0556434 * x - 0.2040259 * y + 1.0572252 * z));
    }

    private static unsafe byte[] ToRgb(SKBitmap bmp)
    {
        var src = new ReadOnlySpan<byte>((void*)bmp.GetPixels(), bmp.ByteCount);
        var rgb = new byte[bmp.Width * bmp.Height * 3];
        var o = 0;
        for (var y = 0; y < bmp.Height; y++)
        {
            var row = src.Slice(y * bmp.RowBytes, bmp.Width * 4);
            for (var x = 0; x < bmp.Width; x++, o += 3)
            {
                rgb[o] = row[x * 4];
                rgb[o + 1] = row[x * 4 + 1];
                rgb[o + 2] = row[x * 4 + 2];
            }
        }
        return rgb;
    }

    private static int Even(int v) => (v + 1) & ~1;
}
