using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace MedAiNode.Testing;

/// <summary>
/// A real Orthanc with its DICOMweb plugin on loopback, storage in a temp dir. It can be killed (SIGKILL) and started
/// again on the same storage and ports, for fault tests. Started by hand, not as the Debian service.
/// </summary>
public sealed class OrthancServer : IDisposable
{
    private Process? _process;
    private readonly Func<HttpMessageHandler>? _restHandler;
    private readonly string? _basicAuth;

    private HttpClient NewRest()
    {
        var c = _restHandler is null ? new HttpClient() : new HttpClient(_restHandler());
        if (_basicAuth is not null)
            c.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Basic", Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(_basicAuth)));
        return c;
    }
    private readonly string _configPath;
    private readonly string _logPath;

    public OrthancServer(Action<JsonObject>? configure = null, string scheme = "http", Func<HttpMessageHandler>? restHandler = null, string? basicAuth = null)
    {
        _restHandler = restHandler;
        _basicAuth = basicAuth;
        Rest = NewRest();
        Dir = TestData.TempDir("orthanc");
        HttpPort = TestData.FreePort();
        DicomPort = TestData.FreePort();
        Scheme = scheme;
        var storage = Path.Combine(Dir, "db");
        Directory.CreateDirectory(storage);
        var config = new JsonObject
        {
            ["Name"] = "MEDAINODE-TEST",
            ["StorageDirectory"] = storage,
            ["IndexDirectory"] = storage,
            ["HttpPort"] = HttpPort,
            ["DicomPort"] = DicomPort,
            ["DicomAet"] = "ORTHANCTEST",
            ["RemoteAccessAllowed"] = false,
            ["AuthenticationEnabled"] = false,
            ["HttpCompressionEnabled"] = false,
            ["StorageCompression"] = false,
            ["Plugins"] = new JsonArray(PluginPath()),
            ["DicomWeb"] = new JsonObject { ["Enable"] = true, ["Root"] = "/dicom-web/", ["EnableWado"] = false },
        };
        configure?.Invoke(config);
        _configPath = Path.Combine(Dir, "orthanc.json");
        _logPath = Path.Combine(Dir, "orthanc.log");
        File.WriteAllText(_configPath, config.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        Start();
    }

    public string Dir { get; }
    public int HttpPort { get; }
    public int DicomPort { get; }
    public string Scheme { get; }
    public string RestUrl => $"{Scheme}://localhost:{HttpPort}";
    public string DicomWebUrl => $"{RestUrl}/dicom-web";
    public bool IsRunning => _process is { HasExited: false };

    /// <summary>A client for Orthanc's own REST API (uploads and counts), separate from the client under test.</summary>
    public HttpClient Rest { get; }

    public static string PluginPath()
    {
        string[] candidates =
        [
            "/usr/share/orthanc/plugins/libOrthancDicomWeb.so",
            .. Directory.Exists("/usr/lib/orthanc") ? Directory.GetFiles("/usr/lib/orthanc", "libOrthancDicomWeb.so*") : [],
        ];
        return candidates.FirstOrDefault(File.Exists)
               ?? throw new InvalidOperationException("Orthanc's DICOMweb plugin is not installed: apt-get install orthanc orthanc-dicomweb (scripts/test.sh does).");
    }

    public void Start()
    {
        if (IsRunning) throw new InvalidOperationException("Orthanc is already running.");
        var psi = new ProcessStartInfo(File.Exists("/usr/sbin/Orthanc") ? "/usr/sbin/Orthanc" : "Orthanc")
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Dir,
        };
        psi.ArgumentList.Add(_configPath);
        psi.Environment["TCP_NODELAY"] = "1";
        try
        {
            _process = Process.Start(psi)!;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException("Orthanc is not installed: apt-get install orthanc orthanc-dicomweb (scripts/test.sh does).", e);
        }
        var log = File.AppendText(_logPath);
        log.AutoFlush = true;
        _process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (log) log.WriteLine(e.Data); };
        _process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (log) log.WriteLine(e.Data); };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        WaitUntilUp();
    }

    private void WaitUntilUp()
    {
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < TimeSpan.FromSeconds(30))
        {
            if (_process!.HasExited)
                throw new InvalidOperationException($"Orthanc exited with {_process.ExitCode} at start; log: {Tail()}");
            try
            {
                using var r = Rest.GetAsync(RestUrl + "/system").GetAwaiter().GetResult();
                if (r.IsSuccessStatusCode) return;
            }
            catch (HttpRequestException) { }
            Thread.Sleep(100);
        }
        throw new TimeoutException("Orthanc did not answer within 30 s; log: " + Tail());
    }

    public string Tail()
    {
        try
        {
            using var fs = new FileStream(_logPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            using var sr = new StreamReader(fs);
            var text = sr.ReadToEnd();
            return text.Length > 3000 ? text[^3000..] : text;
        }
        catch (IOException) { return "(no log)"; }
    }

    /// <summary>Kills the process outright (no clean shutdown), as a crash or power loss would.</summary>
    public void Kill()
    {
        if (_process is null) return;
        try
        {
            if (!_process.HasExited) _process.Kill(entireProcessTree: true);
            _process.WaitForExit(10_000);
        }
        catch (InvalidOperationException) { }
        _process.Dispose();
        _process = null;
    }

    public async Task<string> UploadAsync(string path)
    {
        using var content = new ByteArrayContent(await File.ReadAllBytesAsync(path));
        using var r = await Rest.PostAsync(RestUrl + "/instances", content);
        var body = await r.Content.ReadAsStringAsync();
        if (!r.IsSuccessStatusCode) throw new InvalidOperationException($"Orthanc refused {path}: {(int)r.StatusCode} {body}");
        return JsonNode.Parse(body)!["ID"]!.GetValue<string>();
    }

    public async Task<JsonNode> GetJsonAsync(string path)
    {
        var body = await Rest.GetStringAsync(RestUrl + path);
        return JsonNode.Parse(body)!;
    }

    public async Task<int> CountInstancesAsync() => (await GetJsonAsync("/statistics"))["CountInstances"]!.GetValue<int>();

    /// <summary>Every stored SOP Instance UID, one entry per stored instance (duplicates would show twice).</summary>
    public async Task<List<string>> StoredSopInstanceUidsAsync()
    {
        var ids = (await GetJsonAsync("/instances")).AsArray().Select(n => n!.GetValue<string>()).ToList();
        var uids = new List<string>();
        foreach (var id in ids)
            uids.Add((await GetJsonAsync($"/instances/{id}/simplified-tags"))["SOPInstanceUID"]!.GetValue<string>());
        return uids;
    }

    public void Dispose()
    {
        Kill();
        Rest.Dispose();
        try { Directory.Delete(Dir, true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
