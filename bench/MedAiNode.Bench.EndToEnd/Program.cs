using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using MedAiNode.Dicom;
using MedAiNode.Dicom.IO;
using MedAiNode.Imaging.Geometry;
using MedAiNode.Imaging.Nifti;
using MedAiNode.Imaging.Resampling;
using MedAiNode.Imaging.Volumes;
using MedAiNode.Testing;

// The whole path, as in a hospital: a real Orthanc pushes a real chest CT (LIDC-IDRI-0001, 133 slices 512x512, from
// ../shared/data; --series DIR for another, --generated for the 300-slice series made from the abdomen) over C-STORE to a medainode worker
// process (`medainode serve`, Release build, default model ct-lung-quant), which analyses it and stores SEG + SR back
// into Orthanc with STOW-RS. Timed from the start of Orthanc's push (REST POST /modalities/<worker>/store) until QIDO-RS
// on Orthanc lists both a SEG and an SR in the study, minus the worker's configured quiet period. Per-stage times come
// from the worker's Prometheus /metrics (deltas of medainode_stage_duration_seconds_sum between scrapes).
// One warm-up study, then N timed ones, each a new study (new UIDs, same pixels).
//   flock /tmp/medainode-build.lock dotnet build -c Release src/MedAiNode.Worker
//   flock /tmp/medainode-build.lock dotnet build -c Release bench/MedAiNode.Bench.EndToEnd
//   dotnet bench/MedAiNode.Bench.EndToEnd/bin/Release/net10.0/MedAiNode.Bench.EndToEnd.dll [--runs N] [--out FILE]
//     [--quiet SECONDS] [--completion-poll SECONDS] [--qido-interval MS] [--worker PATH/medainode.dll] [--slices N]
//     [--explicit-models] [--qido series|instances] [--series-only DIR] [--series DIR | --generated]
// The worker runs its default model (ct-lung-quant, shipped beside the binary) with no Models:* flags: binding
// --Models:Enabled:0=ct-lung-quant appends to the default list instead of replacing it, so the worker would run the
// model twice per study. --explicit-models passes Models:Enabled:0 and Models:SearchPaths:0 anyway (shows that).
// --series-only DIR writes the generated series to DIR and exits (to check it with dciodvfy or pydicom).
var ci = CultureInfo.InvariantCulture;
var runs = 5;
string? outFile = null, seriesOnly = null, workerDll = null;
var quiet = 1.0;
var completionPoll = 0.2;
var qidoIntervalMs = 100;
var qidoLevel = "series";
var explicitModels = false;
var generated = false;
string? realSeries = null;
var slices = 300;
const int size = 512;
for (var i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--runs": runs = int.Parse(args[++i], ci); break;
        case "--out": outFile = args[++i]; break;
        case "--quiet": quiet = double.Parse(args[++i], ci); break;
        case "--completion-poll": completionPoll = double.Parse(args[++i], ci); break;
        case "--qido-interval": qidoIntervalMs = int.Parse(args[++i], ci); break;
        case "--qido": qidoLevel = args[++i]; break;
        case "--explicit-models": explicitModels = true; break;
        case "--worker": workerDll = args[++i]; break;
        case "--slices": slices = int.Parse(args[++i], ci); break;
        case "--series-only": seriesOnly = args[++i]; break;
        case "--series": realSeries = args[++i]; break;
        case "--generated": generated = true; break;
        default: Console.Error.WriteLine($"unknown argument {args[i]}"); return 2;
    }
}
if (runs < 1) { Console.Error.WriteLine("--runs must be at least 1"); return 2; }
if (qidoLevel is not ("series" or "instances")) { Console.Error.WriteLine("--qido is series or instances"); return 2; }

var repo = TestData.RepoRoot;
var nifti = TestData.Path_("nifti", "example_ct.nii.gz");
workerDll ??= Path.Combine(repo, "src", "MedAiNode.Worker", "bin", "Release", "net10.0", "medainode.dll");

if (seriesOnly is not null)
{
    Directory.CreateDirectory(seriesOnly);
    var info = SeriesGenerator.Write(nifti, seriesOnly, slices, size);
    Console.WriteLine(info);
    return 0;
}
if (!File.Exists(workerDll))
{
    Console.Error.WriteLine($"{workerDll} not found: flock /tmp/medainode-build.lock dotnet build -c Release src/MedAiNode.Worker");
    return 2;
}

var work = Path.Combine(Path.GetTempPath(), "medainode-bench-e2e-" + Environment.ProcessId);
var seriesDir = Path.Combine(work, "series");
Directory.CreateDirectory(seriesDir);
void Say(string line) { Console.WriteLine(line); }
Process? worker = null;
var workerLog = new StringBuilder();
OrthancServer? orthanc = null;
try
{
    var genClock = Stopwatch.StartNew();
    realSeries ??= generated ? null : TestData.Path_("ct", "lidc-idri-0001-chest");
    string seriesInfo;
    if (realSeries is null) seriesInfo = SeriesGenerator.Write(nifti, seriesDir, slices, size);
    else
    {
        foreach (var f in Directory.GetFiles(realSeries, "*.dcm")) File.Copy(f, Path.Combine(seriesDir, Path.GetFileName(f)));
        seriesInfo = $"real series {realSeries}";
    }
    var files = Directory.GetFiles(seriesDir, "*.dcm").Order(StringComparer.Ordinal).ToArray();
    var seriesBytes = files.Sum(f => new FileInfo(f).Length);
    Say($"Series: {seriesInfo}; {files.Length} files, {seriesBytes / 1e6:0.0} MB, generated in {genClock.Elapsed.TotalSeconds:0.0} s");

    orthanc = new OrthancServer();
    var orthancVersion = (await orthanc.GetJsonAsync("/system"))["Version"]?.GetValue<string>() ?? "?";
    var pluginVersion = (await orthanc.GetJsonAsync("/plugins/dicom-web"))["Version"]?.GetValue<string>() ?? "?";

    // The worker, as an operator runs it: its own store, loopback ports, results back to this Orthanc by STOW-RS.
    var dicomPort = FreePort();
    var httpPort = FreePort();
    var workerUrl = $"http://127.0.0.1:{httpPort}";
    var storeRoot = Path.Combine(work, "store");
    Directory.CreateDirectory(storeRoot);
    string[] workerArgs =
    [
        workerDll, "serve",
        $"--Store:Root={storeRoot}", $"--Dicom:Port={dicomPort}", "--Dicom:BindAddress=127.0.0.1", $"--Http:Urls={workerUrl}",
        $"--Store:QuietPeriod={TimeSpan.FromSeconds(quiet):c}", $"--Jobs:CompletionPollInterval={TimeSpan.FromSeconds(completionPoll):c}",
        "--DicomWeb:Pacs:0:Name=orthanc", $"--DicomWeb:Pacs:0:BaseUrl={orthanc.DicomWebUrl}", "--Export:StowTo:0=orthanc",
        .. explicitModels ? new[] { "--Models:Enabled:0=ct-lung-quant", $"--Models:SearchPaths:0={Path.Combine(repo, "models")}" } : [],
    ];
    var psi = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = work };
    foreach (var a in workerArgs) psi.ArgumentList.Add(a);
    psi.Environment["TCP_NODELAY"] = "1";
    var startClock = Stopwatch.StartNew();
    worker = Process.Start(psi)!;
    worker.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (workerLog) workerLog.AppendLine(e.Data); };
    worker.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (workerLog) workerLog.AppendLine(e.Data); };
    worker.BeginOutputReadLine();
    worker.BeginErrorReadLine();
    using var http = new HttpClient { Timeout = TimeSpan.FromMinutes(5) };
    while (true)
    {
        if (worker.HasExited) throw new InvalidOperationException($"worker exited with {worker.ExitCode}: {Tail(workerLog)}");
        if (startClock.Elapsed > TimeSpan.FromSeconds(120)) throw new TimeoutException("worker not ready in 120 s: " + Tail(workerLog));
        try
        {
            using var r = await http.GetAsync(workerUrl + "/health/ready");
            if (r.IsSuccessStatusCode) break;
        }
        catch (HttpRequestException) { }
        await Task.Delay(200);
    }
    Say($"Worker ready in {startClock.Elapsed.TotalSeconds:0.0} s (model loaded and warmed up); Orthanc {orthancVersion}, DICOMweb plugin {pluginVersion}");

    // Orthanc learns where the worker listens; it pushes with C-STORE as a PACS routing rule would.
    var modality = new JsonObject { ["AET"] = "MEDAINODE", ["Host"] = "127.0.0.1", ["Port"] = dicomPort };
    using (var put = await http.PutAsync(orthanc.RestUrl + "/modalities/medainode", new StringContent(modality.ToJsonString())))
        put.EnsureSuccessStatusCode();

    var results = new List<RunResult>();
    var qidoProbe = new Dictionary<string, (double Latency, double Cpu)>();
    for (var r = 0; r <= runs; r++)
    {
        var label = r == 0 ? "warm-up" : $"run {r}";
        var (studyUid, orthancStudy) = await UploadNewStudy(files, orthanc, http);
        await Task.Delay(500); // let Orthanc's indexing settle before the clock starts
        var before = await Scrape(http, workerUrl);
        var load = File.ReadAllText("/proc/loadavg").Split(' ')[0];
        worker.Refresh();
        var workerCpu0 = worker.TotalProcessorTime;
        var orthancCpu0 = orthanc.CpuTime();

        var t0Abs = DateTimeOffset.UtcNow;
        var clock = Stopwatch.StartNew();
        var store = new JsonObject { ["Resources"] = new JsonArray(orthancStudy), ["Synchronous"] = true };
        using (var push = await http.PostAsync(orthanc.RestUrl + "/modalities/medainode/store", new StringContent(store.ToJsonString())))
        {
            var body = await push.Content.ReadAsStringAsync();
            if (!push.IsSuccessStatusCode) throw new InvalidOperationException($"Orthanc push failed: {(int)push.StatusCode} {body}");
            var failed = JsonNode.Parse(body)?["FailedInstancesCount"]?.GetValue<int>() ?? 0;
            if (failed != 0) throw new InvalidOperationException($"Orthanc could not send {failed} instances: {body}");
        }
        var pushSeconds = clock.Elapsed.TotalSeconds;

        // QIDO-RS on Orthanc until the study holds a SEG and an SR.
        var qidoTimes = new List<double>();
        double doneSeconds;
        while (true)
        {
            var q0 = clock.Elapsed.TotalSeconds;
            var modalities = await StudyModalities(http, orthanc.DicomWebUrl, studyUid, qidoLevel);
            var q1 = clock.Elapsed.TotalSeconds;
            qidoTimes.Add(q1 - q0);
            if (modalities.Contains("SEG") && modalities.Contains("SR")) { doneSeconds = q1; break; }
            if (clock.Elapsed > TimeSpan.FromMinutes(5)) throw new TimeoutException($"no SEG + SR in Orthanc after 5 min; worker: {await StudyState(http, workerUrl, studyUid)}\n{Tail(workerLog)}");
            if (worker.HasExited) throw new InvalidOperationException("worker exited: " + Tail(workerLog));
            var study = await StudyRecordOrNull(http, workerUrl, studyUid);
            if (study?["state"]?.GetValue<string>() == "Failed") throw new InvalidOperationException($"worker failed the study: {study.ToJsonString()}");
            var wait = qidoIntervalMs / 1000.0 - (clock.Elapsed.TotalSeconds - q0);
            if (wait > 0) await Task.Delay(TimeSpan.FromSeconds(wait));
        }

        // The delivery job records its stage time just before the study turns Delivered; wait for both, then scrape.
        JsonObject record;
        var settle = Stopwatch.StartNew();
        while (true)
        {
            record = await StudyRecordOrNull(http, workerUrl, studyUid) ?? throw new InvalidOperationException("study not in the worker's store");
            if (record["state"]?.GetValue<string>() == "Delivered") break;
            if (settle.Elapsed > TimeSpan.FromSeconds(60)) throw new TimeoutException($"study not Delivered: {record.ToJsonString()}");
            await Task.Delay(50);
        }
        Dictionary<string, (double Sum, long Count)> after;
        while (true)
        {
            after = await Scrape(http, workerUrl);
            var exported = after.GetValueOrDefault("export").Count - before.GetValueOrDefault("export").Count;
            if (exported >= 1 || settle.Elapsed > TimeSpan.FromSeconds(10)) break;
            await Task.Delay(100);
        }
        worker.Refresh();
        var workerCpu = (worker.TotalProcessorTime - workerCpu0).TotalSeconds;
        var orthancCpu = orthanc.CpuTime() - orthancCpu0;
        var stages = after.Keys.Union(before.Keys)
            .Select(k => (k, d: after.GetValueOrDefault(k).Sum - before.GetValueOrDefault(k).Sum, n: after.GetValueOrDefault(k).Count - before.GetValueOrDefault(k).Count))
            .Where(x => x.n > 0).ToList();
        var stageSums = stages.ToDictionary(x => x.k, x => x.d);
        var stageCounts = stages.ToDictionary(x => x.k, x => x.n);
        var first = (record["firstArrival"]!.GetValue<DateTimeOffset>() - t0Abs).TotalSeconds;
        var last = (record["lastArrival"]!.GetValue<DateTimeOffset>() - t0Abs).TotalSeconds;
        var instances = record["instanceCount"]!.GetValue<int>();
        if (instances != files.Length) throw new InvalidOperationException($"worker filed {instances} of {files.Length} instances");
        var res = new RunResult(label, doneSeconds - quiet, doneSeconds, pushSeconds, first, last, doneSeconds - last - quiet, stageSums, stageCounts,
            qidoTimes.Order().ElementAt(qidoTimes.Count / 2), qidoTimes.Count, load, workerCpu, orthancCpu);
        Say(res.Line());
        if (r > 0) results.Add(res);
        if (r == runs)
        {
            // What one QIDO poll costs Orthanc on this study (302 instances in 3 series), each level, outside the timed path.
            foreach (var level in new[] { "instances", "series" })
            {
                var cpu0 = orthanc.CpuTime();
                var lat = new List<double>();
                for (var q = 0; q < 10; q++)
                {
                    var q0 = Stopwatch.GetTimestamp();
                    await StudyModalities(http, orthanc.DicomWebUrl, studyUid, level);
                    lat.Add(Stopwatch.GetElapsedTime(q0).TotalSeconds);
                }
                qidoProbe[level] = (Median(lat.ToArray()), (orthanc.CpuTime() - cpu0) / 10);
            }
        }

        using (var del = await http.DeleteAsync($"{orthanc.RestUrl}/studies/{orthancStudy}")) del.EnsureSuccessStatusCode();
    }

    var loadEnd = File.ReadAllText("/proc/loadavg").Trim();
    var md = Report(results, new ReportContext(
        explicitModels ? "--Models:Enabled:0=ct-lung-quant --Models:SearchPaths:0=<repo>/models" : "default (ct-lung-quant beside the binary, no Models flags)",
        files.Length, seriesBytes / 1e6, quiet, completionPoll, qidoIntervalMs, qidoLevel, qidoProbe, Environment.ProcessorCount,
        RuntimeInformation.FrameworkDescription, orthancVersion, pluginVersion, loadEnd, DateTimeOffset.UtcNow));
    Console.WriteLine();
    Console.WriteLine(md);
    if (outFile is not null) File.WriteAllText(outFile, md);
    return 0;
}
catch (Exception e)
{
    Console.Error.WriteLine($"benchmark failed: {e.Message}");
    Console.Error.WriteLine("worker log tail:\n" + Tail(workerLog));
    if (orthanc is not null) Console.Error.WriteLine("orthanc log tail:\n" + orthanc.Tail());
    return 1;
}
finally
{
    if (worker is { HasExited: false }) { worker.Kill(entireProcessTree: true); worker.WaitForExit(10_000); }
    worker?.Dispose();
    orthanc?.Dispose();
    try { Directory.Delete(work, true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
}

static string Tail(StringBuilder sb)
{
    lock (sb)
    {
        var s = sb.ToString();
        return s.Length > 4000 ? s[^4000..] : s;
    }
}

static int FreePort() => MedAiNode.Testing.TestData.FreePort();

// A new study from the generated series (new Study / Series / Frame of Reference / SOP UIDs, same pixels), stored in
// Orthanc through its REST API before the clock starts. Returns the Study Instance UID and Orthanc's study id.
static async Task<(string StudyUid, string OrthancId)> UploadNewStudy(string[] files, OrthancServer orthanc, HttpClient http)
{
    var gen = DicomUidGenerator.Default;
    var study = gen.Generate();
    var series = gen.Generate();
    var frame = gen.Generate();
    var accession = "E2E" + DateTime.UtcNow.ToString("HHmmssfff", CultureInfo.InvariantCulture);
    string? orthancStudy = null;
    await Parallel.ForEachAsync(files, new ParallelOptions { MaxDegreeOfParallelism = 4 }, async (path, ct) =>
    {
        var f = DicomFile.Open(path);
        f.Dataset.Set(DicomTags.StudyInstanceUID, study);
        f.Dataset.Set(DicomTags.SeriesInstanceUID, series);
        f.Dataset.Set(DicomTags.FrameOfReferenceUID, frame);
        f.Dataset.Set(DicomTags.SOPInstanceUID, gen.Generate());
        f.Dataset.Set(DicomTags.AccessionNumber, accession);
        using var content = new ByteArrayContent(f.ToBytes());
        using var r = await http.PostAsync(orthanc.RestUrl + "/instances", content, ct);
        var body = await r.Content.ReadAsStringAsync(ct);
        if (!r.IsSuccessStatusCode) throw new InvalidOperationException($"Orthanc refused {path}: {(int)r.StatusCode} {body}");
        orthancStudy ??= JsonNode.Parse(body)!["ParentStudy"]!.GetValue<string>();
    });
    return (study, orthancStudy!);
}

// QIDO-RS for the modalities in a study: per instance (what a viewer asks) or per series (3 rows instead of 302).
static async Task<HashSet<string>> StudyModalities(HttpClient http, string dicomWeb, string studyUid, string level)
{
    using var req = new HttpRequestMessage(HttpMethod.Get, $"{dicomWeb}/studies/{studyUid}/{level}?includefield=00080060");
    req.Headers.Accept.ParseAdd("application/dicom+json");
    using var r = await http.SendAsync(req);
    var set = new HashSet<string>(StringComparer.Ordinal);
    if (r.StatusCode == HttpStatusCode.NoContent || r.StatusCode == HttpStatusCode.NotFound) return set;
    r.EnsureSuccessStatusCode();
    var body = await r.Content.ReadAsStringAsync();
    if (string.IsNullOrWhiteSpace(body)) return set;
    foreach (var item in JsonNode.Parse(body)!.AsArray())
        if (item?["00080060"]?["Value"]?[0]?.GetValue<string>() is { } m) set.Add(m);
    return set;
}

static async Task<JsonObject?> StudyRecordOrNull(HttpClient http, string workerUrl, string studyUid)
{
    var list = JsonNode.Parse(await http.GetStringAsync(workerUrl + "/api/studies"))!.AsArray();
    return list.OfType<JsonObject>().FirstOrDefault(o => o["studyInstanceUid"]?.GetValue<string>() == studyUid);
}

static async Task<string> StudyState(HttpClient http, string workerUrl, string studyUid) =>
    (await StudyRecordOrNull(http, workerUrl, studyUid))?.ToJsonString() ?? "(not in the worker's store)";

// medainode_stage_duration_seconds_{sum,count}{...,stage="x",...} value [timestamp], per stage.
static async Task<Dictionary<string, (double Sum, long Count)>> Scrape(HttpClient http, string workerUrl)
{
    var text = await http.GetStringAsync(workerUrl + "/metrics");
    var result = new Dictionary<string, (double Sum, long Count)>(StringComparer.Ordinal);
    foreach (Match m in Metrics.Line().Matches(text))
    {
        var stage = Metrics.Stage().Match(m.Groups["labels"].Value);
        if (!stage.Success) continue;
        var name = stage.Groups[1].Value;
        var value = double.Parse(m.Groups["value"].Value, CultureInfo.InvariantCulture);
        var cur = result.GetValueOrDefault(name);
        result[name] = m.Groups["kind"].Value == "sum" ? (cur.Sum + value, cur.Count) : (cur.Sum, cur.Count + (long)value);
    }
    return result;
}

static string Report(List<RunResult> runs, ReportContext c)
{
    var ci = CultureInfo.InvariantCulture;
    string[] known = ["receive", "queue", "select", "assemble", "inference", "preprocess", "model", "postprocess", "measure", "results", "analysis", "export"];
    var stageNames = runs.SelectMany(r => r.Stages.Keys).Distinct()
        .OrderBy(s => Array.IndexOf(known, s) is var i && i >= 0 ? i : known.Length).ThenBy(s => s, StringComparer.Ordinal).ToList();
    var sb = new StringBuilder();
    sb.AppendLine(ci, $"## End-to-end: Orthanc C-STORE push to SEG + SR stored back in Orthanc (ct-lung-quant), {runs.Count} runs after 1 warm-up");
    sb.AppendLine();
    sb.AppendLine(ci, $"Worker models: {c.Models}; {c.Instances} instances ({c.MegaBytes:0.0} MB), quiet period {c.Quiet:0.###} s (subtracted), completion poll {c.CompletionPoll:0.###} s, QIDO poll (`/studies/<uid>/{c.QidoLevel}?includefield=00080060`) every {c.QidoMs} ms; " +
        $"{c.Cores} cores, {c.Runtime}, Orthanc {c.Orthanc} + DICOMweb {c.Plugin}; load average at the end {c.LoadEnd}; {c.When:yyyy-MM-dd HH:mm} UTC");
    sb.AppendLine();
    var cols = new List<(string Head, Func<RunResult, double?> Get)>
    {
        ("total excl. quiet s", r => r.Total),
        ("push (Orthanc POST) s", r => r.Push),
        ("last arrival to results, excl. quiet s", r => r.AfterLastArrival),
        ("total minus model s", r => r.Stages.TryGetValue("model", out var m) ? r.Total - m : null),
        // Completion poll, job pick-up, delivery enqueue and the QIDO poll's own granularity: time in no stage.
        ("between stages s", r => r.Stages.TryGetValue("analysis", out var a) && r.Stages.TryGetValue("export", out var e) ? r.AfterLastArrival - a - e : null),
    };
    foreach (var s in stageNames) cols.Add(($"{s} s", r => r.Stages.TryGetValue(s, out var v) ? v : null));
    cols.Add(("model runs", r => r.StageCounts.GetValueOrDefault("model")));
    cols.Add(("worker CPU s", r => r.WorkerCpu));
    cols.Add(("Orthanc CPU s", r => r.OrthancCpu));
    sb.AppendLine("| run | " + string.Join(" | ", cols.Select(x => x.Head)) + " | load (1 min) |");
    sb.AppendLine("|---|" + string.Concat(cols.Select(_ => "---:|")) + "---:|");
    string F(double? v, string format = "0.000") => v is { } d ? d.ToString(format, ci) : "";
    foreach (var r in runs)
        sb.AppendLine($"| {r.Label} | " + string.Join(" | ", cols.Select(x => F(x.Get(r), x.Head == "model runs" ? "0" : "0.000"))) + $" | {r.Load} |");
    foreach (var (name, agg) in new (string, Func<double[], double>)[] { ("**median**", Median), ("min", a => a.Min()), ("max", a => a.Max()) })
        sb.AppendLine($"| {name} | " + string.Join(" | ", cols.Select(x =>
        {
            var vals = runs.Select(x.Get).OfType<double>().ToArray();
            return vals.Length == 0 ? "" : F(agg(vals), x.Head == "model runs" ? "0.#" : "0.000");
        })) + " | |");
    sb.AppendLine();
    if (runs.Any(r => r.StageCounts.GetValueOrDefault("model") > 1))
        sb.AppendLine("**Warning:** the worker ran the model more than once per study (see `model runs`); stage times are the sums over those runs.").AppendLine();
    var total = Median(runs.Select(r => r.Total).ToArray());
    var model = runs.All(r => r.Stages.ContainsKey("model")) ? Median(runs.Select(r => r.Total - r.Stages["model"]).ToArray()) : (double?)null;
    sb.AppendLine(ci, $"Goal 1, whole path under 15 s: median {total:0.00} s (max {runs.Max(r => r.Total):0.00} s): **{(runs.Max(r => r.Total) < 15 ? "met" : total < 15 ? "met by the median, not by every run" : "not met")}**.");
    if (model is { } m)
        sb.AppendLine(ci, $"Goal 2, everything but the model's own run under 3 s: median {m:0.00} s (max {runs.Max(r => r.Total - r.Stages["model"]):0.00} s): **{(runs.Max(r => r.Total - r.Stages["model"]) < 3 ? "met" : m < 3 ? "met by the median, not by every run" : "not met")}**.");
    else sb.AppendLine("Goal 2: the worker reported no `model` stage, so the model's own run cannot be separated.");
    sb.AppendLine();
    sb.AppendLine(ci, $"Other per-run facts (median): first instance at the worker {Median(runs.Select(r => r.FirstArrival).ToArray()):0.000} s after the push started, " +
        $"last at {Median(runs.Select(r => r.LastArrival).ToArray()):0.000} s; QIDO round trip {Median(runs.Select(r => r.QidoMedian).ToArray()) * 1000:0} ms; " +
        $"QIDO polls per run {Median(runs.Select(r => (double)r.Polls).ToArray()):0}.");
    foreach (var (level, (lat, cpu)) in c.QidoProbe)
        sb.AppendLine(ci, $"One QIDO `/studies/<uid>/{level}` on the last study once SEG and SR were in (302 instances, 3 series): {lat * 1000:0} ms round trip, {cpu * 1000:0} ms of Orthanc CPU (median / mean of 10).");
    return sb.ToString();
}

static double Median(double[] a)
{
    var s = a.Order().ToArray();
    return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
}

/// <summary>One study through the whole path. Seconds are from the start of Orthanc's push.</summary>
sealed record RunResult(string Label, double Total, double Wall, double Push, double FirstArrival, double LastArrival, double AfterLastArrival,
    Dictionary<string, double> Stages, Dictionary<string, long> StageCounts, double QidoMedian, int Polls, string Load, double WorkerCpu, double OrthancCpu)
{
    public string Line() => string.Create(CultureInfo.InvariantCulture,
        $"{Label}: {Total:0.000} s excl. quiet ({Wall:0.000} s wall); push {Push:0.000} s; arrivals {FirstArrival:0.000}..{LastArrival:0.000} s; " +
        $"last arrival to results {AfterLastArrival:0.000} s excl. quiet; {string.Join(", ", Stages.Select(s => FormattableString.Invariant($"{s.Key} {s.Value:0.000}")))}" +
        $"; model runs {StageCounts.GetValueOrDefault("model")}; worker CPU {WorkerCpu:0.00} s, Orthanc CPU {OrthancCpu:0.00} s; {Polls} QIDO polls; load {Load}");
}

sealed record ReportContext(string Models, int Instances, double MegaBytes, double Quiet, double CompletionPoll, int QidoMs, string QidoLevel,
    Dictionary<string, (double Latency, double Cpu)> QidoProbe, int Cores, string Runtime,
    string Orthanc, string Plugin, string LoadEnd, DateTimeOffset When);

static partial class Metrics
{
    [GeneratedRegex(@"^medainode_stage_duration_seconds_(?<kind>sum|count)\{(?<labels>[^}]*)\}\s+(?<value>\S+)", RegexOptions.Multiline)]
    public static partial Regex Line();

    [GeneratedRegex("(?:^|,)stage=\"([^\"]*)\"")]
    public static partial Regex Stage();
}

static class OrthancCpu
{
    /// <summary>CPU time (user + system) of the Orthanc process started on this fixture's config file, from /proc, in seconds.</summary>
    public static double CpuTime(this OrthancServer orthanc)
    {
        var config = Path.Combine(orthanc.Dir, "orthanc.json");
        var pid = Directory.EnumerateDirectories("/proc").Select(Path.GetFileName).Where(n => n!.All(char.IsAsciiDigit)).FirstOrDefault(n =>
        {
            try { return File.ReadAllText($"/proc/{n}/cmdline").Contains(config, StringComparison.Ordinal); }
            catch (IOException) { return false; }
            catch (UnauthorizedAccessException) { return false; }
        });
        if (pid is null) return 0;
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        // fields[0] is the state (field 3); utime and stime are fields 14 and 15.
        return (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) / 100.0;
    }
}

/// <summary>
/// The test series: the real CT ../shared/data/nifti/example_ct.nii.gz (abdomen and pelvis, 3 mm voxels, HU) resampled
/// trilinearly onto 512x512 axial slices of 0.75 mm pixels and 1 mm spacing (a 384 mm field of view centred on the
/// scan; air, -1024 HU, outside it), written as CT Image Storage, Explicit VR Little Endian, signed 16-bit HU
/// (slope 1, intercept 0). Labelled CHEST so ct-lung-quant's series rule accepts it: the shared data holds no chest CT.
/// </summary>
static class SeriesGenerator
{
    public const double PixelMm = 0.75;
    public const double SliceMm = 1.0;

    public static string Write(string niftiPath, string dir, int slices, int size)
    {
        var src = NiftiIO.Read(niftiPath);
        var d = src.Dims;
        Vec3 min = new(double.MaxValue, double.MaxValue, double.MaxValue), max = new(double.MinValue, double.MinValue, double.MinValue);
        foreach (var i in new[] { 0, d.X - 1 })
        foreach (var j in new[] { 0, d.Y - 1 })
        foreach (var k in new[] { 0, d.Z - 1 })
        {
            var p = src.IndexToPatient(i, j, k);
            min = new Vec3(Math.Min(min.X, p.X), Math.Min(min.Y, p.Y), Math.Min(min.Z, p.Z));
            max = new Vec3(Math.Max(max.X, p.X), Math.Max(max.Y, p.Y), Math.Max(max.Z, p.Z));
        }
        var centre = (min + max) / 2;
        var pixel = PixelMm * 512 / size;
        var x0 = centre.X - (size - 1) / 2.0 * pixel;
        var y0 = centre.Y - (size - 1) / 2.0 * pixel;
        // Head first supine, scanned head to feet: instance 1 is the most superior slice (largest z in LPS).
        var zTop = centre.Z + (slices - 1) / 2.0 * SliceMm;

        var gen = DicomUidGenerator.Default;
        var study = gen.Generate();
        var series = gen.Generate();
        var frame = gen.Generate();
        var now = DateTime.Now;
        var date = now.ToString("yyyyMMdd", CultureInfo.InvariantCulture);
        var time = now.ToString("HHmmss", CultureInfo.InvariantCulture);
        Parallel.For(0, slices, k =>
        {
            var z = zTop - k * SliceMm;
            var plane = new Affine(new Vec3(x0, y0, z), new Vec3(pixel, 0, 0), new Vec3(0, pixel, 0), new Vec3(0, 0, -SliceMm));
            var img = Resampler.Resample(src, new Dims(size, size, 1), plane, -1024f);
            var pixels = new short[size * size];
            for (var i = 0; i < pixels.Length; i++) pixels[i] = (short)Math.Clamp(MathF.Round(img.Data[i]), -1024f, 3071f);

            var ds = new DicomDataset();
            ds.Set(DicomTags.ImageType, "ORIGINAL", "PRIMARY", "AXIAL");
            ds.Set(DicomTags.SOPClassUID, DicomUids.CTImageStorage);
            ds.Set(DicomTags.SOPInstanceUID, gen.Generate());
            ds.Set(DicomTags.StudyDate, date);
            ds.Set(DicomTags.SeriesDate, date);
            ds.Set(DicomTags.ContentDate, date);
            ds.Set(DicomTags.StudyTime, time);
            ds.Set(DicomTags.SeriesTime, time);
            ds.Set(DicomTags.ContentTime, time);
            ds.Set(DicomTags.AccessionNumber, "E2E");
            ds.Set(DicomTags.Modality, "CT");
            ds.Set(DicomTags.Manufacturer, "MedAiNode benchmark");
            ds.SetEmpty(DicomTags.ReferringPhysicianName);
            ds.Set(DicomTags.StudyDescription, "CT CHEST (MedAiNode end-to-end benchmark)");
            ds.Set(DicomTags.SeriesDescription, "Abdomen CT resampled 512x512x" + slices.ToString(CultureInfo.InvariantCulture) + ", labelled CHEST");
            ds.Set(DicomTags.DerivationDescription, "Trilinear resampling of TotalSegmentator example_ct.nii.gz (abdomen, 3 mm); labelled CHEST for a benchmark");
            ds.Set(DicomTags.PatientName, "Benchmark^EndToEnd");
            ds.Set(DicomTags.PatientID, "MEDAINODE-BENCH");
            ds.SetEmpty(DicomTags.PatientBirthDate);
            ds.Set(DicomTags.PatientSex, "O");
            ds.Set(DicomTags.BodyPartExamined, "CHEST");
            ds.Set<double>(DicomTags.SliceThickness, DicomVR.DS, SliceMm);
            ds.Set<int>(DicomTags.KVP, DicomVR.DS, 120);
            ds.Set(DicomTags.PatientPosition, "HFS");
            ds.Set(DicomTags.StudyInstanceUID, study);
            ds.Set(DicomTags.SeriesInstanceUID, series);
            ds.Set(DicomTags.StudyID, "1");
            ds.Set<int>(DicomTags.SeriesNumber, DicomVR.IS, 2);
            ds.Set<int>(DicomTags.AcquisitionNumber, DicomVR.IS, 1);
            ds.Set<int>(DicomTags.InstanceNumber, DicomVR.IS, k + 1);
            ds.Set(DicomTags.ImagePositionPatient, DicomVR.DS, DicomDataset.FormatDecimal(Math.Round(x0, 4)), DicomDataset.FormatDecimal(Math.Round(y0, 4)), DicomDataset.FormatDecimal(Math.Round(z, 4)));
            ds.Set<int>(DicomTags.ImageOrientationPatient, DicomVR.DS, 1, 0, 0, 0, 1, 0);
            ds.Set(DicomTags.FrameOfReferenceUID, frame);
            ds.SetEmpty(DicomTags.PositionReferenceIndicator);
            ds.Set(DicomTags.SliceLocation, DicomVR.DS, DicomDataset.FormatDecimal(Math.Round(z, 4)));
            ds.Set<ushort>(DicomTags.SamplesPerPixel, DicomVR.US, 1);
            ds.Set(DicomTags.PhotometricInterpretation, "MONOCHROME2");
            ds.Set<ushort>(DicomTags.Rows, DicomVR.US, (ushort)size);
            ds.Set<ushort>(DicomTags.Columns, DicomVR.US, (ushort)size);
            ds.Set(DicomTags.PixelSpacing, DicomVR.DS, DicomDataset.FormatDecimal(pixel), DicomDataset.FormatDecimal(pixel));
            ds.Set<ushort>(DicomTags.BitsAllocated, DicomVR.US, 16);
            ds.Set<ushort>(DicomTags.BitsStored, DicomVR.US, 16);
            ds.Set<ushort>(DicomTags.HighBit, DicomVR.US, 15);
            ds.Set<ushort>(DicomTags.PixelRepresentation, DicomVR.US, 1);
            ds.Set<int>(DicomTags.WindowCenter, DicomVR.DS, -600, 40);
            ds.Set<int>(DicomTags.WindowWidth, DicomVR.DS, 1500, 400);
            ds.Set<int>(DicomTags.RescaleIntercept, DicomVR.DS, 0);
            ds.Set<int>(DicomTags.RescaleSlope, DicomVR.DS, 1);
            ds.Set(DicomTags.RescaleType, "HU");
            ds.SetBytes(DicomTags.PixelData, DicomVR.OW, MemoryMarshal.AsBytes(pixels.AsSpan()).ToArray());
            new DicomFile(ds, DicomTransferSyntax.ExplicitVRLittleEndian).Save(Path.Combine(dir, $"CT{k + 1:D4}.dcm"));
        });
        var (lo, hi) = src.Range();
        return string.Create(CultureInfo.InvariantCulture,
            $"{Path.GetFileName(niftiPath)} {d} at {src.Spacing} mm (HU {lo:0}..{hi:0}, extent {max.X - min.X + src.Spacing.X:0}x{max.Y - min.Y + src.Spacing.Y:0}x{max.Z - min.Z + src.Spacing.Z:0} mm) " +
            $"resampled trilinearly to {size}x{size}x{slices}, {pixel:0.###} mm pixels, {SliceMm:0.##} mm slices, labelled CHEST");
    }
}
