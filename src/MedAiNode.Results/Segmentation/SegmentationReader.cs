using MedAiNode.Dicom;
using MedAiNode.Dicom.IO;

namespace MedAiNode.Results.Segmentation;

/// <summary>A segment as a SEG describes it.</summary>
public sealed record SegmentInfo(int Number, string Label, CodedConcept? Category, CodedConcept? Type, CodedConcept? AnatomicRegion,
    DicomCieLab? Color, string? AlgorithmName, string? AlgorithmVersion, string? AlgorithmParameters);

/// <summary>A BINARY SEG read back onto its source grid.</summary>
public sealed class SegmentationMask
{
    internal SegmentationMask(IReadOnlyList<SegmentInfo> segments, Dictionary<string, byte[]> labels, int rows, int columns)
    {
        Segments = segments;
        _labels = labels;
        Rows = rows;
        Columns = columns;
    }

    private readonly Dictionary<string, byte[]> _labels;
    public IReadOnlyList<SegmentInfo> Segments { get; }
    public int Rows { get; }
    public int Columns { get; }
    /// <summary>Source instances with at least one frame.</summary>
    public IReadOnlyCollection<string> Instances => _labels.Keys;

    /// <summary>The label map for one source slice (0 background, n segment n); all zero for a slice with no frame.</summary>
    public byte[] GetLabels(string sopInstanceUid) => _labels.TryGetValue(sopInstanceUid, out var l) ? l : new byte[Rows * Columns];
}

/// <summary>
/// Reads a BINARY SEG (ours or another writer's) back onto the source slices. A frame is placed by its Derivation Image
/// reference; frames without one are matched to the source slice at the same plane position (within 0.01 mm).
/// </summary>
public static class SegmentationReader
{
    public static SegmentationMask Read(string path, SourceSeries? source = null) => Read(DicomFile.Open(path), source);

    public static SegmentationMask Read(DicomFile file, SourceSeries? source = null)
    {
        var ds = file.Dataset;
        if (ds.GetString(DicomTags.SOPClassUID) != DicomUids.SegmentationStorage)
            throw new ResultsInputException($"Not a Segmentation object (SOP Class {ds.GetString(DicomTags.SOPClassUID)}).");
        if (ds.GetString(DicomTags.SegmentationType) != "BINARY")
            throw new ResultsInputException($"Only BINARY segmentations are read here (this is {ds.GetString(DicomTags.SegmentationType)}).");
        if (file.TransferSyntax.IsEncapsulated)
            throw new ResultsInputException($"SEG pixel data in {file.TransferSyntax.Name} needs the codecs layer; read native (uncompressed) SEGs here.");
        if (ds.GetString(DicomTags.SegmentsOverlap) == "YES")
            throw new ResultsInputException("The SEG's segments overlap; they cannot be flattened into one label map.");
        var rows = ds.GetValue<int>(DicomTags.Rows);
        var cols = ds.GetValue<int>(DicomTags.Columns);
        var pixels = rows * cols;
        var segments = ReadSegments(ds);
        var perFrame = ds.GetSequence(DicomTags.PerFrameFunctionalGroupsSequence)?.Items
            ?? throw new ResultsInputException("The SEG has no Per-frame Functional Groups Sequence.");
        var shared = ds.GetSequence(DicomTags.SharedFunctionalGroupsSequence)?.Items.FirstOrDefault();
        var frameCount = ds.GetValueOrDefault<int>(DicomTags.NumberOfFrames, 1);
        if (perFrame.Count != frameCount)
            throw new ResultsInputException($"The SEG has {frameCount} frames but {perFrame.Count} per-frame functional group items.");
        var data = ds.GetBytes(DicomTags.PixelData).Span;
        if ((long)frameCount * pixels > (long)data.Length * 8)
            throw new ResultsInputException($"The SEG's pixel data ({data.Length} bytes) is too short for {frameCount} frames of {cols}x{rows}.");

        var labels = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        for (var f = 0; f < frameCount; f++)
        {
            var fg = perFrame[f];
            var segment = Group(fg, shared, DicomTags.SegmentIdentificationSequence)?.GetValueOrDefault<int>(DicomTags.ReferencedSegmentNumber, 0) ?? 0;
            if (segment == 0) throw new ResultsInputException($"Frame {f + 1} names no segment.");
            if (segment > 255) throw new ResultsInputException($"Segment {segment} does not fit a byte label map.");
            var uid = SourceOf(fg, shared, source) ?? throw new ResultsInputException($"Frame {f + 1} cannot be placed on a source slice.");
            if (!labels.TryGetValue(uid, out var map)) labels[uid] = map = new byte[pixels];
            long bit = (long)f * pixels;
            for (var k = 0; k < pixels; k++, bit++)
            {
                // Whole zero bytes are skipped eight pixels at a time: masks are mostly empty.
                if ((bit & 7) == 0 && k + 8 <= pixels && data[(int)(bit >> 3)] == 0)
                {
                    k += 7;
                    bit += 7;
                    continue;
                }
                if ((data[(int)(bit >> 3)] >> (int)(bit & 7) & 1) == 0) continue;
                if (map[k] != 0 && map[k] != segment)
                    throw new ResultsInputException($"Segments {map[k]} and {segment} both claim pixel {k} of {uid}.");
                map[k] = (byte)segment;
            }
        }
        return new SegmentationMask(segments, labels, rows, cols);
    }

    /// <summary>A functional group of one frame: its own item, else the shared one.</summary>
    internal static DicomDataset? Group(DicomDataset perFrame, DicomDataset? shared, DicomTag tag) =>
        perFrame.GetSequence(tag)?.Items.FirstOrDefault() ?? shared?.GetSequence(tag)?.Items.FirstOrDefault();

    private static string? SourceOf(DicomDataset fg, DicomDataset? shared, SourceSeries? source)
    {
        var src = Group(fg, shared, DicomTags.DerivationImageSequence)?.GetSequence(DicomTags.SourceImageSequence)?.Items.FirstOrDefault();
        var uid = src?.GetString(DicomTags.ReferencedSOPInstanceUID);
        if (!string.IsNullOrEmpty(uid)) return uid;
        if (source is null) return null;
        var ipp = Group(fg, shared, DicomTags.PlanePositionSequence)?.GetValues<double>(DicomTags.ImagePositionPatient);
        if (ipp is not { Length: 3 }) return null;
        foreach (var img in source.Images)
        {
            var p = img.ImagePositionPatient;
            if (Math.Abs(p[0] - ipp[0]) < 0.01 && Math.Abs(p[1] - ipp[1]) < 0.01 && Math.Abs(p[2] - ipp[2]) < 0.01) return img.SopInstanceUid;
        }
        return null;
    }

    private static List<SegmentInfo> ReadSegments(DicomDataset ds)
    {
        var list = new List<SegmentInfo>();
        foreach (var s in ds.GetSequence(DicomTags.SegmentSequence)?.Items ?? [])
        {
            var lab = s.GetValues<ushort>(DicomTags.RecommendedDisplayCIELabValue);
            var alg = s.GetSequence(DicomTags.SegmentationAlgorithmIdentificationSequence)?.Items.FirstOrDefault();
            list.Add(new SegmentInfo(
                s.GetValue<int>(DicomTags.SegmentNumber),
                s.GetStringOrDefault(DicomTags.SegmentLabel),
                CodedConcept.FromSequence(s, DicomTags.SegmentedPropertyCategoryCodeSequence),
                CodedConcept.FromSequence(s, DicomTags.SegmentedPropertyTypeCodeSequence),
                CodedConcept.FromSequence(s, DicomTags.AnatomicRegionSequence),
                lab.Length == 3 ? new DicomCieLab(lab[0], lab[1], lab[2]) : null,
                alg?.GetString(DicomTags.AlgorithmName) ?? s.GetString(DicomTags.SegmentAlgorithmName),
                alg?.GetString(DicomTags.AlgorithmVersion),
                alg?.GetString(DicomTags.AlgorithmParameters)));
        }
        if (list.Count == 0) throw new ResultsInputException("The SEG has no Segment Sequence.");
        return list;
    }
}
