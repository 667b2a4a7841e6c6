// Times building the SEG and the TID 1500 SR for a synthetic 300-slice 512x512 CT with 5 segments.
// Usage: dotnet run -c Release --project bench/MedAiNode.Bench.Results [-- slices iterations]
// Reference measured in the same run: one vectorised pass over the label map (the least any consumer of it must do).
using System.Diagnostics;
using System.Numerics;
using System.Runtime.Intrinsics;
using MedAiNode.Dicom;
using MedAiNode.Results;
using MedAiNode.Results.Reports;
using MedAiNode.Results.Segmentation;

var slices = args.Length > 0 ? int.Parse(args[0]) : 300;
var iterations = args.Length > 1 ? int.Parse(args[1]) : 7;
const int Size = 512;

var images = Series(slices);
var source = SourceSeries.Create(images);
var segments = new[]
{
    Segment(1, "Liver", "10200004", 221, 130, 101),
    Segment(2, "Spleen", "78961009", 157, 108, 162),
    Segment(3, "Left kidney", "64033007", 185, 102, 83),
    Segment(4, "Right kidney", "64033007", 185, 102, 83),
    Segment(5, "Lung", "39607008", 197, 165, 145),
};
var algorithm = new AlgorithmInfo("Bench model", "1.0", new string('0', 64));

// Organ-like ellipsoids: (centre row, col, slice, radii rows, cols, slices)
var organs = new (int r, int c, int z, int rr, int rc, int rz)[]
{
    (230, 170, slices * 45 / 100, 110, 90, slices * 20 / 100),
    (220, 380, slices * 45 / 100, 60, 45, slices * 8 / 100),
    (300, 350, slices * 30 / 100, 40, 30, slices * 8 / 100),
    (300, 160, slices * 30 / 100, 40, 30, slices * 8 / 100),
    (250, 256, slices * 75 / 100, 150, 200, slices * 22 / 100),
};
var realistic = Labels(images, organs, everySlice: false);
var dense = Labels(images, organs, everySlice: true);

Console.WriteLine($"# {slices} slices of {Size}x{Size}, 5 segments; {iterations} timed runs after 2 warm-ups; median ms");
Console.WriteLine($"runtime {Environment.Version}, {Environment.ProcessorCount} logical CPUs, Vector<byte>.Count {Vector<byte>.Count}");
Report("realistic organs", realistic);
Report("worst case: every segment on every slice", dense);

void Report(string name, LabelMap labels)
{
    SegmentationResult? seg = null;
    long voxels = 0;
    var reference = Time(() => voxels = Sweep(images, labels));
    var build = Time(() => seg = SegmentationWriter.Create(source, segments, labels, algorithm, new SegmentationOptions { UidSeed = "bench" }));
    long bytes = 0;
    var write = Time(() => { using var s = new CountingStream(); seg!.File.Write(s); bytes = s.Length; });
    // Per segment: volume, mean HU, longest diameter (and a percentage below -950 HU on one); one lesion with its centroid.
    Measurement Num(CodedConcept concept, double value, CodedConcept unit, int segment, int? lesion = null) => new(concept, value, unit) { Labels = [segment], Lesion = lesion };
    var measurements = segments.Select(s => new MeasurementGroup
        {
            SegmentNumber = s.Number,
            Measurements = [Num(Codes.Volume, 100 + s.Number, Codes.Milliliter, s.Number), Num(Codes.AttenuationCoefficient, 40, Codes.HounsfieldUnit, s.Number),
                Num(Codes.LongAxis, 80, Codes.Millimeter, s.Number), .. s.Number == 5 ? [Num(Codes.PercentBelow(-950, Codes.HounsfieldUnit), 3.2, Codes.Percent, 5)] : Array.Empty<Measurement>()],
        })
        .Append(new MeasurementGroup { SegmentNumber = 5, LesionNumber = 1, CentroidMm = [10, 20, 30], Measurements = [Num(Codes.Volume, 0.5, Codes.Milliliter, 5, 1), Num(Codes.LongAxis, 9, Codes.Millimeter, 5, 1)] })
        .ToList();
    var sr = Time(() => { var r = MeasurementReportWriter.Create(source, seg!, segments, measurements, algorithm, new MeasurementReportOptions { UidSeed = "bench" }); using var s = new CountingStream(); r.File.Write(s); });
    var frames = seg!.Frames.Count;
    var total = build + write + sr;
    Console.WriteLine();
    Console.WriteLine($"## {name}: {frames} frames, {voxels / 1e6:F1} M voxels set, SEG {bytes / 1024.0 / 1024.0:F1} MiB");
    Console.WriteLine($"| step | median ms | per frame us | x reference |");
    Console.WriteLine($"|---|---:|---:|---:|");
    Console.WriteLine($"| reference: one vectorised pass over the {slices * (long)Size * Size / 1e6:F1} M-voxel label map | {reference:F1} | | 1.00 |");
    Console.WriteLine($"| SEG build (pack frames, functional groups) | {build:F1} | {build * 1000 / frames:F1} | {build / reference:F2} |");
    Console.WriteLine($"| SEG encode (Part 10, Explicit VR LE) | {write:F1} | {write * 1000 / frames:F1} | {write / reference:F2} |");
    Console.WriteLine($"| SR build + encode ({measurements.Count} groups) | {sr:F1} | | {sr / reference:F2} |");
    Console.WriteLine($"| total SEG + SR | {total:F1} | {total * 1000 / frames:F1} | {total / reference:F2} |");
}

double Time(Action action)
{
    for (var i = 0; i < 2; i++) action();
    var times = new double[iterations];
    for (var i = 0; i < iterations; i++)
    {
        var sw = Stopwatch.StartNew();
        action();
        times[i] = sw.Elapsed.TotalMilliseconds;
    }
    Array.Sort(times);
    return times[iterations / 2];
}

static long Sweep(List<SourceImage> images, LabelMap labels)
{
    long nonZero = 0;
    foreach (var img in images)
    {
        if (!labels.TryGet(img.SopInstanceUid, out var m)) continue;
        var span = m.Span;
        var i = 0;
        for (; i + 32 <= span.Length; i += 32)
            nonZero += 32 - BitOperations.PopCount(Vector256.ExtractMostSignificantBits(Vector256.Equals(Vector256.Create(span.Slice(i, 32)), Vector256<byte>.Zero)));
        for (; i < span.Length; i++) if (span[i] != 0) nonZero++;
    }
    return nonZero;
}

static SegmentDescription Segment(int n, string label, string code, byte r, byte g, byte b) => new()
{
    Number = n, Label = label,
    Category = new CodedConcept("123037004", "SCT", "Anatomical Structure"),
    Type = new CodedConcept(code, "SCT", label.Replace("Left ", "").Replace("Right ", "")),
    Color = DicomCieLab.FromRgb(r, g, b),
};

static List<SourceImage> Series(int n)
{
    var gen = new DicomUidGenerator();
    var list = new List<SourceImage>();
    for (var z = 0; z < n; z++)
    {
        var ds = new DicomDataset();
        ds.Set(DicomTags.SOPClassUID, DicomUids.CTImageStorage);
        ds.Set(DicomTags.SOPInstanceUID, gen.FromName("bench|sop|" + z));
        ds.Set(DicomTags.StudyInstanceUID, gen.FromName("bench|study"));
        ds.Set(DicomTags.SeriesInstanceUID, gen.FromName("bench|series"));
        ds.Set(DicomTags.FrameOfReferenceUID, gen.FromName("bench|for"));
        ds.Set(DicomTags.Modality, "CT");
        ds.Set(DicomTags.PatientName, "Bench^Patient");
        ds.Set(DicomTags.PatientID, "BENCH");
        ds.Set(DicomTags.SliceThickness, DicomVR.DS, "1");
        ds.Set(DicomTags.ImagePositionPatient, DicomVR.DS, "-200", "-200", DicomDataset.FormatDecimal(-300 + z));
        ds.Set(DicomTags.ImageOrientationPatient, DicomVR.DS, "1", "0", "0", "0", "1", "0");
        ds.Set<ushort>(DicomTags.Rows, DicomVR.US, Size);
        ds.Set<ushort>(DicomTags.Columns, DicomVR.US, Size);
        ds.Set(DicomTags.PixelSpacing, DicomVR.DS, "0.78", "0.78");
        list.Add(SourceImage.FromDataset(ds));
    }
    return list;
}

static LabelMap Labels(List<SourceImage> images, (int r, int c, int z, int rr, int rc, int rz)[] organs, bool everySlice)
{
    var map = new LabelMap();
    for (var z = 0; z < images.Count; z++)
    {
        var slice = new byte[Size * Size];
        if (everySlice)
        {
            // a disc of radius 200 px cut into 5 column bands: every segment on every slice
            for (var y = 56; y < 456; y++)
                for (var x = 56; x < 456; x++)
                    if ((y - 256) * (y - 256) + (x - 256) * (x - 256) <= 200 * 200) slice[y * Size + x] = (byte)(1 + (x - 56) * organs.Length / 400);
            map.Set(images[z].SopInstanceUid, slice);
            continue;
        }
        for (var n = 0; n < organs.Length; n++)
        {
            var o = organs[n];
            var dz = (z - o.z) / (double)o.rz;
            if (dz * dz >= 1) continue;
            var f = Math.Sqrt(1 - dz * dz);
            double rr = o.rr * f, rc = o.rc * f;
            for (var y = (int)Math.Max(0, o.r - rr); y <= Math.Min(Size - 1, o.r + rr); y++)
                for (var x = (int)Math.Max(0, o.c - rc); x <= Math.Min(Size - 1, o.c + rc); x++)
                {
                    double a = (y - o.r) / rr, b = (x - o.c) / rc;
                    if (a * a + b * b <= 1) slice[y * Size + x] = (byte)(n + 1);
                }
        }
        map.Set(images[z].SopInstanceUid, slice);
    }
    return map;
}

/// <summary>Counts bytes written without keeping them: the encode timing should not include a 40 MB buffer's growth.</summary>
sealed class CountingStream : Stream
{
    private long _length;
    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => _length;
    public override long Position { get => _length; set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => _length += count;
    public override void Write(ReadOnlySpan<byte> buffer) => _length += buffer.Length;
}
