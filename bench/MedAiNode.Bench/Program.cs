using System.Diagnostics;
using System.Globalization;
using MedAiNode.Dicom;
using MedAiNode.Dicom.IO;

// Reads a 300-slice 512x512 CT series (headers and pixel data) three ways in one run: plain file I/O (the floor),
// MedAiNode's reader, and pydicom. Prints medians and ratios as a Markdown table.
//   dotnet run -c Release --project bench/MedAiNode.Bench -- [slices] [repetitions]
var slices = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 300;
var reps = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 7;
var shared = Environment.GetEnvironmentVariable("MEDAINODE_SHARED_DATA") ?? Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "../../../../../../shared/data"));
var template = Path.Combine(shared, "ct", "philips-phantom-5mm", "I10.dcm");
var dir = Path.Combine(Path.GetTempPath(), "medainode-bench", $"series{slices}");
var files = SyntheticSeries.Ensure(template, dir, slices);
long totalBytes = files.Sum(f => new FileInfo(f).Length);
foreach (var f in files) _ = File.ReadAllBytes(f).Length; // page cache warm: every contender reads from memory

var scratch = new byte[4 << 20];
double PlainIo()
{
    // The floor: every byte of every file read into one reused buffer, no parsing, no allocation.
    var sw = Stopwatch.StartNew();
    long sum = 0;
    foreach (var f in files)
    {
        using var h = File.OpenHandle(f);
        int n, at = 0;
        while ((n = RandomAccess.Read(h, scratch.AsSpan(at), at)) > 0) at += n;
        sum += at;
    }
    if (sum != totalBytes) throw new InvalidOperationException();
    return sw.Elapsed.TotalMilliseconds;
}

double Ours()
{
    var sw = Stopwatch.StartNew();
    long pixels = 0;
    double z = 0;
    foreach (var f in files)
    {
        var ds = DicomFile.Open(f).Dataset;
        z += ds.GetValue<double>(DicomTags.ImagePositionPatient, 2);
        _ = ds.GetString(DicomTags.SOPInstanceUID);
        _ = ds.GetValue<int>(DicomTags.Rows);
        pixels += ds.GetBytes(DicomTags.PixelData).Length;
    }
    if (pixels != (long)files.Count * 512 * 512 * 2) throw new InvalidOperationException("pixel bytes");
    return sw.Elapsed.TotalMilliseconds;
}

double OursHeaders()
{
    var sw = Stopwatch.StartNew();
    double z = 0;
    var options = new DicomReadOptions { StopBeforePixelData = true };
    foreach (var f in files)
    {
        var ds = DicomFile.Open(f, options).Dataset;
        z += ds.GetValue<double>(DicomTags.ImagePositionPatient, 2);
        _ = ds.GetString(DicomTags.SOPInstanceUID);
    }
    return sw.Elapsed.TotalMilliseconds;
}

double OursPixelValues()
{
    var sw = Stopwatch.StartNew();
    long sum = 0;
    var values = new short[512 * 512];
    foreach (var f in files)
    {
        var ds = DicomFile.Open(f).Dataset;
        var el = (DicomElement)ds[DicomTags.PixelData]!;
        // Straight into a typed buffer the caller owns: no intermediate byte[] per slice.
        el.Buffer.CopyTo(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()));
        sum += values[values.Length / 2];
    }
    return sw.Elapsed.TotalMilliseconds;
}

double[] Pydicom(string mode)
{
    const string script = """
import sys, time, glob, pydicom
files = sorted(glob.glob(sys.argv[1] + '/*.dcm'))
reps = int(sys.argv[2])
mode = sys.argv[3]
for r in range(reps):
    t = time.perf_counter()
    n = 0
    z = 0.0
    for f in files:
        ds = pydicom.dcmread(f, stop_before_pixels=(mode == 'headers'))
        z += float(ds.ImagePositionPatient[2])
        _ = ds.SOPInstanceUID
        if mode == 'bytes':
            _ = ds.Rows
            n += len(ds.PixelData)
        elif mode == 'array':
            n += int(ds.pixel_array[256, 256])
    print((time.perf_counter() - t) * 1000.0)
""";
    var psi = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardOutput = true, RedirectStandardError = true };
    psi.ArgumentList.Add("-c");
    psi.ArgumentList.Add(script);
    psi.ArgumentList.Add(dir);
    psi.ArgumentList.Add(reps.ToString(CultureInfo.InvariantCulture));
    psi.ArgumentList.Add(mode);
    using var p = Process.Start(psi)!;
    var output = p.StandardOutput.ReadToEnd();
    p.WaitForExit();
    if (p.ExitCode != 0) throw new InvalidOperationException("pydicom run failed: " + p.StandardError.ReadToEnd());
    return output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(s => double.Parse(s, CultureInfo.InvariantCulture)).ToArray();
}

static double Median(IEnumerable<double> xs)
{
    var a = xs.OrderBy(x => x).ToArray();
    return a.Length % 2 == 1 ? a[a.Length / 2] : (a[a.Length / 2 - 1] + a[a.Length / 2]) / 2;
}

for (var i = 0; i < 10; i++) { PlainIo(); Ours(); OursHeaders(); OursPixelValues(); } // JIT tiering warm-up: a service reads steadily
var plain = new List<double>();
var ours = new List<double>();
var oursHeaders = new List<double>();
var oursValues = new List<double>();
for (var i = 0; i < reps; i++)
{
    plain.Add(PlainIo());
    ours.Add(Ours());
    oursHeaders.Add(OursHeaders());
    oursValues.Add(OursPixelValues());
}
double mp = Median(plain);
var mb = totalBytes / 1048576.0;
var version = PydicomVersion();
Console.WriteLine($"Series: {files.Count} files, {mb:F1} MiB, page cache warm, {reps} repetitions, median ms; pydicom {version}");
Console.WriteLine();
Console.WriteLine("Plain I/O: every byte of every file into one reused buffer (the floor for any reader).");
Console.WriteLine();
Console.WriteLine("| task | plain I/O ms | MedAiNode ms | pydicom ms | MedAiNode vs plain I/O | pydicom / MedAiNode |");
Console.WriteLine("|---|---:|---:|---:|---:|---:|");
void Row(string task, double ours, double py, bool withPlain) =>
    Console.WriteLine($"| {task} | {(withPlain ? mp.ToString("F1", CultureInfo.InvariantCulture) : "-")} | {ours:F1} | {py:F1} | {(withPlain ? (ours / mp).ToString("F2", CultureInfo.InvariantCulture) + "x" : "-")} | {py / ours:F1}x |");
Row("headers only (sort a series: IPP, UIDs)", Median(oursHeaders), Median(Pydicom("headers")), true);
Row("headers + Pixel Data bytes", Median(ours), Median(Pydicom("bytes")), true);
Row("headers + pixel values as int16 array (pydicom: pixel_array)", Median(oursValues), Median(Pydicom("array")), true);

static string PydicomVersion()
{
    var psi = new ProcessStartInfo("/usr/bin/python3", "-c \"import pydicom;print(pydicom.__version__)\"") { RedirectStandardOutput = true };
    using var p = Process.Start(psi)!;
    return p.StandardOutput.ReadToEnd().Trim();
}

/// <summary>A series made from one real slice: new UIDs, positions and instance numbers; written once and reused.</summary>
static class SyntheticSeries
{
    public static List<string> Ensure(string template, string dir, int slices)
    {
        var existing = Directory.Exists(dir) ? Directory.GetFiles(dir, "*.dcm") : [];
        if (existing.Length == slices) return existing.OrderBy(f => f, StringComparer.Ordinal).ToList();
        Directory.CreateDirectory(dir);
        foreach (var f in existing) File.Delete(f);
        var src = DicomFile.Open(template);
        var uids = new DicomUidGenerator();
        var study = uids.Generate();
        var series = uids.Generate();
        var result = new List<string>();
        for (var i = 0; i < slices; i++)
        {
            var ds = src.Dataset.Clone();
            ds.Set(DicomTags.StudyInstanceUID, study).Set(DicomTags.SeriesInstanceUID, series)
              .Set(DicomTags.SOPInstanceUID, uids.Generate())
              .Set(DicomTags.InstanceNumber, DicomVR.IS, i + 1)
              .Set(DicomTags.ImagePositionPatient, DicomVR.DS, -125.0, -125.0, -i * 1.0)
              .Set(DicomTags.SliceLocation, DicomVR.DS, -i * 1.0);
            var f = new DicomFile(ds, src.TransferSyntax);
            var path = Path.Combine(dir, $"{i + 1:D4}.dcm");
            f.Save(path);
            result.Add(path);
        }
        return result;
    }
}
