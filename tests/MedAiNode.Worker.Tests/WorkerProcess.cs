using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;

namespace MedAiNode.Worker.Tests;

/// <summary>A medainode service process with its own store, SCP port and HTTP port, as an operator would run it.</summary>
public sealed class WorkerProcess : IAsyncDisposable
{
    private Process? _process;
    private readonly List<string> _args;
    public readonly System.Text.StringBuilder Output = new();

    public WorkerProcess(string root, params string[] extraArgs) : this(root, storeRootArgument: true, extraArgs) { }

    /// <param name="root">The working directory, and Store:Root when <paramref name="storeRootArgument"/> is set.</param>
    /// <param name="storeRootArgument">False: no Store:Root is given, so the node picks its default data home (set
    /// <see cref="Environment"/> to say where that is).</param>
    public WorkerProcess(string root, bool storeRootArgument, params string[] extraArgs)
    {
        Root = root;
        DicomPort = FreePort();
        HttpPort = FreePort();
        _args =
        [
            Path.Combine(AppContext.BaseDirectory, "medainode.dll"), "serve",
            .. storeRootArgument ? [$"--Store:Root={root}"] : Array.Empty<string>(), $"--Dicom:Port={DicomPort}", "--Dicom:BindAddress=127.0.0.1",
            $"--Http:Urls=http://127.0.0.1:{HttpPort}", "--Store:QuietPeriod=00:00:01", "--Models:Enabled:0=ct-body",
            // A small intake journal: every test's store writes its journal in full once, and the test folders are kept.
            "--Store:JournalSizeMiB=16",
            $"--Models:SearchPaths:0={Path.Combine(TestData.RepoRoot, "models")}", .. extraArgs,
        ];
    }

    /// <summary>More configuration before start (e.g. a PACS URL known only once the PACS runs).</summary>
    public WorkerProcess With(params string[] args)
    {
        _args.AddRange(args);
        return this;
    }

    public string Root { get; }
    /// <summary>The running service's process id (for /proc checks).</summary>
    public int ProcessId => _process?.Id ?? throw new InvalidOperationException("not started");
    /// <summary>Environment variables set (a null value removes the variable) for the process.</summary>
    public Dictionary<string, string?> Environment { get; } = new();
    public int DicomPort { get; }
    public int HttpPort { get; }
    // A loaded machine can take many seconds to answer; callers wait on conditions with their own deadlines.
    public HttpClient Http { get; } = new() { Timeout = TimeSpan.FromSeconds(100) };

    public static int FreePort() => TestData.FreePort();

    private static readonly TimeSpan StartDeadline = TimeSpan.FromMinutes(3);

    public async Task StartAsync()
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = Root };
        foreach (var a in _args) psi.ArgumentList.Add(a);
        psi.Environment["TCP_NODELAY"] = "1";
        foreach (var (k, v) in Environment)
        {
            if (v is null) psi.Environment.Remove(k);
            else psi.Environment[k] = v;
        }
        _process = Process.Start(psi)!;
        _process.OutputDataReceived += (_, e) => { lock (Output) Output.AppendLine(e.Data); };
        _process.ErrorDataReceived += (_, e) => { lock (Output) Output.AppendLine(e.Data); };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        // Readiness, not a fixed wait: a node loading its models on a loaded machine can take well over 30 s.
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < StartDeadline)
        {
            if (_process.HasExited)
            {
                // Exited is not drained: the last lines (the reason it stopped) may still be on their way to Output.
                await _process.WaitForExitAsync();
                lock (Output) throw new InvalidOperationException("worker exited: " + Output);
            }
            try
            {
                var r = await Http.GetAsync($"http://127.0.0.1:{HttpPort}/health/ready");
                if (r.IsSuccessStatusCode) return;
            }
            catch (HttpRequestException) { }
            await Task.Delay(200);
        }
        throw new TimeoutException($"worker not ready in {StartDeadline.TotalSeconds:0} s: " + Output);
    }

    /// <summary>SIGKILL: no shutdown code runs, as in a crash or power loss.</summary>
    public void Kill()
    {
        if (_process is null) return;
        _process.Kill(entireProcessTree: true);
        _process.WaitForExit();
        TestData.RemoveDiagnosticsSocket(_process.Id);
    }

    /// <summary>SIGTERM, as systemd or an operator stops the service; returns the exit code and how long the exit took.</summary>
    public async Task<(int ExitCode, TimeSpan Took)> TerminateAsync(TimeSpan timeout)
    {
        var sw = Stopwatch.StartNew();
        var r = Tool.Run("kill", ["-TERM", _process!.Id.ToString()]);
        if (r.ExitCode != 0) throw new InvalidOperationException("kill -TERM failed: " + r.StdErr);
        using var cts = new CancellationTokenSource(timeout);
        await _process.WaitForExitAsync(cts.Token);
        return (_process.ExitCode, sw.Elapsed);
    }

    public bool HasExited => _process is { HasExited: true };

    public string Log
    {
        get { lock (Output) return Output.ToString(); }
    }

    /// <summary>Waits until the node's output holds <paramref name="text"/>; the output so far is in the failure.</summary>
    public async Task WaitForLogAsync(string text, TimeSpan timeout)
    {
        var sw = Stopwatch.StartNew();
        while (!Log.Contains(text, StringComparison.Ordinal))
        {
            if (sw.Elapsed > timeout || HasExited) throw new TimeoutException($"'{text}' not logged after {sw.Elapsed.TotalSeconds:0} s (exited: {HasExited})\n{Log}");
            await Task.Delay(100);
        }
    }

    /// <summary>/health/ready as JSON: overall status and each check's status and description.</summary>
    public async Task<JsonNode> ReadyAsync() =>
        JsonNode.Parse(await Http.GetStringAsync($"http://127.0.0.1:{HttpPort}/health/ready"))!;

    public async Task<JsonArray> StudiesAsync() =>
        JsonNode.Parse(await Http.GetStringAsync($"http://127.0.0.1:{HttpPort}/api/studies"))!.AsArray();

    /// <summary>
    /// Waits until a study matches. <paramref name="timeout"/> is how long the node may go without working before the
    /// wait gives up: a study that changes, or the node using at least a tenth of a core over 30 s, starts it again
    /// (a loaded 2-core machine ran BLAST-CT in serve for over 20 minutes while other analyses ran beside it), with
    /// three times <paramref name="timeout"/> as the limit overall.
    /// </summary>
    public async Task<JsonObject> WaitForStudyAsync(Func<JsonObject, bool> condition, TimeSpan timeout)
    {
        var total = Stopwatch.StartNew();
        var idle = Stopwatch.StartNew();
        var window = Stopwatch.StartNew();
        var cpuMark = CpuTime();
        JsonArray last = [];
        var lastText = "";
        while (idle.Elapsed < timeout && total.Elapsed < 3 * timeout)
        {
            last = await StudiesAsync();
            foreach (var s in last)
                if (s is JsonObject o && condition(o)) return o;
            var text = last.ToJsonString();
            if (text != lastText) { lastText = text; idle.Restart(); }
            if (window.Elapsed >= TimeSpan.FromSeconds(30))
            {
                var cpu = CpuTime();
                if (cpu - cpuMark >= window.Elapsed / 10) idle.Restart();
                cpuMark = cpu;
                window.Restart();
            }
            await Task.Delay(250);
        }
        throw new TimeoutException($"no study matched after {total.Elapsed.TotalMinutes:0.0} min, the last {idle.Elapsed.TotalMinutes:0.0} of them with no study " +
            $"changing and the node using under a tenth of a core: {last.ToJsonString()}\n{Output}");
    }

    private TimeSpan CpuTime()
    {
        try
        {
            _process!.Refresh();
            return _process.TotalProcessorTime;
        }
        catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception) { return TimeSpan.Zero; }
    }

    public async ValueTask DisposeAsync()
    {
        if (_process is { HasExited: false })
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
            TestData.RemoveDiagnosticsSocket(_process.Id);
        }
        _process?.Dispose();
        _process = null; // disposing twice (explicitly, then by 'await using') is harmless
        Http.Dispose();
    }
}
