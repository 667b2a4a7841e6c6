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
// Usage: dotnet run -c Release --project bench/MedAiNode.Bench.Network -- [--runs N] [--slices N] [--source FILE] [--series DIR] [--no-fsync] [--no-dirsync] [--no-journal | --journal-compare] [--cached-filing | --filing-compare] [--warmup N (series per receiver, default 4)] [--delete-between]
// --series DIR sends the files of a real series (e.g. ct/lidc-idri-0001-chest) instead of the generated one.
// Our store runs with its intake journal (Store:JournalSizeMiB, 512 MiB) as the service does; --no-journal turns it off
// (every instance's file and folder flushed before Success); --journal-compare runs both, interleaved with storescp.
var ci = CultureInfo.InvariantCulture;
var runs = ArgInt("--runs", 5);
var slices = ArgInt("--slices", 300);
var fsync = !args.Contains("--no-fsync");
var dirSync = !args.Contains("--no-dirsync");
var compare = args.Contains("--journal-compare");
var journalOn = !args.Contains("--no-journal");
// Store:UncachedFiling: journaled instances are filed around the page cache (default) or, with --cached-filing, through
// it; --filing-compare runs both, journal on.
var uncachedFiling = !args.Contains("--cached-filing");
var filingCompare = args.Contains("--filing-compare");
if ((compare || filingCompare) && !fsync)
{
    // With Store:Fsync off the store opens no journal, so both stores would be the same plain one.
    Console.Error.WriteLine("--journal-compare and --filing-compare need fsync on: with --no-fsync the study store has no intake journal");
    Environment.Exit(2);
}
// Each run's files are moved aside (deleted at the end), not deleted before the next run: ext4 without a journal (as on
// the development VMs) skips inodes freed in the last 60-300 s when it allocates one, scanning past them, so creating
// 300 files right after deleting the last run's 600 cost both receivers most of their time (docs/benchmarks.md).
// --delete-between restores the old behaviour.
var deleteBetween = args.Contains("--delete-between");
var warmups = ArgInt("--warmup", 4);
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
    // The service's own target: the study store, with its Store:Fsync / Store:FsyncDirectory / Store:JournalSizeMiB set
    // from the flags; with --journal-compare a second store without the journal, in its own folder.
    var ours = new List<(string Name, StudyStore Store, DicomServer Server, List<double> Times)>();
    (bool Journal, bool Uncached)[] settings = compare ? [(true, uncachedFiling), (false, uncachedFiling)]
        : filingCompare ? [(true, true), (true, false)] : [(journalOn, uncachedFiling)];
    foreach (var (journal, uncached) in settings)
    {
        var store = new StudyStore(new StudyStoreOptions
        {
            Root = Path.Combine(oursDir, (journal ? "journal" : "plain") + (uncached ? "" : "-cached")), Fsync = fsync, FsyncDirectory = dirSync,
            JournalSizeMiB = journal ? 512 : 0, UncachedFiling = uncached,
        });
        var server = new DicomServer(new DicomServerOptions { AETitle = "MEDAI", BindAddress = "127.0.0.1", Port = 0, MaxPduLength = 131072 }, store);
        server.Start();
        var name = !fsync ? "fsync off" : store.Journal is not null ? (uncached ? "journal" : "journal, cached filing") : dirSync ? "file + folder fsync" : "file fsync";
        ours.Add((name, store, server, new List<double>()));
    }

    var tDcmtk = new List<double>();
    long firstFiled = 0, lastFiled = 0;
    foreach (var o in ours) o.Store.InstanceStored += _ =>
    {
        var now = Stopwatch.GetTimestamp();
        Interlocked.CompareExchange(ref firstFiled, now, 0);
        Volatile.Write(ref lastFiled, now);
    };
    var phases = new List<(double Start, double Steady, double End)>();
    var checkpointAfter = new List<double>();
    // Warm-up: the page cache, and for ours the JIT: tiered compilation recompiles the hot paths for about the first
    // 1,000 instances (perf: its thread busy for 4-5 s of a 7-run bench that warmed up with one series), taking one
    // of the two cores from the runs it overlapped. A node runs for weeks: its steady state is what is measured.
    for (var w = 0; w < warmups; w++)
    {
        Send("STORESCP", dcmtkPort);
        foreach (var o in ours) Send("MEDAI", o.Server.Port);
        if (!deleteBetween)
        {
            MoveAside(dcmtkDir, $"w{w}-storescp");
            foreach (var o in ours) MoveAside(o.Store.StudiesRoot, $"w{w}-{o.Name}");
        }
    }
    for (var i = 0; i < runs; i++)
    {
        if (deleteBetween)
        {
            Clean(dcmtkDir);
            foreach (var o in ours) Clean(o.Store.StudiesRoot);
        }
        else
        {
            MoveAside(dcmtkDir, $"{i}-storescp");
            foreach (var o in ours) MoveAside(o.Store.StudiesRoot, $"{i}-{o.Name}");
        }
        tDcmtk.Add(Send("STORESCP", dcmtkPort));
        foreach (var o in ours)
        {
            firstFiled = lastFiled = 0;
            var t0 = Stopwatch.GetTimestamp();
            o.Times.Add(Send("MEDAI", o.Server.Port));
            var t1 = Stopwatch.GetTimestamp();
            double Ms(long a, long b) => (b - a) * 1000.0 / Stopwatch.Frequency;
            phases.Add((Ms(t0, firstFiled), Ms(firstFiled, lastFiled) / (files.Length - 1), Ms(lastFiled, t1)));
            // What the journal leaves for the pause after a series (its checkpoint) is done before the next receiver
            // runs, untimed, so that it neither slows storescp's run nor goes unseen: its seconds are printed apart.
            if (o.Store.Journal is { } journal)
            {
                var after = Stopwatch.StartNew();
                journal.Checkpoint();
                checkpointAfter.Add(after.Elapsed.TotalSeconds);
            }
        }
        Console.WriteLine($"run {i + 1}: storescp {tDcmtk[^1]:0.000} s, " + string.Join(", ", ours.Select(o => $"ours ({o.Name}) {o.Times[^1]:0.000} s")));
    }
    foreach (var o in ours)
    {
        var stored = Directory.GetFiles(o.Store.StudiesRoot, "*.dcm", SearchOption.AllDirectories).Length;
        if (stored != files.Length) throw new InvalidOperationException($"our SCP ({o.Name}) stored {stored} of {files.Length} files");
    }
    var storedDcmtk = Directory.GetFiles(dcmtkDir).Length;
    if (storedDcmtk != files.Length) throw new InvalidOperationException($"storescp stored {storedDcmtk} of {files.Length} files");
    double Median(IEnumerable<double> l)
    {
        var o = l.Order().ToArray();
        return o.Length % 2 == 1 ? o[o.Length / 2] : (o[o.Length / 2 - 1] + o[o.Length / 2]) / 2;
    }
    var md = Median(tDcmtk);
    Console.WriteLine();
    Console.WriteLine("| receiver | median s | min-max s | MB/s (median) |");
    Console.WriteLine("|---|---|---|---|");
    Console.WriteLine($"| DCMTK storescp 3.6.7 (no fsync) | {md:0.000} | {tDcmtk.Min():0.000}-{tDcmtk.Max():0.000} | {bytes / 1e6 / md:0.0} |");
    foreach (var o in ours)
        Console.WriteLine($"| MedAiNode SCP + study store ({o.Name}) | {Median(o.Times):0.000} | {o.Times.Min():0.000}-{o.Times.Max():0.000} | {bytes / 1e6 / Median(o.Times):0.0} |");
    Console.WriteLine();
    foreach (var o in ours)
    {
        // Throughput ratio per run (storescp's time over ours for the runs taken back to back): above 1, ours is faster.
        var ratios = tDcmtk.Zip(o.Times, (d, t) => d / t).ToList();
        var mo = Median(o.Times);
        Console.WriteLine($"Throughput ours ({o.Name}) / storescp: median {Median(ratios):0.00}x (runs {ratios.Min():0.00}-{ratios.Max():0.00}x); time per instance: storescp {md / files.Length * 1000:0.00} ms, ours {mo / files.Length * 1000:0.00} ms");
        if (o.Store.Journal is { } j)
        {
            var ms = (long ticks, long n) => n == 0 ? 0 : ticks * 1000.0 / Stopwatch.Frequency / n;
            Console.WriteLine($"  journal: {j.Stats.Appended} appended, {j.Stats.Flushes} flushes, {j.Stats.Checkpoints} checkpoints ({j.Stats.ForcedCheckpoints} forced), {j.Stats.Wraps} wraps, {j.Stats.TooLarge} too large;"
                + $" mean ms per instance: record write {ms(j.Stats.WriteTicks, j.Stats.Appended):0.000}, flush {ms(j.Stats.FlushTicks, j.Stats.Appended):0.000}; per checkpoint {ms(j.Stats.CheckpointTicks, j.Stats.Checkpoints):0.0} ms");
            Console.WriteLine($"  buffers of instances held in memory, still held at the end: {o.Server.Store.HeldBytes} bytes (0: none leaked)");
            var (p10, p50, p90) = j.Stats.FlushMillis();
            Console.WriteLine($"  journal flush ms: median {p50:0.000} (10th percentile {p10:0.000}, 90th {p90:0.000})");
            if (checkpointAfter.Count > 0)
                Console.WriteLine($"  checkpoint after each series (untimed above): median {Median(checkpointAfter) * 1000:0} ms ({checkpointAfter.Min() * 1000:0}-{checkpointAfter.Max() * 1000:0})");
        }
    }
    if (phases.Count > 0)
        Console.WriteLine($"  ours, per run: storescu start to first instance filed {Median(phases.Select(p => p.Start)):0} ms ({phases.Min(p => p.Start):0}-{phases.Max(p => p.Start):0}), then {Median(phases.Select(p => p.Steady)):0.00} ms per instance ({phases.Min(p => p.Steady):0.00}-{phases.Max(p => p.Steady):0.00}), last filed to storescu's exit {Median(phases.Select(p => p.End)):0} ms ({phases.Min(p => p.End):0}-{phases.Max(p => p.End):0})");
    Console.WriteLine($"Load average at end: {File.ReadAllText("/proc/loadavg").Split(' ')[0]}");
    foreach (var o in ours)
    {
        await o.Server.DisposeAsync();
        o.Store.Dispose();
    }

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

void MoveAside(string dir, string name)
{
    if (!Directory.Exists(dir)) return;
    var aside = Path.Combine(work, "aside");
    Directory.CreateDirectory(aside);
    Directory.Move(dir, Path.Combine(aside, name.Replace(' ', '_')));
    Directory.CreateDirectory(dir);
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
