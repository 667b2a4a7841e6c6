using Hangfire;
using MedAiNode.Store;
using MedAiNode.Worker.Jobs;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace MedAiNode.Worker.Tests;

/// <summary>
/// Several nodes on one PostgreSQL Hangfire database, a real Orthanc as the PACS: jobs are shared, a study received
/// by one node can be analysed by another (which fetches it with WADO-RS), and no content is ever analysed twice.
/// </summary>
public class MultiNodeTests
{
    // The phantom is analysed and delivered; the head CT (7 mm slices) fails the model's rules, a permanent outcome
    // that must be shared just the same.
    private static readonly (string Series, string Outcome)[] Studies = [("philips-phantom-5mm", "Delivered"), ("ge-head-tilt-varspacing", "Failed")];

    private static string StudyUid(string series) =>
        MedAiNode.Dicom.IO.DicomFile.Open(Directory.GetFiles(TestData.Path_("ct", series), "*.dcm")[0]).Dataset.GetString(MedAiNode.Dicom.DicomTags.StudyInstanceUID)!;

    private static async Task<string> UploadAsync(OrthancServer orthanc, string series)
    {
        string? id = null;
        foreach (var f in Directory.GetFiles(TestData.Path_("ct", series), "*.dcm")) id = await orthanc.UploadAsync(f);
        var instance = await orthanc.GetJsonAsync($"/instances/{id}");
        return (await orthanc.GetJsonAsync($"/series/{instance["ParentSeries"]!.GetValue<string>()}"))["ParentStudy"]!.GetValue<string>();
    }

    private static async Task PushAsync(OrthancServer orthanc, string modality, string orthancStudy)
    {
        var r = await orthanc.Rest.PostAsync($"{orthanc.RestUrl}/modalities/{modality}/store", new StringContent(orthancStudy));
        Assert.True(r.IsSuccessStatusCode, await r.Content.ReadAsStringAsync());
    }

    private static string[] Pacs(OrthancServer orthanc) =>
        ["--DicomWeb:Pacs:0:Name=orthanc", $"--DicomWeb:Pacs:0:BaseUrl={orthanc.DicomWebUrl}", "--Export:StowTo:0=orthanc"];

    /// <summary>How many analyses a node's log shows: a line per model run, or the line of a permanent failure.</summary>
    private static int Analyses(WorkerProcess node, string studyUid) =>
        Regex.Matches(node.Log, $"Study {Regex.Escape(studyUid)}(: model ct-body on series| failed permanently)").Count;

    /// <summary>
    /// The count once a first line is there: a permanent failure is logged just after the move to Failed (and another
    /// node may adopt that outcome from the ledger even before), and a node's output arrives through a pipe.
    /// </summary>
    private static async Task<int> AnalysesLoggedAsync(Func<int> count)
    {
        var sw = System.Diagnostics.Stopwatch.StartNew();
        while (count() == 0 && sw.Elapsed < TimeSpan.FromSeconds(60)) await Task.Delay(100);
        return count();
    }

    private static async Task<(int Seg, int Sr)> ResultsAsync(OrthancServer orthanc, string studyUid)
    {
        var json = JsonNode.Parse(await orthanc.Rest.GetStringAsync($"{orthanc.DicomWebUrl}/studies/{studyUid}/instances?includefield=00080060"))!.AsArray();
        var modalities = json.Select(n => n!["00080060"]?["Value"]?[0]?.GetValue<string>()).ToList();
        return (modalities.Count(m => m == "SEG"), modalities.Count(m => m == "SR"));
    }

    private static Task<JsonObject> WaitForStateAsync(WorkerProcess node, string studyUid, string state) =>
        node.WaitForStudyAsync(s => s["studyInstanceUid"]!.GetValue<string>() == studyUid && s["state"]!.GetValue<string>() == state, TimeSpan.FromSeconds(120));

    [Fact]
    public async Task A_receive_only_node_hands_its_studies_to_an_inference_node_that_fetches_them_by_wado_rs()
    {
        using var postgres = new PostgresServer();
        var intake = new WorkerProcess(TestData.TempDir("node-intake"), "--Jobs:NodeName=intake", "--Jobs:InferenceSlots=0",
            $"--Jobs:PostgresConnectionString={postgres.ConnectionString}");
        await using var _ = intake;
        using var orthanc = new OrthancServer(cfg =>
            cfg["DicomModalities"] = new JsonObject { ["intake"] = new JsonArray("MEDAINODE", "127.0.0.1", intake.DicomPort) });
        intake.With(Pacs(orthanc));
        await using var gpu = new WorkerProcess(TestData.TempDir("node-gpu"), "--Jobs:NodeName=gpu", "--Dicom:Port=-1",
            $"--Jobs:PostgresConnectionString={postgres.ConnectionString}", "--Jobs:FetchFrom=orthanc");
        gpu.With(Pacs(orthanc));
        await intake.StartAsync();
        await gpu.StartAsync();

        foreach (var (series, _) in Studies) await PushAsync(orthanc, "intake", await UploadAsync(orthanc, series));

        foreach (var (series, outcome) in Studies)
        {
            var uid = StudyUid(series);
            var analysed = await WaitForStateAsync(gpu, uid, outcome);
            Assert.Equal(Directory.GetFiles(TestData.Path_("ct", series), "*.dcm").Length, analysed["instanceCount"]!.GetValue<int>());
            // The receiving node learns the outcome from the shared ledger and does not queue the study again.
            var received = await WaitForStateAsync(intake, uid, outcome);
            Assert.Contains(outcome == "Delivered" ? "analysed by node gpu" : "failed on node gpu: ", received["reason"]!.GetValue<string>());
            Assert.Equal(outcome == "Delivered" ? (1, 1) : (0, 0), await ResultsAsync(orthanc, uid));
            Assert.Equal(1, await AnalysesLoggedAsync(() => Analyses(gpu, uid)));
            Assert.Equal(0, Analyses(intake, uid));
            Assert.Contains($"Fetched study {uid} from orthanc", gpu.Log);
        }
    }

    [Fact]
    public async Task A_study_sent_to_two_nodes_is_analysed_once_and_both_nodes_record_its_outcome()
    {
        using var postgres = new PostgresServer();
        var a = new WorkerProcess(TestData.TempDir("node-a"), "--Jobs:NodeName=a", $"--Jobs:PostgresConnectionString={postgres.ConnectionString}");
        var b = new WorkerProcess(TestData.TempDir("node-b"), "--Jobs:NodeName=b", $"--Jobs:PostgresConnectionString={postgres.ConnectionString}");
        await using var _a = a;
        await using var _b = b;
        using var orthanc = new OrthancServer(cfg => cfg["DicomModalities"] = new JsonObject
        {
            ["a"] = new JsonArray("MEDAINODE", "127.0.0.1", a.DicomPort),
            ["b"] = new JsonArray("MEDAINODE", "127.0.0.1", b.DicomPort),
        });
        a.With(Pacs(orthanc));
        b.With(Pacs(orthanc));
        await a.StartAsync();
        await b.StartAsync();

        // Both nodes receive both studies at once, as with a router that copies to every node.
        var studies = new List<string>();
        foreach (var (series, _) in Studies) studies.Add(await UploadAsync(orthanc, series));
        await Task.WhenAll(studies.SelectMany(s => new[] { PushAsync(orthanc, "a", s), PushAsync(orthanc, "b", s) }));

        foreach (var (series, outcome) in Studies)
        {
            var uid = StudyUid(series);
            await WaitForStateAsync(a, uid, outcome);
            await WaitForStateAsync(b, uid, outcome);
            Assert.Equal(1, await AnalysesLoggedAsync(() => Analyses(a, uid) + Analyses(b, uid)));
            Assert.Equal(outcome == "Delivered" ? (1, 1) : (0, 0), await ResultsAsync(orthanc, uid));
        }
        // A node sharing the database stops cleanly on SIGTERM.
        var (code, _) = await a.TerminateAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(0, code);
    }

    [Fact]
    public async Task Without_fetch_from_a_job_for_a_study_another_node_received_is_handed_to_that_node()
    {
        using var postgres = new PostgresServer();
        await using var b = new WorkerProcess(TestData.TempDir("node-b"), "--Jobs:NodeName=b", "--Dicom:Port=-1",
            $"--Jobs:PostgresConnectionString={postgres.ConnectionString}");
        await b.StartAsync();
        var storage = new Hangfire.PostgreSql.PostgreSqlStorage(new Hangfire.PostgreSql.Factories.NpgsqlConnectionFactory(postgres.ConnectionString, new()));
        var job = new BackgroundJobClient(storage).Enqueue<StudyJobs>(StudyJobs.RoutineQueue,
            j => j.AnalyzeAsync("1.2.3.4", "fingerprint", "a", null, CancellationToken.None));
        var monitor = storage.GetMonitoringApi();
        // The node logs the hand-over after it enqueued the job, and its output reaches b.Log a moment later still: wait
        // for both (seen in CI: the job was there, the line not yet).
        const string handed = "Study 1.2.3.4 was received by node a and Jobs:FetchFrom is empty: handed to it";
        var sw = System.Diagnostics.Stopwatch.StartNew();
        while ((monitor.EnqueuedCount("node_a") == 0 || !b.Log.Contains(handed)) && sw.Elapsed < TimeSpan.FromSeconds(120)) await Task.Delay(200);
        Assert.Equal(1, monitor.EnqueuedCount("node_a"));
        Assert.Contains(handed, b.Log);
        Assert.Equal(StudyState.Queued, new StudyLedger(storage).Get("1.2.3.4")!.State); // no job holds it: node a's job claims it
        Assert.NotEqual(job, monitor.EnqueuedJobs("node_a", 0, 1).Single().Key);
    }

    [Fact]
    public async Task A_node_killed_mid_job_on_postgres_storage_delivers_the_study_once_after_restart()
    {
        using var postgres = new PostgresServer();
        using var orthanc = new OrthancServer();
        var root = TestData.TempDir("node-crash");
        string[] args = ["--Jobs:NodeName=a", $"--Jobs:PostgresConnectionString={postgres.ConnectionString}", .. Pacs(orthanc)];
        var first = new WorkerProcess(root, args);
        await first.StartAsync();
        var files = Directory.GetFiles(TestData.Path_("ct", "philips-phantom-5mm"), "*.dcm");
        var send = Tool.Run("storescu", new[] { "-aec", "MEDAINODE", "127.0.0.1", first.DicomPort.ToString() }.Concat(files));
        Assert.True(send.ExitCode == 0, send.StdErr);
        await first.WaitForStudyAsync(s => s["state"]!.GetValue<string>() is "Queued" or "Analysing", TimeSpan.FromSeconds(30));
        first.Kill(); // the job stays in PostgreSQL, possibly "processing" on a server that no longer exists
        await first.DisposeAsync();

        await using var second = new WorkerProcess(root, args);
        await second.StartAsync();
        var uid = StudyUid("philips-phantom-5mm");
        await WaitForStateAsync(second, uid, "Delivered");
        Assert.Equal((1, 1), await ResultsAsync(orthanc, uid));
        Assert.Equal(EndToEndTests.StoredResults(root, uid), (await orthanc.StoredSopInstanceUidsAsync()).Count); // SEG, SR and the summary pages
    }
}

/// <summary>The ledger's study lock on PostgreSQL dies with the process that holds it (Hangfire's lock rows outlive it by 10 min).</summary>
public class PostgresStudyLockTests
{
    [Fact]
    public async Task A_study_lock_held_by_a_killed_process_is_released_at_once_and_a_live_one_is_respected()
    {
        using var postgres = new PostgresServer();
        var storage = new Hangfire.PostgreSql.PostgreSqlStorage(new Hangfire.PostgreSql.Factories.NpgsqlConnectionFactory(postgres.ConnectionString, new()));
        var ledger = new StudyLedger(storage, "a", postgres.ConnectionString);
        var key = PostgresAdvisoryLock.Key("medainode:lock:1.2.3");

        // Another process takes the study's lock and sits idle in its transaction, as a node does inside Claim.
        var psi = new System.Diagnostics.ProcessStartInfo("psql", ["-X", "-q", "-h", "127.0.0.1", "-p", postgres.Port.ToString(), "-U", "medainode", "-d", "postgres"])
        { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        using var holder = System.Diagnostics.Process.Start(psi)!;
        try
        {
            await holder.StandardInput.WriteLineAsync($"BEGIN; SELECT pg_advisory_xact_lock({key});");
            await holder.StandardInput.FlushAsync();
            await using (var probe = new Npgsql.NpgsqlConnection(postgres.ConnectionString))
            {
                await probe.OpenAsync();
                var sw = System.Diagnostics.Stopwatch.StartNew();
                while ((long)(await new Npgsql.NpgsqlCommand("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted", probe).ExecuteScalarAsync())! == 0)
                {
                    if (holder.HasExited) Assert.Fail("psql ended: " + await holder.StandardError.ReadToEndAsync());
                    Assert.True(sw.Elapsed < TimeSpan.FromSeconds(60), "psql never took the lock");
                    await Task.Delay(100);
                }
            }
            // While the holder lives, the lock is respected.
            Assert.Throws<TimeoutException>(() => PostgresAdvisoryLock.Acquire(postgres.ConnectionString, "medainode:lock:1.2.3", TimeSpan.FromMilliseconds(300)));
        }
        finally
        {
            holder.Kill(); // SIGKILL: no unlock, no rollback from the client
            await holder.WaitForExitAsync();
        }
        // The server sees the connection close and drops the lock: the next claim waits for nothing like 10 minutes.
        var claim = Task.Run(() => ledger.Claim("1.2.3", "fp", "job-1", "a").Result);
        Assert.Equal(ClaimResult.Run, await claim.WaitAsync(TimeSpan.FromSeconds(25)));
        Assert.Equal(StudyState.Analysing, ledger.Get("1.2.3")!.State);
    }
}
