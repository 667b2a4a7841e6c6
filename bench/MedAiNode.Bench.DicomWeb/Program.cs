using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using MedAiNode.Dicom;
using MedAiNode.Dicom.IO;
using MedAiNode.DicomWeb;
using MedAiNode.DicomWeb.Configuration;
using MedAiNode.DicomWeb.Multipart;

// WADO-RS download throughput of one study: MedAiNode's client (parses the multipart stream and writes one file per
// instance) against curl fetching the same multipart response into one file, same Accept header, same Orthanc, same
// run, alternating so both see the same machine state.
//   dotnet run -c Release --project bench/MedAiNode.Bench.DicomWeb -- [--reps N] [--study-dir DIR] [--url URL --study UID]
var reps = 7;
var copies = 1;
string? url = null, study = null;
var studyDir = Path.Combine(FindRepoRoot(), "..", "shared", "data", "ct", "philips-phantom-5mm");
for (var i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--reps": reps = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
        case "--study-dir": studyDir = args[++i]; break;
        case "--copies": copies = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
        case "--url": url = args[++i]; break;
        case "--study": study = args[++i]; break;
        default: Console.Error.WriteLine($"unknown argument {args[i]}"); return 2;
    }
}

Process? orthanc = null;
var work = Path.Combine(Path.GetTempPath(), "medainode-bench-dicomweb-" + Environment.ProcessId);
Directory.CreateDirectory(work);
try
{
    if (url is null)
    {
        (orthanc, url) = StartOrthanc(work);
        using var rest = new HttpClient();
        // --copies K: the series K times in the one study (new series and SOP UIDs), for a bigger download.
        for (var k = 0; k < copies; k++)
        {
            var series = DicomUidGenerator.Default.Generate();
            foreach (var f in Directory.GetFiles(studyDir, "*.dcm"))
            {
                byte[] bytes;
                if (k == 0) bytes = File.ReadAllBytes(f);
                else
                {
                    var dcm = DicomFile.Open(f);
                    dcm.Dataset.Set(DicomTags.SeriesInstanceUID, series);
                    dcm.Dataset.Set(DicomTags.SOPInstanceUID, DicomUidGenerator.Default.Generate());
                    bytes = dcm.ToBytes();
                }
                using var c = new ByteArrayContent(bytes);
                (await rest.PostAsync(url.Replace("/dicom-web", "/instances"), c)).EnsureSuccessStatusCode();
                study ??= DicomFile.Open(f, new DicomReadOptions { StopBeforePixelData = true }).Dataset.GetString(DicomTags.StudyInstanceUID);
            }
        }
    }
    if (study is null) { Console.Error.WriteLine("--study is required with --url"); return 2; }

    var accept = DicomWebMediaTypes.MultipartDicomAccept(DicomUids.ExplicitVRLittleEndian);
    var options = new DicomWebPacsOptions { Name = "bench", BaseUrl = url, MaxRetries = 0 };
    using var client = new StandaloneDicomWebClient(options);
    var studyUrl = $"{url}/studies/{study}";
    var ours = new List<(double Seconds, long Bytes)>();
    var curl = new List<(double Seconds, long Bytes)>();
    const int warmup = 3;
    var allocs = new List<long>();
    for (var r = -warmup; r < reps; r++) // negative r warms up both (JIT, Orthanc's file cache)
    {
        var outDir = Path.Combine(work, "ours-" + r);
        var alloc0 = GC.GetTotalAllocatedBytes(precise: true);
        var sw = Stopwatch.StartNew();
        var res = await client.Client.RetrieveStudyAsync(study, outDir);
        sw.Stop();
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - alloc0;
        var ourBytes = res.Instances.Sum(i => i.Bytes);
        Directory.Delete(outDir, true);

        var curlOut = Path.Combine(work, "curl-" + r + ".multipart");
        var psi = new ProcessStartInfo("curl", ["-s", "-S", "-f", "-H", "Accept: " + accept, "-o", curlOut, "-w", "%{time_total}", studyUrl]) { UseShellExecute = false, RedirectStandardOutput = true };
        psi.Environment["TCP_NODELAY"] = "1";
        // curl's own time_total (request to last byte), so its process start-up is not counted against it.
        double curlSeconds;
        using (var p = Process.Start(psi)!)
        {
            var text = await p.StandardOutput.ReadToEndAsync();
            await p.WaitForExitAsync();
            if (p.ExitCode != 0) throw new InvalidOperationException($"curl exited {p.ExitCode}");
            curlSeconds = double.Parse(text.Trim(), CultureInfo.InvariantCulture);
        }
        var curlBytes = new FileInfo(curlOut).Length;
        File.Delete(curlOut);
        if (r < 0) continue;
        ours.Add((sw.Elapsed.TotalSeconds, ourBytes));
        allocs.Add(allocated);
        curl.Add((curlSeconds, curlBytes));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"rep {r + 1}: medainode {res.Instances.Count} files {ourBytes / 1e6:F1} MB in {sw.Elapsed.TotalMilliseconds:F0} ms ({ourBytes / 1e6 / sw.Elapsed.TotalSeconds:F0} MB/s); " +
            $"curl {curlBytes / 1e6:F1} MB in {curlSeconds * 1000:F0} ms ({curlBytes / 1e6 / curlSeconds:F0} MB/s)"));
    }
    double Median(IEnumerable<double> xs) { var a = xs.Order().ToArray(); return a.Length % 2 == 1 ? a[a.Length / 2] : (a[a.Length / 2 - 1] + a[a.Length / 2]) / 2; }
    var oursMBs = Median(ours.Select(o => o.Bytes / 1e6 / o.Seconds));
    var curlMBs = Median(curl.Select(o => o.Bytes / 1e6 / o.Seconds));
    var ratio = Median(ours.Zip(curl, (o, c) => c.Seconds / o.Seconds));
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"median over {reps} reps: medainode {oursMBs:F0} MB/s (DICOM payload, one file per instance), curl {curlMBs:F0} MB/s (raw multipart, one file); " +
        $"throughput ratio medainode/curl (median of per-rep time ratios) {ratio:F2}; managed allocation per study retrieve {Median(allocs.Select(a => (double)a)) / 1e6:F1} MB for {ours[0].Bytes / 1e6:F1} MB downloaded"));
    return 0;
}
finally
{
    if (orthanc is { HasExited: false }) { orthanc.Kill(true); orthanc.WaitForExit(5000); }
    try { Directory.Delete(work, true); } catch (IOException) { }
}

static (Process, string) StartOrthanc(string work)
{
    int Free() { var l = new TcpListener(System.Net.IPAddress.Loopback, 0); l.Start(); var p = ((System.Net.IPEndPoint)l.LocalEndpoint).Port; l.Stop(); return p; }
    var http = Free();
    var db = Path.Combine(work, "db");
    Directory.CreateDirectory(db);
    var config = new JsonObject
    {
        ["Name"] = "BENCH", ["StorageDirectory"] = db, ["IndexDirectory"] = db, ["HttpPort"] = http, ["DicomPort"] = Free(),
        ["RemoteAccessAllowed"] = false, ["AuthenticationEnabled"] = false, ["HttpCompressionEnabled"] = false,
        ["Plugins"] = new JsonArray("/usr/share/orthanc/plugins/libOrthancDicomWeb.so"),
        ["DicomWeb"] = new JsonObject { ["Enable"] = true, ["Root"] = "/dicom-web/" },
    };
    var path = Path.Combine(work, "orthanc.json");
    File.WriteAllText(path, config.ToJsonString());
    var psi = new ProcessStartInfo("/usr/sbin/Orthanc", [path]) { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
    psi.Environment["TCP_NODELAY"] = "1";
    var p = Process.Start(psi)!;
    p.BeginErrorReadLine();
    p.BeginOutputReadLine();
    using var probe = new HttpClient();
    for (var i = 0; i < 300; i++)
    {
        try { if (probe.GetAsync($"http://localhost:{http}/system").Result.IsSuccessStatusCode) return (p, $"http://localhost:{http}/dicom-web"); }
        catch (AggregateException) { }
        Thread.Sleep(100);
    }
    throw new TimeoutException("Orthanc did not start");
}

static string FindRepoRoot()
{
    var dir = new DirectoryInfo(AppContext.BaseDirectory);
    while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "MedAiNode.sln"))) dir = dir.Parent;
    return dir?.FullName ?? Directory.GetCurrentDirectory();
}
