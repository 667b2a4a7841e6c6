using System.Collections.Concurrent;
using SkiaSharp;

namespace MedAiNode.Results.Summary;

/// <summary>
/// The typeface the summary's text is drawn in. Skia's NoDependencies build has no fontconfig: it finds fonts by scanning
/// the usual folders, so a machine without any font would draw no text at all. That is refused at start, naming the key.
/// </summary>
internal static class SummaryFonts
{
    private static readonly string[] Known =
    [
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", // Debian/Ubuntu fonts-dejavu-core
        "/usr/share/fonts/dejavu/DejaVuSans.ttf",          // Fedora, Alpine
    ];

    private static readonly ConcurrentDictionary<string, SKTypeface> Cache = new(StringComparer.Ordinal);

    public static SKTypeface Resolve(string fontFile, string key = SummaryOptions.Section + ":FontFile") => Cache.GetOrAdd(fontFile, f =>
    {
        SKTypeface? face;
        if (f.Length > 0)
        {
            if (!File.Exists(f)) throw new ArgumentException($"{key}: font file '{f}' does not exist.", key);
            face = SKTypeface.FromFile(f) ?? throw new ArgumentException($"{key}: '{f}' is not a font Skia can read.", key);
        }
        else
        {
            face = Known.Where(File.Exists).Select(SKTypeface.FromFile).FirstOrDefault(t => t is not null)
                   ?? SKFontManager.Default.MatchFamily("DejaVu Sans") ?? SKTypeface.Default;
        }
        // A typeface without these glyphs would leave the "not for diagnostic use" line blank.
        if (face.GlyphCount == 0 || face.GetGlyphs("Not for diagnostic use 0123456789").Any(g => g == 0))
            throw new ArgumentException($"{key}: no usable font ({(f.Length > 0 ? f : "none found; install fonts-dejavu-core or set the key")}); the summary's text could not be drawn.", key);
        return face;
    });
}
