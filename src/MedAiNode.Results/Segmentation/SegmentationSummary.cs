using System.Globalization;
using MedAiNode.Dicom;
using MedAiNode.Dicom.IO;

namespace MedAiNode.Results.Segmentation;

/// <summary>
/// What a BINARY SEG holds: its segments and, per segment, the voxels, slices and volume. UIDs only: no patient data.
/// Volumes use the real slice spacing: each slice stands for the slab half-way to its neighbours along the plane normal
/// (so a tilted stack counts its perpendicular spacing and slices beside a gap cover the gap), never SliceThickness.
/// </summary>
public static class SegmentationSummary
{
    /// <summary>The text `seg-info` prints. With <paramref name="sourceDirectory"/>, frames are placed on the source series
    /// and its slice positions give the spacing; without, the SEG's own plane positions and pixel measures do.</summary>
    public static string Describe(string segPath, string? sourceDirectory = null)
    {
        var ci = CultureInfo.InvariantCulture;
        var file = DicomFile.Open(segPath);
        SourceSeries? source = null;
        if (sourceDirectory is not null) source = SourceSeries.Open(sourceDirectory);
        var mask = SegmentationReader.Read(file, source);
        var ds = file.Dataset;
        var geometry = source is not null ? SliceGeometry.FromSource(source) : SliceGeometry.FromSeg(ds);
        var w = new StringWriter(ci);
        w.WriteLine($"SEG {ds.GetString(DicomTags.SOPInstanceUID)}");
        w.WriteLine($"  series {ds.GetString(DicomTags.SeriesInstanceUID)} #{ds.GetString(DicomTags.SeriesNumber)} \"{ds.GetString(DicomTags.SeriesDescription)}\"");
        w.WriteLine($"  frame of reference {ds.GetString(DicomTags.FrameOfReferenceUID)}");
        w.WriteLine($"  {ds.GetString(DicomTags.NumberOfFrames)} frames of {mask.Columns}x{mask.Rows}, on {mask.Instances.Count} source instances");
        var counts = new long[256];
        var slices = new int[256];
        var volume = new double[256];
        var located = true;
        foreach (var uid in mask.Instances)
        {
            var labels = mask.GetLabels(uid);
            var seen = new bool[256];
            var voxelMm3 = geometry?.VoxelVolumeMm3(uid);
            if (voxelMm3 is null) located = false;
            foreach (var b in labels)
            {
                if (b == 0) continue;
                counts[b]++;
                volume[b] += voxelMm3 ?? 0;
                seen[b] = true;
            }
            for (var s = 1; s < 256; s++) if (seen[s]) slices[s]++;
        }
        foreach (var s in mask.Segments)
        {
            w.Write($"  segment {s.Number} \"{s.Label}\" type {s.Type} category {s.Category}");
            if (s.AnatomicRegion is not null) w.Write($" region {s.AnatomicRegion}");
            w.WriteLine();
            w.Write($"    {counts[s.Number]} voxels on {slices[s.Number]} slices");
            if (geometry is not null && located)
                w.Write($", {(volume[s.Number] / 1000.0).ToString("F3", ci)} mL (pixel spacing x slice spacing along the normal)");
            w.WriteLine();
            if (s.AlgorithmName is not null) w.WriteLine($"    algorithm {s.AlgorithmName} {s.AlgorithmVersion} {s.AlgorithmParameters}".TrimEnd());
        }
        if (geometry is not null && !located) w.WriteLine("  volumes not given: some frames could not be placed on a slice position");
        foreach (var note in geometry?.Notes ?? []) w.WriteLine("  note: " + note);
        return w.ToString();
    }

    /// <summary>The slab each plane stands for: half-way to the previous plane plus half-way to the next, along the normal;
    /// the first and last planes take their one neighbour's spacing on both sides. A single plane has no spacing (NaN).</summary>
    public static double[] SlabThicknesses(IReadOnlyList<double> sortedPositions)
    {
        var n = sortedPositions.Count;
        var t = new double[n];
        if (n == 1) { t[0] = double.NaN; return t; }
        for (var i = 0; i < n; i++)
        {
            var before = i > 0 ? sortedPositions[i] - sortedPositions[i - 1] : sortedPositions[1] - sortedPositions[0];
            var after = i < n - 1 ? sortedPositions[i + 1] - sortedPositions[i] : sortedPositions[n - 1] - sortedPositions[n - 2];
            t[i] = (before + after) / 2;
        }
        return t;
    }

    /// <summary>Per source instance: pixel area and the slab thickness of its plane in the stack.</summary>
    private sealed class SliceGeometry
    {
        private readonly Dictionary<string, double> _voxelMm3 = new(StringComparer.Ordinal);
        public List<string> Notes { get; } = [];

        public double? VoxelVolumeMm3(string sopInstanceUid) => _voxelMm3.TryGetValue(sopInstanceUid, out var v) ? v : null;

        public static SliceGeometry? FromSource(SourceSeries source) =>
            Build(source.Images.Select(i => (i.SopInstanceUid, i.ImagePositionPatient, i.ImageOrientationPatient, i.PixelSpacing,
                Fallback: i.SliceThickness)).ToList());

        public static SliceGeometry? FromSeg(DicomDataset ds)
        {
            var shared = ds.GetSequence(DicomTags.SharedFunctionalGroupsSequence)?.Items.FirstOrDefault();
            var planes = new List<(string, double[], double[], double[], double?)>();
            foreach (var fg in ds.GetSequence(DicomTags.PerFrameFunctionalGroupsSequence)?.Items ?? [])
            {
                var uid = SegmentationReader.Group(fg, shared, DicomTags.DerivationImageSequence)?.GetSequence(DicomTags.SourceImageSequence)?.Items.FirstOrDefault()
                    ?.GetString(DicomTags.ReferencedSOPInstanceUID);
                var ipp = SegmentationReader.Group(fg, shared, DicomTags.PlanePositionSequence)?.GetValues<double>(DicomTags.ImagePositionPatient);
                var iop = SegmentationReader.Group(fg, shared, DicomTags.PlaneOrientationSequence)?.GetValues<double>(DicomTags.ImageOrientationPatient);
                var measures = SegmentationReader.Group(fg, shared, DicomTags.PixelMeasuresSequence);
                var spacing = measures?.GetValues<double>(DicomTags.PixelSpacing);
                if (string.IsNullOrEmpty(uid) || ipp is not { Length: 3 } || iop is not { Length: 6 } || spacing is not { Length: 2 }) return null;
                double? fallback = measures!.GetString(DicomTags.SpacingBetweenSlices) is { Length: > 0 }
                    ? measures.GetValues<double>(DicomTags.SpacingBetweenSlices)[0]
                    : measures.GetString(DicomTags.SliceThickness) is { Length: > 0 } ? measures.GetValues<double>(DicomTags.SliceThickness)[0] : null;
                planes.Add((uid, ipp, iop, spacing, fallback));
            }
            return planes.Count == 0 ? null : Build(planes);
        }

        private static SliceGeometry? Build(List<(string Uid, double[] Ipp, double[] Iop, double[] Spacing, double? Fallback)> planes)
        {
            var g = new SliceGeometry();
            var iop = planes[0].Iop;
            var normal = Vector.Normalize([iop[1] * iop[5] - iop[2] * iop[4], iop[2] * iop[3] - iop[0] * iop[5], iop[0] * iop[4] - iop[1] * iop[3]]);
            // Planes at one position (several segments' frames on one slice) share one slab.
            var positions = planes.Select(p => Vector.Dot(p.Ipp, normal)).Order().ToList();
            var distinct = new List<double>();
            foreach (var z in positions) if (distinct.Count == 0 || z - distinct[^1] > 1e-3) distinct.Add(z);
            var slab = SlabThicknesses(distinct);
            var steps = distinct.Zip(distinct.Skip(1), (a, b) => b - a).ToList();
            if (steps.Count > 1 && steps.Max() > 1.5 * steps.Min())
                g.Notes.Add(FormattableString.Invariant($"uneven slice spacing ({steps.Min():0.###} to {steps.Max():0.###} mm): each slice counts half-way to its neighbours"));
            foreach (var p in planes)
            {
                var z = Vector.Dot(p.Ipp, normal);
                var k = distinct.FindIndex(d => Math.Abs(d - z) <= 1e-3);
                var thickness = double.IsNaN(slab[k]) ? p.Fallback : slab[k];
                if (thickness is null) return null;
                g._voxelMm3[p.Uid] = p.Spacing[0] * p.Spacing[1] * thickness.Value;
            }
            return g;
        }
    }
}
