using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using MedAiNode.Dicom;
using MedAiNode.Dicom.IO;
using MedAiNode.Dicom.Network.Services;
using MedAiNode.Store;

// The same DCMTK storescu sends the same synthetic 300-slice 512x512 CT series over loopback to DCMTK storescp and to
// our SCP (fsync on), alternating, several runs; prints per-run times, medians, MB/s and the ratio.
// Usage: dotnet run -c Release --project bench/MedAiNode.Bench.Network -- [--runs N] [--slices N] [--source FILE] [--series DIR] [--no-fsync] [--no-dirsync]
// --series DIR sends the files of a real series (e.g. ct/lidc-idri-0001-chest) instead of the generated one.
var ci = CultureInfo.InvariantCulture;
var runs = ArgInt("--runs", 5);
var slices = ArgInt("--slices", 300);
var fsync = !args.Contains("--no-fsync");
var dirSync = !args.Contains("--no-dirsync");
var source = ArgStr("--source") ?? Path.Combine(FindShared(), "ct", "philips-phantom-5mm", "I10.dcm");
var realSeries = ArgStr("--series") is { } rs ? (Path.IsPathRooted(rs) ? rs : Path.Combine(FindShared(), rs)) : null;

var work = Path.Combine(Path.GetTempPath(), "medainode-bench-network-" + Environment.ProcessId);
var seriesDir = Path.Combine(work, "series");
Directory.CreateDirectory(seriesDir);
try
{
    long bytes;
    if (realSeries is not null)
    {
        foreach (var f in Directory.GetFiles(realSeries, "*.dcm")) File.Copy(f, Path.Combine(seriesDir, Path.GetFileName(f)));
        bytes = Directory.GetFiles(seriesDir).Sum(f => new FileInfo(f).Length);
    }
    else bytes = MakeSeries(source, seriesDir, slices);
    var files = Directory.GetFiles(seriesDir).Order(StringComparer.Ordinal).ToArray();
    Console.WriteLine($"Series: {files.Length} files from {(realSeries ?? Path.GetFileName(source))}, {bytes / 1e6:0.0} MB total; {runs} runs each; fsync {(fsync ? "on" : "off")} for ours, folder fsync {(fsync && dirSync ? "on" : "off")}");
    Console.WriteLine($"Machine: {Environment.ProcessorCount} cores, load average {File.ReadAllText("/proc/loadavg").Split(' ')[0]} at start; {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC");

    var dcmtkDir = Path.Combine(work, "storescp");
    var oursDir = Path.Combine(work, "ours");
    var dcmtkPort = FreePort();
    Directory.CreateDirectory(dcmtkDir);
    using var storescp = Start("storescp", ["-aet", "STORESCP", "-pdu", "131072", "-od", dcmtkDir, dcmtkPort.ToString(ci)]);
    using var stopStorescp = new Stopper(storescp);
    WaitPort(dcmtkPort);
    // The service's own target: the study store, with its Store:Fsync / Store:FsyncDirectory set from the flags.
    var store = new StudyStore(new StudyStoreOptions { Root = oursDir, Fsync = fsync, FsyncDirectory = dirSync });
    await using var server = new DicomServer(
        new DicomServerOptions { AETitle = "MEDAI", BindAddress = "127.0.0.1", Port = 0, MaxPduLength = 131072 }, store);
    server.Start();

    var tDcmtk = new List<double>();
    var tOurs = new List<double>();
    Send("STORESCP", dcmtkPort); // warm-up both (page cache, JIT)
    Send("MEDAI", server.Port);
    for (var i = 0; i < runs; i++)
    {
        Clean(dcmtkDir);
        Clean(store.StudiesRoot);
        tDcmtk.Add(Send("STORESCP", dcmtkPort));
        tOurs.Add(Send("MEDAI", server.Port));
        Console.WriteLine($"run {i + 1}: storescp {tDcmtk[^1]:0.000} s, ours {tOurs[^1]:0.000} s");
    }
    var stored = Directory.GetFiles(store.StudiesRoot, "*.dcm", SearchOption.AllDirectories).Length;
    if (stored != files.Length) throw new InvalidOperationException($"our SCP stored {stored} of {files.Length} files");
    var storedDcmtk = Directory.GetFiles(dcmtkDir).Length;
    if (storedDcmtk != files.Length) throw new InvalidOperationException($"storescp stored {storedDcmtk} of {files.Length} files");
    double Median(IEnumerable<double> l)
    {
        var o = l.Order().ToArray();
        return o.Length % 2 == 1 ? o[o.Length / 2] : (o[o.Length / 2 - 1] + o[o.Length / 2]) / 2;
    }
    var md = Median(tDcmtk);
    var mo = Median(tOurs);
    // Throughput ratio per run (storescp's time over ours for the runs taken back to back): above 1, ours is faster.
    var ratios = tDcmtk.Zip(tOurs, (d, o) => d / o).ToList();
    Console.WriteLine();
    Console.WriteLine("| receiver | median s | min-max s | MB/s (median) |");
    Console.WriteLine("|---|---|---|---|");
    Console.WriteLine($"| DCMTK storescp 3.6.7 (no fsync) | {md:0.000} | {tDcmtk.Min():0.000}-{tDcmtk.Max():0.000} | {bytes / 1e6 / md:0.0} |");
    Console.WriteLine($"| MedAiNode SCP + study store (fsync {(fsync ? "on" : "off")}, folder fsync {(fsync && dirSync ? "on" : "off")}) | {mo:0.000} | {tOurs.Min():0.000}-{tOurs.Max():0.000} | {bytes / 1e6 / mo:0.0} |");
    Console.WriteLine();
    Console.WriteLine($"Throughput ours / storescp: median {Median(ratios):0.00}x (runs {ratios.Min():0.00}-{ratios.Max():0.00}x); time per instance: storescp {md / files.Length * 1000:0.00} ms, ours {mo / files.Length * 1000:0.00} ms");

    double Send(string aet, int port)
    {
        var sw = Stopwatch.StartNew();
        using var p = Start("storescu", ["-aec", aet, "127.0.0.1", port.ToString(ci), "+sd", seriesDir]);
        p.WaitForExit();
        var s = sw.Elapsed.TotalSeconds;
        if (p.ExitCode != 0) throw new InvalidOperationException($"storescu to {aet} failed ({p.ExitCode}): {p.StandardError.ReadToEnd()}");
        return s;
    }
}
finally
{
    try { Directory.Delete(work, true); } catch (IOException) { }
}

static long MakeSeries(string source, string dir, int n)
{
    var src = DicomFile.Open(source);
    var study = DicomUidGenerator.Default.Generate();
    var series = DicomUidGenerator.Default.Generate();
    var thickness = 1.0;
    long total = 0;
    var pos = src.Dataset.GetValues<double>(DicomTags.ImagePositionPatient);
    for (var i = 0; i < n; i++)
    {
        var ds = src.Dataset.Clone();
        ds.Set(DicomTags.StudyInstanceUID, study);
        ds.Set(DicomTags.SeriesInstanceUID, series);
        ds.Set(DicomTags.SOPInstanceUID, DicomUidGenerator.Default.Generate());
        ds.Set<int>(DicomTags.InstanceNumber, DicomVR.IS, i + 1);
        ds.Set<double>(DicomTags.ImagePositionPatient, DicomVR.DS, pos[0], pos[1], pos[2] + i * thickness);
        ds.Set<double>(DicomTags.SliceLocation, DicomVR.DS, pos[2] + i * thickness);
        var f = new DicomFile(ds, src.TransferSyntax);
        var path = Path.Combine(dir, $"slice{i:D4}.dcm");
        f.Save(path);
        total += new FileInfo(path).Length;
    }
    return total;
}

static Process Start(string program, string[] a)
{
    var psi = new ProcessStartInfo(program) { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = false };
    foreach (var x in a) psi.ArgumentList.Add(x);
    psi.Environment["TCP_NODELAY"] = "1";
    return Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {program} (apt-get install dcmtk)");
}

static void Clean(string dir)
{
    if (!Directory.Exists(dir)) return;
    foreach (var d in Directory.GetDirectories(dir)) Directory.Delete(d, true);
    foreach (var f in Directory.GetFiles(dir)) File.Delete(f);
}

static int FreePort()
{
    var l = new TcpListener(IPAddress.Loopback, 0);
    l.Start();
    var p = ((IPEndPoint)l.LocalEndpoint).Port;
    l.Stop();
    return p;
}

static void WaitPort(int port)
{
    for (var i = 0; i < 200; i++)
    {
        try
        {
            using var c = new TcpClient();
            c.Connect(IPAddress.Loopback, port);
            return;
        }
        catch (SocketException) { Thread.Sleep(50); }
    }
    throw new TimeoutException($"storescp did not open port {port}");
}

static string FindShared()
{
    var env = Environment.GetEnvironmentVariable("MEDAINODE_SHARED_DATA");
    if (!string.IsNullOrEmpty(env)) return env;
    var dir = new DirectoryInfo(AppContext.BaseDirectory);
    while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "MedAiNode.sln"))) dir = dir.Parent;
    return Path.GetFullPath(Path.Combine(dir?.FullName ?? ".", "..", "shared", "data"));
}

int ArgInt(string name, int fallback) => ArgStr(name) is { } s ? int.Parse(s, ci) : fallback;
string? ArgStr(string name)
{
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
}

/// <summary>Stops the peer this program started (by its own Process object) however the run ends.</summary>
sealed class Stopper(Process p) : IDisposable
{
    public void Dispose()
    {
        try { if (!p.HasExited) { p.Kill(); p.WaitForExit(5000); } } catch (InvalidOperationException) { }
    }
}
