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
