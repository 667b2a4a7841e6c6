using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using MedAiNode.Dicom;
using MedAiNode.Dicom.IO;
using MedAiNode.Testing;

// Peak resident memory of the node while it analyses one study, and two studies at once (issue 16: "peak <= 3x the
// raw volume, with two concurrent analyses in one process"). A `medainode serve` process (Release build, default model
// ct-lung-quant, Jobs:InferenceSlots 2) receives copies of a real CT series (LIDC-IDRI-0001 chest, 133 slices 512x512
// by default; each copy gets new Study/Series/SOP UIDs) from DCMTK storescu, one study or two sent at the same time,
// and analyses them. The peak is the node's VmHWM from /proc/PID/status, reset before each run by writing 5 to
// /proc/PID/clear_refs, so every run is measured alone in the same warm process. One warm-up study first; then the
// one-study and two-study runs alternate, N of each.
//   flock /tmp/medainode-build.lock dotnet build -c Release src/MedAiNode.Worker
//   flock /tmp/medainode-build.lock dotnet build -c Release bench/MedAiNode.Bench.Memory
//   dotnet bench/MedAiNode.Bench.Memory/bin/Release/net10.0/MedAiNode.Bench.Memory.dll [--runs N] [--series DIR] [--worker PATH/medainode.dll]
//     [--env NAME=VALUE]... [-- extra serve options]
// --env sets a variable for the node (e.g. DOTNET_gcServer=0 to compare the garbage collectors).
var ci = CultureInfo.InvariantCulture;
var runs = 3;
string? workerDll = null;
var series = "ct/lidc-idri-0001-chest";
var extra = new List<string>();
var env = new Dictionary<string, string>();
for (var i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--runs": runs = int.Parse(args[++i], ci); break;
        case "--series": series = args[++i]; break;
        case "--worker": workerDll = args[++i]; break;
        case "--env":
            var kv = args[++i].Split('=', 2);
            env[kv[0]] = kv.Length > 1 ? kv[1] : "";
            break;
        case "--": extra.AddRange(args[(i + 1)..]); i = args.Length; break;
        default: Console.Error.WriteLine($"unknown argument {args[i]}"); return 2;
    }
}
workerDll ??= Path.Combine(TestData.RepoRoot, "src", "MedAiNode.Worker", "bin", "Release", "net10.0", "medainode.dll");
if (!File.Exists(workerDll))
{
    Console.Error.WriteLine($"{workerDll} not found: flock /tmp/medainode-build.lock dotnet build -c Release src/MedAiNode.Worker");
    return 2;
}
var source = Path.IsPathRooted(series) ? series : TestData.Path_(series.Split('/'));
var sourceFiles = Directory.GetFiles(source, "*.dcm").Order(StringComparer.Ordinal).ToArray();
var first = DicomFile.Open(sourceFiles[0], new DicomReadOptions { StopBeforePixelData = true }).Dataset;
long rawBytes = (long)sourceFiles.Length * first.GetValue<int>(DicomTags.Rows) * first.GetValue<int>(DicomTags.Columns) * (first.GetValue<int>(DicomTags.BitsAllocated) / 8);
Console.WriteLine($"Series: {source}, {sourceFiles.Length} slices, raw volume {rawBytes / 1048576.0:0.0} MiB ({first.GetValue<int>(DicomTags.Rows)}x{first.GetValue<int>(DicomTags.Columns)}, {first.GetValue<int>(DicomTags.BitsAllocated)} bits)");
Console.WriteLine($"Machine: {Environment.ProcessorCount} cores, load average {File.ReadAllText("/proc/loadavg").Split(' ')[0]} at start; {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC");

var work = Path.Combine(Path.GetTempPath(), "medainode-bench-memory-" + Environment.ProcessId);
Directory.CreateDirectory(work);
var dicomPort = TestData.FreePort();
var httpPort = TestData.FreePort();
var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = work };
foreach (var a in new[] { workerDll, "serve", $"--Store:Root={Path.Combine(work, "store")}", $"--Dicom:Port={dicomPort}", $"--Http:Urls=http://127.0.0.1:{httpPort}",
             "--Store:QuietPeriod=00:00:01", "--Jobs:InferenceSlots=2" }.Concat(extra))
    psi.ArgumentList.Add(a);
psi.Environment["TCP_NODELAY"] = "1";
foreach (var (k, v) in env) psi.Environment[k] = v;
if (env.Count > 0) Console.WriteLine($"Node environment: {string.Join(' ', env.Select(kv => $"{kv.Key}={kv.Value}"))}");
using var node = Process.Start(psi)!;
var log = new System.Text.StringBuilder();
node.OutputDataReceived += (_, e) => { lock (log) log.AppendLine(e.Data); };
node.ErrorDataReceived += (_, e) => { lock (log) log.AppendLine(e.Data); };
node.BeginOutputReadLine();
node.BeginErrorReadLine();
using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(100) };
try
{
    await WaitReady();
    var idle = Status("VmRSS");
    Console.WriteLine($"Node ready (pid {node.Id}); idle RSS with the model loaded: {idle / 1024.0:0} MiB");

    await Run(1, "warm-up");
    var one = new List<long>();
    var two = new List<long>();
    for (var r = 1; r <= runs; r++)
    {
        one.Add(await Run(1, $"run {r}"));
        two.Add(await Run(2, $"run {r}"));
    }
    var idleAfter = Status("VmRSS");
    static double Median(List<long> l)
    {
        var o = l.Order().ToArray();
        return o.Length % 2 == 1 ? o[o.Length / 2] : (o[o.Length / 2 - 1] + o[o.Length / 2]) / 2.0;
    }
    double Mib(double kib) => kib / 1024.0;
    var raw = rawBytes / 1024.0; // KiB, as /proc reports
    Console.WriteLine();
    Console.WriteLine($"Raw volume: {Mib(raw):0.0} MiB; idle RSS {Mib(idle):0} MiB before the runs, {Mib(idleAfter):0} MiB after");
    Console.WriteLine("| analyses at once | peak RSS median MiB | min-max MiB | peak / raw volume | (peak - idle) / raw volumes analysed |");
    Console.WriteLine("|---|---|---|---|---|");
    Console.WriteLine($"| 1 | {Mib(Median(one)):0} | {Mib(one.Min()):0}-{Mib(one.Max()):0} | {Median(one) / raw:0.0}x | {(Median(one) - idle) / raw:0.0}x |");
    Console.WriteLine($"| 2 | {Mib(Median(two)):0} | {Mib(two.Min()):0}-{Mib(two.Max()):0} | {Median(two) / raw:0.0}x | {(Median(two) - idle) / (2 * raw):0.0}x |");
    return 0;
}
catch (Exception e)
{
    Console.Error.WriteLine($"failed: {e.Message}\n{log}");
    return 1;
}
finally
{
    if (!node.HasExited) { node.Kill(); node.WaitForExit(10_000); TestData.RemoveDiagnosticsSocket(node.Id); }
    if (Environment.GetEnvironmentVariable("MEDAINODE_BENCH_NODE_LOG") is { Length: > 0 } nodeLog) lock (log) File.WriteAllText(nodeLog, log.ToString());
    try { Directory.Delete(work, true); } catch (IOException) { }
}

// Sends `studies` copies at once, waits until each is analysed (results delivered to the results folder), and returns
// the node's peak RSS (KiB) over the run.
async Task<long> Run(int studies, string label)
{
    var dirs = Enumerable.Range(0, studies).Select(_ => Copy()).ToList();
    File.WriteAllText($"/proc/{node.Id}/clear_refs", "5"); // resets VmHWM to the current RSS
    var sw = Stopwatch.StartNew();
    var senders = dirs.Select(d => Task.Run(() =>
    {
        var r = Tool.Run("storescu", ["-aec", "MEDAINODE", "-aet", "CT", "127.0.0.1", dicomPort.ToString(ci), "+sd", d.Dir]);
        if (r.ExitCode != 0) throw new InvalidOperationException($"storescu failed: {r.StdErr}");
    })).ToArray();
    await Task.WhenAll(senders);
    foreach (var d in dirs) await WaitFinished(d.Study);
    var peak = Status("VmHWM");
    Console.WriteLine($"{label}: {studies} {(studies == 1 ? "study" : "studies at once")}, {sw.Elapsed.TotalSeconds:0.0} s, peak RSS {peak / 1024.0:0} MiB");
    foreach (var d in dirs) Directory.Delete(d.Dir, true);
    return peak;
}

(string Dir, string Study) Copy()
{
    var dir = Path.Combine(work, "send-" + Guid.NewGuid().ToString("N"));
    Directory.CreateDirectory(dir);
    var study = DicomUidGenerator.Default.Generate();
    var seriesUid = DicomUidGenerator.Default.Generate();
    foreach (var f in sourceFiles)
    {
        var file = DicomFile.Open(f);
        file.Dataset.Set(DicomTags.StudyInstanceUID, study);
        file.Dataset.Set(DicomTags.SeriesInstanceUID, seriesUid);
        file.Dataset.Set(DicomTags.SOPInstanceUID, DicomUidGenerator.Default.Generate());
        file.Save(Path.Combine(dir, Path.GetFileName(f)));
    }
    return (dir, study);
}

long Status(string key)
{
    foreach (var line in File.ReadLines($"/proc/{node.Id}/status"))
        if (line.StartsWith(key + ":", StringComparison.Ordinal))
            return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], ci); // kB
    throw new InvalidOperationException($"{key} not in /proc/{node.Id}/status");
}

async Task WaitReady()
{
    var sw = Stopwatch.StartNew();
    while (sw.Elapsed < TimeSpan.FromMinutes(5))
    {
        if (node.HasExited) throw new InvalidOperationException("the node exited");
        try
        {
            if ((await http.GetAsync($"http://127.0.0.1:{httpPort}/health/ready")).IsSuccessStatusCode) return;
        }
        catch (HttpRequestException) { }
        await Task.Delay(250);
    }
    throw new TimeoutException("the node was not ready within 5 minutes");
}

async Task WaitFinished(string study)
{
    var sw = Stopwatch.StartNew();
    while (sw.Elapsed < TimeSpan.FromMinutes(20))
    {
        var list = JsonNode.Parse(await http.GetStringAsync($"http://127.0.0.1:{httpPort}/api/studies"))!.AsArray();
        var s = list.OfType<JsonObject>().FirstOrDefault(o => o["studyInstanceUid"]?.GetValue<string>() == study);
        var state = s?["state"]?.GetValue<string>();
        if (state is "Delivered" or "Analysed") return;
        if (state == "Failed") throw new InvalidOperationException($"study {study} failed: {s!["reason"]}");
        await Task.Delay(250);
    }
    throw new TimeoutException($"study {study} not analysed within 20 minutes");
}
