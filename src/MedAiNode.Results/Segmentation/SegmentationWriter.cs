using System.Buffers.Binary;
using System.Runtime.Intrinsics;
using MedAiNode.Dicom;
using MedAiNode.Dicom.IO;

namespace MedAiNode.Results.Segmentation;

/// <summary>One frame of a SEG we wrote: which segment, on which source slice.</summary>
public sealed record SegmentationFrame(int FrameNumber, int SegmentNumber, string SourceSopInstanceUid, int SliceIndex);

public sealed class SegmentationResult : WrittenObject
{
    internal SegmentationResult(DicomFile file, IReadOnlyList<SegmentationFrame> frames, IReadOnlyList<string> warnings) : base(file)
    {
        Frames = frames;
        Warnings = warnings;
    }

    public IReadOnlyList<SegmentationFrame> Frames { get; }
    public IReadOnlyList<string> Warnings { get; }
}

/// <summary>
/// Writes a DICOM Segmentation (PS3.3 A.51), BINARY, bit-packed, Explicit VR Little Endian: one frame per
/// (segment, source slice) with any voxel set, each frame on its source slice's own plane.
/// </summary>
public static class SegmentationWriter
{
    private const string DimensionLabelSegment = "ReferencedSegmentNumber";
    private const string DimensionLabelPosition = "ImagePositionPatient";

    public static SegmentationResult Create(SourceSeries source, IReadOnlyList<SegmentDescription> segments, LabelMap labels,
        AlgorithmInfo algorithm, SegmentationOptions? options = null)
    {
        options ??= new SegmentationOptions();
        options.Validate();
        ValidateSegments(segments);
        var warnings = new List<string>(source.Warnings);
        var known = new HashSet<string>(source.Images.Select(i => i.SopInstanceUid), StringComparer.Ordinal);
        foreach (var uid in labels.Instances)
            if (!known.Contains(uid)) throw new ResultsInputException($"The label map has a slice for {uid}, which is not one of the source instances.");

        var uids = new UidSource(options.UidRoot, options.UidSeed);
        var rows = source.Rows;
        var cols = source.Columns;
        var pixels = rows * cols;
        var segNumbers = segments.Select(s => s.Number).OrderBy(n => n).ToArray();
        var segIndex = new int[256];
        Array.Fill(segIndex, -1);
        for (var i = 0; i < segNumbers.Length; i++) segIndex[segNumbers[i]] = i;

        // Which (segment, slice) planes hold any voxel; then each of them (or every plane, when asked) packed straight
        // into the pixel data: no packed copy of each plane beside it (for 300 chest slices, ~1,000 frames of 32 KiB).
        var slices = source.Images.Count;
        var present = new bool[segNumbers.Length * slices];
        var unknownLabel = -1;
        var scratch = new bool[256];
        for (var z = 0; z < slices; z++)
        {
            var img = source.Images[z];
            if (!labels.TryGet(img.SopInstanceUid, out var map)) continue;
            if (map.Length != pixels)
                throw new ResultsInputException($"The label map for {img.SopInstanceUid} has {map.Length} bytes; its {cols}x{rows} grid needs {pixels}.");
            Array.Clear(scratch);
            LabelsPresent(map.Span, scratch);
            for (var l = 1; l < 256; l++)
            {
                if (!scratch[l]) continue;
                var si = segIndex[l];
                if (si < 0) unknownLabel = l;
                else present[si * slices + z] = true;
            }
        }
        if (unknownLabel > 0)
            throw new ResultsInputException($"The label map holds value {unknownLabel}, which is no segment of the label table ({string.Join(", ", segNumbers)}).");

        var frames = new List<SegmentationFrame>();
        for (var s = 0; s < segNumbers.Length; s++)
            for (var z = 0; z < slices; z++)
                if (present[s * slices + z] || options.IncludeEmptyFrames)
                    frames.Add(new SegmentationFrame(frames.Count + 1, segNumbers[s], source.Images[z].SopInstanceUid, z));
        if (frames.Count == 0)
        {
            // A SEG needs at least one frame; "nothing found" still travels as one empty frame per segment.
            warnings.Add("No voxel is set in any segment; the SEG carries one empty frame per segment.");
            foreach (var n in segNumbers) frames.Add(new SegmentationFrame(frames.Count + 1, n, source.Images[0].SopInstanceUid, 0));
        }

        var ds = BuildHeader(source, segments, algorithm, options, uids);
        AddFunctionalGroups(ds, source, frames);
        ds.Set(DicomTags.NumberOfFrames, DicomVR.IS, frames.Count.ToString(System.Globalization.CultureInfo.InvariantCulture));
        ds.SetBytes(DicomTags.PixelData, DicomVR.OB, PackFrames(frames, labels, source, segIndex, present, pixels));
        var file = new DicomFile(ds, DicomTransferSyntax.ExplicitVRLittleEndian);
        return new SegmentationResult(file, frames, warnings);
    }

    private static void ValidateSegments(IReadOnlyList<SegmentDescription> segments)
    {
        if (segments.Count == 0) throw new ResultsInputException("The label table has no segments.");
        var seen = new HashSet<int>();
        foreach (var s in segments)
        {
            if (s.Number is < 1 or > 255) throw new ResultsInputException($"Segment number {s.Number} is outside 1..255 (a byte label map).");
            if (!seen.Add(s.Number)) throw new ResultsInputException($"Segment number {s.Number} appears twice in the label table.");
            if (string.IsNullOrWhiteSpace(s.Label)) throw new ResultsInputException($"Segment {s.Number} has no label.");
        }
    }

    /// <summary>Marks which label values occur in a slice.</summary>
    internal static void LabelsPresent(ReadOnlySpan<byte> map, bool[] present)
    {
        // Label maps are mostly background and otherwise long runs of one label: a vector that is all zero, or holds
        // zero and a single label, is settled without looking at its bytes one by one.
        var i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            for (; i + 32 <= map.Length; i += 32)
            {
                var v = Vector256.Create(map.Slice(i, 32));
                if (v == Vector256<byte>.Zero) continue;
                var label = map[i + FirstNonZero(v)];
                var same = Vector256.Equals(v, Vector256.Create(label)) | Vector256.Equals(v, Vector256<byte>.Zero);
                if (same == Vector256<byte>.AllBitsSet)
                {
                    present[label] = true;
                    continue;
                }
                for (var k = 0; k < 32; k++) present[map[i + k]] = true;
            }
        }
        for (; i < map.Length; i++) present[map[i]] = true;
    }

    private static int FirstNonZero(Vector256<byte> v) =>
        System.Numerics.BitOperations.TrailingZeroCount(~Vector256.Equals(v, Vector256<byte>.Zero).ExtractMostSignificantBits());

    /// <summary>Bit k of the output (LSB first, PS3.5 8.1.1) is set where map[k] == label.</summary>
    internal static void PackEquals(ReadOnlySpan<byte> map, byte label, Span<byte> bits)
    {
        bits.Clear();
        var i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var target = Vector256.Create(label);
            for (; i + 32 <= map.Length; i += 32)
            {
                var mask = Vector256.Equals(Vector256.Create(map.Slice(i, 32)), target).ExtractMostSignificantBits();
                BinaryPrimitives.WriteUInt32LittleEndian(bits.Slice(i >> 3, 4), mask);
            }
        }
        for (; i < map.Length; i++)
            if (map[i] == label) bits[i >> 3] |= (byte)(1 << (i & 7));
    }

    /// <summary>Concatenates frames bit after bit: multi-frame 1-bit data is packed across frame boundaries (PS3.5 8.1.1).
    /// Each frame's plane is packed in place when it starts on a byte; otherwise once into a scratch buffer, then bit by bit.</summary>
    private static byte[] PackFrames(List<SegmentationFrame> frames, LabelMap labels, SourceSeries source, int[] segIndex, bool[] present, int pixels)
    {
        var totalBits = (long)frames.Count * pixels;
        var bytes = (totalBits + 7) / 8;
        if (bytes > int.MaxValue - 1) throw new ResultsInputException($"The SEG's pixel data would be {bytes} bytes, more than one DICOM element holds.");
        var result = new byte[(bytes + 1) & ~1L];
        var frameBytes = (pixels + 7) / 8;
        byte[]? unaligned = null;
        var slices = source.Images.Count;
        foreach (var f in frames)
        {
            if (!present[segIndex[f.SegmentNumber] * slices + f.SliceIndex]) continue; // an empty frame stays zero
            labels.TryGet(f.SourceSopInstanceUid, out var map);
            var bitStart = (long)(f.FrameNumber - 1) * pixels;
            if ((bitStart & 7) == 0 && (pixels & 7) == 0)
            {
                PackEquals(map.Span, (byte)f.SegmentNumber, result.AsSpan((int)(bitStart >> 3), frameBytes));
                continue;
            }
            unaligned ??= new byte[frameBytes];
            PackEquals(map.Span, (byte)f.SegmentNumber, unaligned);
            for (var k = 0; k < pixels; k++)
            {
                if ((unaligned[k >> 3] >> (k & 7) & 1) == 0) continue;
                var b = bitStart + k;
                result[b >> 3] |= (byte)(1 << (int)(b & 7));
            }
        }
        return result;
    }

    private static DicomDataset BuildHeader(SourceSeries source, IReadOnlyList<SegmentDescription> segments, AlgorithmInfo algorithm,
        SegmentationOptions options, UidSource uids)
    {
        var ds = new DicomDataset();
        var first = source.First;
        CompositeHeader.CopyPatientAndStudy(first.Dataset, ds, source.StudyInstanceUid);
        var when = options.ContentDateTime ?? DateTimeOffset.Now;

        // SOP Common, General Series / Segmentation Series, Frame of Reference
        ds.Set(DicomTags.SOPClassUID, DicomUids.SegmentationStorage);
        ds.Set(DicomTags.SOPInstanceUID, uids.Get("seg-instance"));
        ds.Set(DicomTags.Modality, "SEG");
        ds.Set(DicomTags.SeriesInstanceUID, uids.Get("seg-series"));
        ds.Set(DicomTags.SeriesNumber, DicomVR.IS, options.SeriesNumber.ToString(System.Globalization.CultureInfo.InvariantCulture));
        ds.Set(DicomTags.SeriesDescription, options.SeriesDescription);
        ds.Set(DicomTags.FrameOfReferenceUID, source.FrameOfReferenceUid);
        if (first.Dataset[DicomTags.PositionReferenceIndicator] is DicomElement pri)
            ds.Add(new DicomElement(DicomTags.PositionReferenceIndicator, pri.VR, pri.Buffer.GetData()));
        else ds.SetEmpty(DicomTags.PositionReferenceIndicator);
        CompositeHeader.SetEquipment(ds, options.Equipment);
        CompositeHeader.SetContentDateTime(ds, when);

        // General Image / Segmentation Image
        ds.Set(DicomTags.ImageType, "DERIVED", "PRIMARY");
        ds.Set(DicomTags.InstanceNumber, DicomVR.IS, options.InstanceNumber.ToString(System.Globalization.CultureInfo.InvariantCulture));
        ds.Set(DicomTags.ContentLabel, options.ContentLabel);
        if (options.ContentDescription is { Length: > 0 } cd) ds.Set(DicomTags.ContentDescription, cd);
        else ds.SetEmpty(DicomTags.ContentDescription);
        ds.Set(DicomTags.ContentCreatorName, options.ContentCreatorName);
        ds.Set(DicomTags.SegmentationType, "BINARY");
        ds.Set(DicomTags.SegmentsOverlap, "NO"); // a label map assigns each voxel to at most one segment
        ds.Set(DicomTags.LossyImageCompression, "00");

        // Image Pixel
        ds.Set<ushort>(DicomTags.SamplesPerPixel, DicomVR.US, 1);
        ds.Set(DicomTags.PhotometricInterpretation, "MONOCHROME2");
        ds.Set<ushort>(DicomTags.Rows, DicomVR.US, (ushort)source.Rows);
        ds.Set<ushort>(DicomTags.Columns, DicomVR.US, (ushort)source.Columns);
        ds.Set<ushort>(DicomTags.BitsAllocated, DicomVR.US, 1);
        ds.Set<ushort>(DicomTags.BitsStored, DicomVR.US, 1);
        ds.Set<ushort>(DicomTags.HighBit, DicomVR.US, 0);
        ds.Set<ushort>(DicomTags.PixelRepresentation, DicomVR.US, 0);

        // Segment Sequence
        foreach (var s in segments.OrderBy(s => s.Number))
        {
            var item = new DicomDataset();
            item.Set<ushort>(DicomTags.SegmentNumber, DicomVR.US, (ushort)s.Number);
            item.Set(DicomTags.SegmentLabel, s.Label.Length > 64 ? s.Label[..64] : s.Label);
            item.SetSequence(DicomTags.SegmentedPropertyCategoryCodeSequence, s.Category.ToItem());
            item.SetSequence(DicomTags.SegmentedPropertyTypeCodeSequence, s.Type.ToItem());
            if (s.AnatomicRegion is { } region) item.SetSequence(DicomTags.AnatomicRegionSequence, region.ToItem());
            var alg = s.Algorithm ?? algorithm;
            item.Set(DicomTags.SegmentAlgorithmType, "AUTOMATIC");
            item.Set(DicomTags.SegmentAlgorithmName, Truncate(alg.Name, 64));
            item.SetSequence(DicomTags.SegmentationAlgorithmIdentificationSequence, AlgorithmItem(alg));
            if (s.Color is { } c) item.Set(DicomTags.RecommendedDisplayCIELabValue, DicomVR.US, c.L, c.A, c.B);
            item.Set(DicomTags.TrackingID, Truncate(s.TrackingId ?? s.Label, 64));
            item.Set(DicomTags.TrackingUID, uids.Get("segment|" + s.Number));
            ds.AddItem(DicomTags.SegmentSequence, item);
        }

        // Multi-frame Dimension: frames are indexed by segment, then by position along the stack.
        var dimOrg = uids.Get("dimension-organization");
        ds.SetSequence(DicomTags.DimensionOrganizationSequence, new DicomDataset().Set(DicomTags.DimensionOrganizationUID, dimOrg));
        ds.Set(DicomTags.DimensionOrganizationType, "3D");
        var d1 = new DicomDataset().Set(DicomTags.DimensionOrganizationUID, dimOrg);
        d1.SetTags(DicomTags.DimensionIndexPointer, DicomTags.ReferencedSegmentNumber);
        d1.SetTags(DicomTags.FunctionalGroupPointer, DicomTags.SegmentIdentificationSequence);
        d1.Set(DicomTags.DimensionDescriptionLabel, DimensionLabelSegment);
        var d2 = new DicomDataset().Set(DicomTags.DimensionOrganizationUID, dimOrg);
        d2.SetTags(DicomTags.DimensionIndexPointer, DicomTags.ImagePositionPatient);
        d2.SetTags(DicomTags.FunctionalGroupPointer, DicomTags.PlanePositionSequence);
        d2.Set(DicomTags.DimensionDescriptionLabel, DimensionLabelPosition);
        ds.SetSequence(DicomTags.DimensionIndexSequence, d1, d2);

        // Common Instance Reference: every source instance, so the archive and viewers can find them all.
        var series = new DicomDataset().Set(DicomTags.SeriesInstanceUID, source.SeriesInstanceUid);
        foreach (var img in source.Images) series.AddItem(DicomTags.ReferencedInstanceSequence, Reference(img));
        ds.SetSequence(DicomTags.ReferencedSeriesSequence, series);
        return ds;
    }

    internal static DicomDataset AlgorithmItem(AlgorithmInfo alg)
    {
        var a = new DicomDataset();
        a.SetSequence(DicomTags.AlgorithmFamilyCodeSequence, Codes.ArtificialIntelligence.ToItem());
        a.Set(DicomTags.AlgorithmName, Truncate(alg.Name, 64));
        a.Set(DicomTags.AlgorithmVersion, Truncate(alg.Version, 64));
        if (alg.Parameters is { } p) a.Set(DicomTags.AlgorithmParameters, p);
        return a;
    }

    private static DicomDataset Reference(SourceImage img) => new DicomDataset()
        .Set(DicomTags.ReferencedSOPClassUID, img.SopClassUid)
        .Set(DicomTags.ReferencedSOPInstanceUID, img.SopInstanceUid);

    private static void AddFunctionalGroups(DicomDataset ds, SourceSeries source, List<SegmentationFrame> frames)
    {
        var first = source.First;
        var shared = new DicomDataset();
        var sharedMeasures = source.SamePixelSpacing;
        var sharedOrientation = source.SameOrientation;
        if (sharedMeasures) shared.SetSequence(DicomTags.PixelMeasuresSequence, PixelMeasures(first, SpacingBetweenSlices(source)));
        if (sharedOrientation) shared.SetSequence(DicomTags.PlaneOrientationSequence, Orientation(first));
        ds.SetSequence(DicomTags.SharedFunctionalGroupsSequence, shared);

        var perFrame = new DicomSequence(DicomTags.PerFrameFunctionalGroupsSequence);
        var purpose = Codes.SourceImageForProcessing.ToItem();
        var derivation = Codes.Segmentation.ToItem();
        var positions = new string[source.Images.Count][];
        foreach (var f in frames)
        {
            var img = source.Images[f.SliceIndex];
            var position = positions[f.SliceIndex] ??= img.ImagePositionPatient.Select(CompositeHeader.Ds).ToArray();
            var item = new DicomDataset();
            var src = Reference(img);
            src.Set(DicomTags.SpatialLocationsPreserved, "YES");
            src.SetSequence(DicomTags.PurposeOfReferenceCodeSequence, purpose.Clone());
            var deriv = new DicomDataset();
            deriv.SetSequence(DicomTags.SourceImageSequence, src);
            deriv.SetSequence(DicomTags.DerivationCodeSequence, derivation.Clone());
            item.SetSequence(DicomTags.DerivationImageSequence, deriv);
            var content = new DicomDataset();
            content.Set(DicomTags.DimensionIndexValues, DicomVR.UL, (uint)f.SegmentNumber, (uint)(f.SliceIndex + 1));
            item.SetSequence(DicomTags.FrameContentSequence, content);
            item.SetSequence(DicomTags.PlanePositionSequence, new DicomDataset().Set(DicomTags.ImagePositionPatient, DicomVR.DS, position));
            if (!sharedOrientation) item.SetSequence(DicomTags.PlaneOrientationSequence, Orientation(img));
            if (!sharedMeasures) item.SetSequence(DicomTags.PixelMeasuresSequence, PixelMeasures(img, null));
            item.SetSequence(DicomTags.SegmentIdentificationSequence,
                new DicomDataset().Set<ushort>(DicomTags.ReferencedSegmentNumber, DicomVR.US, (ushort)f.SegmentNumber));
            perFrame.Items.Add(item);
        }
        ds.Add(perFrame);
    }

    private static DicomDataset PixelMeasures(SourceImage img, double? spacingBetweenSlices)
    {
        var pm = new DicomDataset();
        // SliceThickness is required for a volumetric SEG; a source without one gets its slice spacing (or 1 mm).
        pm.Set(DicomTags.SliceThickness, DicomVR.DS, CompositeHeader.Ds(img.SliceThickness ?? spacingBetweenSlices ?? 1.0));
        pm.Set(DicomTags.PixelSpacing, DicomVR.DS, CompositeHeader.Ds(img.PixelSpacing[0]), CompositeHeader.Ds(img.PixelSpacing[1]));
        if (spacingBetweenSlices is { } s) pm.Set(DicomTags.SpacingBetweenSlices, DicomVR.DS, CompositeHeader.Ds(s));
        return pm;
    }

    private static DicomDataset Orientation(SourceImage img) =>
        new DicomDataset().Set(DicomTags.ImageOrientationPatient, DicomVR.DS, img.ImageOrientationPatient.Select(CompositeHeader.Ds).ToArray());

    /// <summary>The slice spacing when it is even along the normal (within 0.01 mm), so viewers may treat the SEG as a volume.</summary>
    private static double? SpacingBetweenSlices(SourceSeries source)
    {
        if (source.Images.Count < 2 || !source.SameOrientation) return null;
        var n = source.First.Normal;
        var pos = source.Images.Select(i => Vector.Dot(i.ImagePositionPatient, n)).ToArray();
        var step = pos[1] - pos[0];
        if (step <= 1e-6) return null;
        for (var i = 2; i < pos.Length; i++) if (Math.Abs(pos[i] - pos[i - 1] - step) > 0.01) return null;
        return step;
    }

    internal static string Truncate(string s, int max) => s.Length > max ? s[..max] : s;
}

/// <summary>UIDs for one job: derived from the seed when there is one, fresh otherwise.</summary>
internal sealed class UidSource(string? root, string? seed)
{
    private readonly DicomUidGenerator _gen = new(root);
    private readonly Dictionary<string, string> _made = new(StringComparer.Ordinal);

    public string Get(string purpose)
    {
        if (_made.TryGetValue(purpose, out var uid)) return uid;
        uid = seed is null ? _gen.Generate() : _gen.FromName(seed + "|" + purpose);
        _made[purpose] = uid;
        return uid;
    }
}
