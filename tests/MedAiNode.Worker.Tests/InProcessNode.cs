using Hangfire;
using MedAiNode.Dicom;
using MedAiNode.Dicom.IO;
using MedAiNode.Store;
using MedAiNode.Worker.Intake;
using MedAiNode.Worker.Jobs;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace MedAiNode.Worker.Tests;

/// <summary>
/// The service host built in this process (<see cref="ServiceHost.Build"/>) on a fake clock, with its own store, job
/// storage and HTTP port; DIMSE intake off. Studies are filed straight into its store. Stopped on dispose.
/// </summary>
internal sealed class InProcessNode : IAsyncDisposable
{
    /// <summary>GET a page of the node's HTTP side; a non-success status fails the test.</summary>
    public async Task<string> GetTextAsync(string path)
    {
        var r = await Http.GetAsync($"http://127.0.0.1:{HttpPort}{path}");
        Assert.True(r.IsSuccessStatusCode, $"{path}: {(int)r.StatusCode}");
        return await r.Content.ReadAsStringAsync();
    }

    /// <summary>Prometheus scrapes are cached briefly: wait until a line of /metrics matches.</summary>
    public Task<string> WaitForMetricAsync(Func<string, bool> line) => Metrics.WaitForLineAsync(() => GetTextAsync("/metrics"), line);

    public static readonly TimeSpan QuietPeriod = TimeSpan.FromSeconds(30);

    private InProcessNode(WebApplication app, FakeTimeProvider clock, int httpPort)
    {
        App = app;
        Clock = clock;
        HttpPort = httpPort;
    }

    public WebApplication App { get; }
    public FakeTimeProvider Clock { get; }
    public int HttpPort { get; }
    public HttpClient Http { get; } = new() { Timeout = TimeSpan.FromSeconds(30) };
    public StudyStore Store => App.Services.GetRequiredService<StudyStore>();
    public JobStorage Jobs => App.Services.GetRequiredService<JobStorage>();
    public CompletionMonitor Monitor => App.Services.GetRequiredService<CompletionMonitor>();

    /// <param name="analyzer">Replaces the real analyzer; null keeps it (ct-body from the repository's models folder).</param>
    public static Task<InProcessNode> StartAsync(string root, FakeTimeProvider clock, IStudyAnalyzer? analyzer, params string[] args) =>
        StartAsync(root, clock, analyzer is null ? null : (Action<IServiceCollection>)(s => s.AddSingleton(analyzer)), args);

    /// <param name="services">Replaces services (an analyzer, destinations); null runs the real analyzer.</param>
    public static async Task<InProcessNode> StartAsync(string root, FakeTimeProvider clock, Action<IServiceCollection>? services, params string[] args)
    {
        var port = TestData.FreePort();
        var app = ServiceHost.Build(
        [
            $"--Store:Root={root}", "--Dicom:Port=-1", $"--Http:Urls=http://127.0.0.1:{port}", $"--Store:QuietPeriod={QuietPeriod}",
            "--Jobs:CompletionPollInterval=00:00:01", "--Jobs:NodeName=lifecycle", "--Outbox:ResultsFolder=", "--Store:JournalSizeMiB=16",
            $"--Models:SearchPaths:0={Path.Combine(TestData.RepoRoot, "models")}",
            // A fake analyzer needs no model: naming one that does not exist skips loading ONNX sessions.
            services is null ? "--Models:Enabled:0=ct-body" : "--Models:Enabled:0=none-needed", .. args,
        ], overrides =>
        {
            overrides.AddSingleton<TimeProvider>(clock);
            services?.Invoke(overrides);
        });
        var node = new InProcessNode(app, clock, port);
        try
        {
            await app.StartAsync();
        }
        catch
        {
            await node.DisposeAsync();
            throw;
        }
        return node;
    }

    /// <summary>Files copies of <paramref name="files"/> under <paramref name="studyUid"/>, as the SCP would.</summary>
    public string Receive(string studyUid, IEnumerable<string> files)
    {
        foreach (var f in files)
        {
            var file = DicomFile.Open(f);
            file.Dataset.Set(DicomTags.StudyInstanceUID, studyUid);
            var part = Path.Combine(Store.IncomingRoot, Guid.NewGuid().ToString("N") + ".part");
            file.Save(part);
            Store.Store(ReceivedInstance.Read(part, "CT_SCANNER"));
        }
        return studyUid;
    }

    /// <summary>Ends the quiet period on the fake clock; the completion monitor's next tick queues the study.</summary>
    public void EndQuietPeriod() => Clock.Advance(QuietPeriod + TimeSpan.FromSeconds(1));

    /// <summary>Ends the quiet period and waits until the study is queued (or further). The monitor's timer is made on
    /// a background thread after start-up recovery, so on a loaded machine it can be created after a single
    /// <see cref="EndQuietPeriod"/>, and then it would wait for a fake time that never comes: keep the clock ticking.
    /// For tests that next wait on something other than the study's state (a webhook receiver).</summary>
    public async Task EndQuietPeriodAsync(string studyUid, TimeSpan timeout)
    {
        EndQuietPeriod();
        await WaitForStateAsync(studyUid, s => s.State is not (StudyState.Receiving or StudyState.Complete), timeout);
    }

    public async Task<StudyRecord> WaitForStateAsync(string studyUid, Func<StudyRecord, bool> done, TimeSpan timeout)
    {
        var sw = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            if (Store.Get(studyUid) is { } r && done(r)) return r;
            if (sw.Elapsed > timeout)
                throw new TimeoutException($"study {studyUid} is {Store.Get(studyUid)?.State.ToString() ?? "absent"} ({Store.Get(studyUid)?.Reason}) after {timeout}");
            await Task.Delay(50);
            // The monitor polls on the fake clock: keep it ticking so a completed study is queued.
            Clock.Advance(TimeSpan.FromSeconds(1));
        }
    }

    /// <summary>The Hangfire states of every job of the study's analysis, oldest first.</summary>
    public List<string> JobStates()
    {
        var monitor = Jobs.GetMonitoringApi();
        using var connection = Jobs.GetConnection();
        var ids = new List<string>();
        foreach (var q in monitor.Queues()) ids.AddRange(monitor.EnqueuedJobs(q.Name, 0, 1000).Select(j => j.Key));
        ids.AddRange(monitor.SucceededJobs(0, 1000).Select(j => j.Key));
        ids.AddRange(monitor.FailedJobs(0, 1000).Select(j => j.Key));
        ids.AddRange(monitor.ScheduledJobs(0, 1000).Select(j => j.Key));
        ids.AddRange(monitor.ProcessingJobs(0, 1000).Select(j => j.Key));
        return ids.Distinct().OrderBy(id => long.TryParse(id, out var n) ? n : 0).Select(id => connection.GetStateData(id)?.Name ?? "?").ToList();
    }

    /// <summary>Waits until the study's jobs are in <paramref name="expected"/> states: the study is failed while
    /// Hangfire elects the job's Failed state, so the job's own state lands a moment later.</summary>
    public async Task AssertJobStatesAsync(params string[] expected)
    {
        var sw = System.Diagnostics.Stopwatch.StartNew();
        while (!JobStates().SequenceEqual(expected) && sw.Elapsed < TimeSpan.FromSeconds(30)) await Task.Delay(50);
        Assert.Equal(expected, JobStates());
    }

    public async ValueTask DisposeAsync()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try { await App.StopAsync(cts.Token); }
        finally
        {
            // Hangfire's log provider is process-wide and points at this host's logger factory, which is disposed next:
            // other tests in this process create Hangfire storage too.
            Hangfire.Logging.LogProvider.SetCurrentLogProvider(null);
            await App.DisposeAsync();
            Http.Dispose();
        }
    }
}

internal static class Metrics
{
    /// <summary>
    /// Scrapes until a line matches: a counter may be added to just after the state a test waited on is visible, and
    /// Prometheus scrapes are cached briefly.
    /// </summary>
    public static async Task<string> WaitForLineAsync(Func<Task<string>> scrape, Func<string, bool> line)
    {
        var sw = System.Diagnostics.Stopwatch.StartNew();
        string text;
        do
        {
            text = await scrape();
            if (text.Split('\n').Any(line)) return text;
            await Task.Delay(200);
        } while (sw.Elapsed < TimeSpan.FromSeconds(30));
        throw new TimeoutException("metric not found in:\n" + text);
    }
}

/// <summary>
/// Test classes that start nodes in this process run one at a time. OpenTelemetry makes the "MedAiNode" meters of all
/// live nodes in a process one metric stream (a counter added to once in each of two nodes reads 2 on both), and a node
/// disposed, its meters with it, ends that stream for the others (open-telemetry/opentelemetry-dotnet#6412): the
/// survivor's /metrics lost every medainode_ line one scrape later. Seen as a triage test waiting 30 s for its counter
/// while a lifecycle test's nodes came and went beside it; shown by a probe of two nodes. One node per process in
/// production, and a test here disposes a node before it starts the next; the worker-process tests are not affected.
/// </summary>
[CollectionDefinition(Name)]
public sealed class InProcessNodes
{
    public const string Name = "in-process nodes";
}
