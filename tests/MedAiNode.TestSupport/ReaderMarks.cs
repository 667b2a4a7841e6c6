using System.Xml.Linq;

namespace MedAiNode.Testing;

/// <summary>A point a reader marked on one image: pixel column and row on the image with that SOP Instance UID.</summary>
public sealed record MarkedPixel(string SopInstanceUid, double Column, double Row);

/// <summary>One reader's nodule: its outline (nodules of 3 mm or more) or a single point (smaller ones).</summary>
public sealed record ReaderNodule(int Reader, string Id, IReadOnlyList<MarkedPixel> Points)
{
    /// <summary>LIDC draws an outline only for nodules of 3 mm or more; a smaller one is one point.</summary>
    public bool Outlined => Points.Count > 1;
}

/// <summary>
/// Reference marks nobody here wrote, in the pixel space of the images they name: LIDC-IDRI reader XML
/// (unblindedReadNodule roi edge maps, one readingSession per radiologist) and Pascal-VOC boxes named by SOP Instance UID
/// (Lung-PET-CT-Dx). Mapping to patient coordinates goes through the referenced image's geometry, in the caller.
/// </summary>
public static class ReaderMarks
{
    public static List<ReaderNodule> ReadLidc(string xmlPath)
    {
        var doc = XDocument.Load(xmlPath);
        XNamespace ns = doc.Root!.GetDefaultNamespace();
        var nodules = new List<ReaderNodule>();
        var reader = 0;
        foreach (var session in doc.Root.Elements(ns + "readingSession"))
        {
            foreach (var nodule in session.Elements(ns + "unblindedReadNodule"))
            {
                var points = nodule.Elements(ns + "roi")
                    .Where(roi => (string?)roi.Element(ns + "inclusion") != "FALSE") // exclusion outlines cut holes, they are not the nodule
                    .SelectMany(roi => roi.Elements(ns + "edgeMap").Select(e => new MarkedPixel(
                        (string)roi.Element(ns + "imageSOP_UID")!, (double)e.Element(ns + "xCoord")!, (double)e.Element(ns + "yCoord")!)))
                    .ToList();
                if (points.Count > 0) nodules.Add(new ReaderNodule(reader, (string)nodule.Element(ns + "noduleID")!, points));
            }
            reader++;
        }
        return nodules;
    }

    /// <summary>Pascal-VOC XML files, each named by the SOP Instance UID of its image: (SOP UID, label, xmin, ymin, xmax, ymax).</summary>
    public static List<(string SopInstanceUid, string Label, int XMin, int YMin, int XMax, int YMax)> ReadVocBoxes(string folder) =>
        Directory.GetFiles(folder, "*.xml").OrderBy(f => f, StringComparer.Ordinal).SelectMany(f =>
        {
            var root = XDocument.Load(f).Root!;
            var uid = Path.GetFileNameWithoutExtension(f);
            return root.Elements("object").Select(o =>
            {
                var b = o.Element("bndbox")!;
                return (uid, (string)o.Element("name")!, (int)b.Element("xmin")!, (int)b.Element("ymin")!, (int)b.Element("xmax")!, (int)b.Element("ymax")!);
            });
        }).ToList();
}

/// <summary>A lesion the readers marked, in patient mm: its centre, how many readers marked it, and its radius.</summary>
public sealed record ReferenceLesion(double X, double Y, double Z, int Readers, double RadiusMm)
{
    public double DistanceTo((double X, double Y, double Z) p) => Math.Sqrt((p.X - X) * (p.X - X) + (p.Y - Y) * (p.Y - Y) + (p.Z - Z) * (p.Z - Z));
}

/// <summary>Reader outlines grouped into lesions, and detection candidates scored against them (sensitivity, false positives).</summary>
public static class LesionMatching
{
    /// <summary>Outlines whose centres lie within <paramref name="sameMm"/> of a lesion's first outline are the same lesion (LIDC has no cross-reader nodule ids).</summary>
    public static List<ReferenceLesion> Consensus(IEnumerable<(int Reader, IReadOnlyList<(double X, double Y, double Z)> Points)> outlines, double sameMm = 15)
    {
        var groups = new List<List<(int Reader, (double X, double Y, double Z) Centre, double Radius)>>();
        foreach (var (reader, points) in outlines)
        {
            var c = (points.Average(p => p.X), points.Average(p => p.Y), points.Average(p => p.Z));
            var radius = points.Max(p => Math.Sqrt((p.X - c.Item1) * (p.X - c.Item1) + (p.Y - c.Item2) * (p.Y - c.Item2) + (p.Z - c.Item3) * (p.Z - c.Item3)));
            var group = groups.FirstOrDefault(g => Distance(g[0].Centre, c) < sameMm);
            if (group is null) groups.Add([(reader, c, radius)]); else group.Add((reader, c, radius));
        }
        return groups.Select(g => new ReferenceLesion(g.Average(m => m.Centre.X), g.Average(m => m.Centre.Y), g.Average(m => m.Centre.Z),
            g.Select(m => m.Reader).Distinct().Count(), g.Average(m => m.Radius))).ToList();
    }

    /// <summary>
    /// A lesion is found when a candidate's centre lies within its radius plus <paramref name="toleranceMm"/>; a candidate
    /// near no lesion is a false positive (one near a lesion not counted, e.g. a 2 mm nodule, is neither).
    /// </summary>
    public static (int Found, int Lesions, int FalsePositives) Score(IReadOnlyList<ReferenceLesion> lesions, IReadOnlyList<ReferenceLesion> ignore,
        IReadOnlyList<(double X, double Y, double Z)> candidates, double toleranceMm = 5)
    {
        var found = lesions.Count(l => candidates.Any(c => l.DistanceTo(c) <= l.RadiusMm + toleranceMm));
        var fp = candidates.Count(c => !lesions.Concat(ignore).Any(l => l.DistanceTo(c) <= l.RadiusMm + toleranceMm));
        return (found, lesions.Count, fp);
    }

    private static double Distance((double X, double Y, double Z) a, (double X, double Y, double Z) b) =>
        Math.Sqrt((a.X - b.X) * (a.X - b.X) + (a.Y - b.Y) * (a.Y - b.Y) + (a.Z - b.Z) * (a.Z - b.Z));
}
