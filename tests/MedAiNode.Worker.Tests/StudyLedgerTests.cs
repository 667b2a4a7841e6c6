using Hangfire;
using Hangfire.InMemory;
using MedAiNode.Store;
using MedAiNode.Worker.Jobs;

namespace MedAiNode.Worker.Tests;

/// <summary>The cross-node ledger's decisions, on Hangfire's in-memory storage (the same code runs on PostgreSQL).</summary>
public class StudyLedgerTests
{
    private readonly InMemoryStorage _storage = new();
    private readonly StudyLedger _ledger;
    private readonly BackgroundJobClient _client;

    public StudyLedgerTests()
    {
        _ledger = new StudyLedger(_storage);
        _client = new BackgroundJobClient(_storage);
    }

    private string LiveJob() => _client.Enqueue(() => NoopJob.Run());

    [Fact]
    public void The_first_job_runs_a_second_for_the_same_content_is_a_duplicate_and_newer_content_waits()
    {
        var first = LiveJob();
        Assert.Equal(ClaimResult.Run, _ledger.Claim("1.2.3", "fp1", first, "a").Result);
        var (dup, holder) = _ledger.Claim("1.2.3", "fp1", LiveJob(), "b");
        Assert.Equal(ClaimResult.Duplicate, dup);
        Assert.Equal((first, "a"), (holder!.JobId, holder.Node));
        Assert.Equal(ClaimResult.Busy, _ledger.Claim("1.2.3", "fp2", LiveJob(), "b").Result);
        // A retry of the holder itself goes on.
        Assert.Equal(ClaimResult.Run, _ledger.Claim("1.2.3", "fp1", first, "a").Result);
        // Other studies are independent.
        Assert.Equal(ClaimResult.Run, _ledger.Claim("1.2.4", "fp1", LiveJob(), "b").Result);
    }

    [Fact]
    public void Finished_content_is_not_run_again_but_changed_content_is()
    {
        var job = LiveJob();
        _ledger.Claim("1.2.3", "fp1", job, "a");
        _ledger.Finish("1.2.3", e => e.JobId == job, StudyState.Analysed);
        var (result, holder) = _ledger.Claim("1.2.3", "fp1", LiveJob(), "b");
        Assert.Equal(ClaimResult.AlreadyDone, result);
        Assert.Equal(StudyState.Analysed, holder!.State);
        // Delivery is recorded by the node that holds the results.
        _ledger.Finish("1.2.3", e => e.Node == "b" && e.State == StudyState.Analysed, StudyState.Delivered);
        Assert.Equal(StudyState.Analysed, _ledger.Get("1.2.3")!.State);
        _ledger.Finish("1.2.3", e => e.Node == "a" && e.State == StudyState.Analysed, StudyState.Delivered);
        Assert.Equal(StudyState.Delivered, _ledger.Get("1.2.3")!.State);
        Assert.Equal(ClaimResult.Run, _ledger.Claim("1.2.3", "fp2", LiveJob(), "b").Result);
    }

    [Fact]
    public void Finished_entries_expire_after_the_retention_and_claims_do_not()
    {
        // In-memory storage caps expiry at 3 h by default; PostgreSQL keeps what it is told.
        var storage = new InMemoryStorage(new InMemoryStorageOptions { MaxExpirationTime = null });
        var ledger = new StudyLedger(storage);
        var job = new BackgroundJobClient(storage).Enqueue(() => NoopJob.Run());
        ledger.Claim("1.2.3", "fp1", job, "a");
        using var connection = (Hangfire.Storage.JobStorageConnection)storage.GetConnection();
        Assert.True(connection.GetHashTtl("medainode:study:1.2.3") <= TimeSpan.Zero);
        ledger.Finish("1.2.3", e => e.JobId == job, StudyState.Delivered);
        var ttl = connection.GetHashTtl("medainode:study:1.2.3");
        Assert.InRange(ttl, StudyLedger.Retention - TimeSpan.FromMinutes(1), StudyLedger.Retention);
    }

    [Fact]
    public void A_claim_whose_job_is_gone_is_taken_over_and_a_rerun_request_forgets_the_outcome()
    {
        var dead = LiveJob();
        _ledger.Claim("1.2.3", "fp1", dead, "a");
        Assert.True(_client.Delete(dead));
        Assert.Equal(ClaimResult.Run, _ledger.Claim("1.2.3", "fp1", LiveJob(), "b").Result);

        var job = _ledger.Get("1.2.3")!.JobId;
        _ledger.Finish("1.2.3", e => e.JobId == job, StudyState.Failed, "no eligible series");
        Assert.Equal(ClaimResult.AlreadyDone, _ledger.Claim("1.2.3", "fp1", LiveJob(), "a").Result);
        _ledger.Reset("1.2.3", "re-run requested");
        Assert.Equal(ClaimResult.Run, _ledger.Claim("1.2.3", "fp1", LiveJob(), "a").Result);
    }

    private string ProcessingJob(string serverId)
    {
        var id = LiveJob();
        using var connection = _storage.GetConnection();
        using var tx = connection.CreateWriteTransaction();
        tx.SetJobState(id, new ProcessingOn(serverId));
        tx.Commit();
        return id;
    }

    /// <summary>The state a Hangfire worker records when it takes a job (its own constructor is internal).</summary>
    private sealed class ProcessingOn(string serverId) : Hangfire.States.IState
    {
        public string Name => "Processing";
        public string? Reason => null;
        public bool IsFinal => false;
        public bool IgnoreJobLoadException => false;
        public Dictionary<string, string> SerializeData() => new() { ["ServerId"] = serverId, ["WorkerId"] = "worker-1", ["StartedAt"] = "0" };
    }

    [Fact]
    public void A_job_left_processing_by_a_dead_process_does_not_block_the_study()
    {
        var ledger = new StudyLedger(_storage, "a");
        // This node before a crash (another process id): taken over at once.
        ledger.Claim("1.2.3", "fp", ProcessingJob("a-999999-inference:x"), "a");
        Assert.Equal(ClaimResult.Run, ledger.Claim("1.2.3", "fp", LiveJob(), "a").Result);
        // Another node's server that no longer announces itself: taken over.
        ledger.Claim("1.2.4", "fp", ProcessingJob("b-1-inference:x"), "b");
        Assert.Equal(ClaimResult.Run, ledger.Claim("1.2.4", "fp", LiveJob(), "a").Result);
        // Another node's live server: its job still holds the study.
        using (var connection = _storage.GetConnection())
            connection.AnnounceServer("c-1-inference:x", new Hangfire.Server.ServerContext { Queues = ["routine"], WorkerCount = 1 });
        ledger.Claim("1.2.5", "fp", ProcessingJob("c-1-inference:x"), "c");
        Assert.Equal(ClaimResult.Duplicate, ledger.Claim("1.2.5", "fp", LiveJob(), "a").Result);
    }

    [Fact]
    public void A_finish_by_a_job_that_no_longer_holds_the_claim_changes_nothing()
    {
        var old = LiveJob();
        _ledger.Claim("1.2.3", "fp1", old, "a");
        _client.Delete(old);
        var current = LiveJob();
        _ledger.Claim("1.2.3", "fp1", current, "b");
        _ledger.Finish("1.2.3", e => e.JobId == old, StudyState.Failed, "late");
        Assert.Equal((StudyState.Analysing, current), (_ledger.Get("1.2.3")!.State, _ledger.Get("1.2.3")!.JobId));
    }

    private static StudyStore StoreWithQueuedStudy(out string uid)
    {
        var store = new StudyStore(new StudyStoreOptions { JournalSizeMiB = 8, Root = TestData.TempDir("ledger-store"), QuietPeriod = TimeSpan.Zero });
        var tmp = Path.Combine(store.IncomingRoot, "x.dcm");
        File.Copy(TestData.Path_("ct", "philips-phantom-5mm", "I10.dcm"), tmp);
        uid = store.Store(MedAiNode.Dicom.IO.ReceivedInstance.Read(tmp, "CT")).StudyInstanceUid;
        store.TakeCompleted();
        Assert.True(store.Transition(uid, StudyState.Queued).Moved);
        return store;
    }

    [Theory]
    [InlineData(StudyState.Delivered, "b", StudyState.Delivered, "analysed by node b")]
    [InlineData(StudyState.Analysed, "b", StudyState.Delivered, "analysed by node b")]
    [InlineData(StudyState.Failed, "b", StudyState.Failed, "failed on node b: no eligible series")]
    [InlineData(StudyState.Analysed, "a", StudyState.Analysed, "unchanged since the last analysis")]
    [InlineData(StudyState.Delivered, "a", StudyState.Delivered, "unchanged since the last analysis")]
    public void A_node_adopts_the_recorded_outcome_of_the_same_content(StudyState state, string by, StudyState expected, string reason)
    {
        var store = StoreWithQueuedStudy(out var uid);
        Assert.True(StudyJobs.Adopt(store, uid, new LedgerEntry(state, "fp", "7", by, "no eligible series", DateTimeOffset.UtcNow), "a"));
        var record = store.Get(uid)!;
        Assert.Equal(expected, record.State);
        Assert.Equal(reason, record.Reason);
    }

    [Fact]
    public void Analysis_progress_is_stored_on_the_job_in_steps_of_five_percent()
    {
        var id = LiveJob();
        using var connection = _storage.GetConnection();
        var job = connection.GetJobData(id)!;
        var context = new Hangfire.Server.PerformContext(_storage, connection, new Hangfire.BackgroundJob(id, job.Job, job.CreatedAt), new Hangfire.JobCancellationToken(false));
        var progress = new JobProgress(context);
        progress.Report(0.02);
        Assert.Equal("2", connection.GetJobParameter(id, "progress"));
        progress.Report(0.05); // under 5 points since the last write
        Assert.Equal("2", connection.GetJobParameter(id, "progress"));
        progress.Report(0.5);
        Assert.Equal("50", connection.GetJobParameter(id, "progress"));
        progress.Report(1.0);
        Assert.Equal("100", connection.GetJobParameter(id, "progress"));
    }
}

/// <summary>A job that exists only to have a state in storage (Hangfire runs public methods only).</summary>
public static class NoopJob
{
    public static void Run() { }
}
