using MedAiNode.Dicom;
using MedAiNode.Dicom.IO;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace MedAiNode.Store.Tests;

/// <summary>The lifecycle table and <see cref="StudyStore.Transition"/>, in process, with a fake clock.</summary>
public class StudyLifecycleTests
{
    private readonly string _root = TestData.TempDir("lifecycle");
    private readonly FakeTimeProvider _clock = new(new DateTimeOffset(2026, 11, 30, 8, 0, 0, TimeSpan.Zero));
    private readonly ListLogger _log = new();
    private static readonly TimeSpan Quiet = TimeSpan.FromSeconds(30);

    private StudyStore NewStore() => new(new StudyStoreOptions { JournalSizeMiB = 8, Root = _root, QuietPeriod = Quiet }, _log, _clock);

    private static int _next;

    /// <summary>A real CT slice filed under a study UID of its own.</summary>
    private static string Receive(StudyStore store, string? studyUid = null, int slice = 1)
    {
        studyUid ??= $"1.2.826.0.1.3680043.10.77.{Environment.ProcessId}.{Interlocked.Increment(ref _next)}";
        var file = DicomFile.Open(TestData.Path_("ct", "philips-phantom-5mm", $"I{slice * 10}.dcm"));
        file.Dataset.Set(DicomTags.StudyInstanceUID, studyUid);
        var path = Path.Combine(store.IncomingRoot, Guid.NewGuid().ToString("N") + ".part");
        file.Save(path);
        return store.Store(path, "CT").StudyInstanceUid;
    }

    /// <summary>The legal path from Receiving to each state.</summary>
    private static readonly Dictionary<StudyState, StudyState[]> PathTo = new()
    {
        [StudyState.Receiving] = [],
        [StudyState.Complete] = [],
        [StudyState.Queued] = [StudyState.Queued],
        [StudyState.Analysing] = [StudyState.Queued, StudyState.Analysing],
        [StudyState.Analysed] = [StudyState.Queued, StudyState.Analysing, StudyState.Analysed],
        [StudyState.Delivered] = [StudyState.Queued, StudyState.Analysing, StudyState.Analysed, StudyState.Delivered],
        [StudyState.Failed] = [StudyState.Queued, StudyState.Analysing, StudyState.Failed],
    };

    [Fact]
    public void Every_move_the_table_lists_is_made_and_every_other_is_refused_and_logged_with_its_reason()
    {
        var store = NewStore();
        var studies = new Dictionary<(StudyState, StudyState), string>();
        foreach (var from in Enum.GetValues<StudyState>())
        foreach (var to in Enum.GetValues<StudyState>())
            studies[(from, to)] = Receive(store);
        _clock.Advance(Quiet);
        Assert.Equal(studies.Count, store.TakeCompleted().Count); // all Complete
        foreach (var ((from, to), uid) in studies)
        {
            if (from == StudyState.Receiving)
            {
                // Back to Receiving by a late arrival from Complete.
                Receive(store, uid, slice: 2);
                Assert.Equal(StudyState.Receiving, store.Get(uid)!.State);
            }
            foreach (var step in PathTo[from]) Assert.True(store.Transition(uid, step).Moved, $"{uid}: path to {from} at {step}");
            Assert.Equal(from, store.Get(uid)!.State);

            _log.Lines.Clear();
            var result = store.Transition(uid, to, "test");
            var legal = StudyLifecycle.Allows(from, to);
            Assert.True(legal == result.Moved, $"{from} -> {to}: {result}");
            Assert.Equal(legal ? to : from, store.Get(uid)!.State);
            if (!legal)
            {
                Assert.Equal(from, result.From);
                Assert.Contains("not in the lifecycle table", result.Refusal);
                Assert.Contains(_log.Lines, l => l.Level == LogLevel.Warning && l.Text.Contains($"illegal move {from} -> {to}") && l.Text.Contains(uid));
            }
        }
    }

    [Fact]
    public void The_table_has_the_retry_crash_fetch_and_rerun_moves_and_failed_is_final_until_a_rerun()
    {
        Assert.All(Enum.GetValues<StudyState>(), s => Assert.True(StudyLifecycle.Table.ContainsKey(s), $"{s} has no row"));
        Assert.True(StudyLifecycle.Allows(StudyState.Analysing, StudyState.Analysing)); // retry or crash mid-analysis
        Assert.True(StudyLifecycle.Allows(StudyState.Receiving, StudyState.Analysing)); // just fetched by another node
        foreach (var done in new[] { StudyState.Delivered, StudyState.Failed, StudyState.Analysed })
            Assert.True(StudyLifecycle.Allows(done, StudyState.Queued), $"re-run from {done}");
        // A failed study moves only on a person's re-run or new content; no job takes it up by itself.
        Assert.Equal([StudyState.Receiving, StudyState.Queued], StudyLifecycle.Table[StudyState.Failed].Keys.Order());
        Assert.False(StudyLifecycle.IsUnfinished(StudyState.Failed));
        Assert.False(StudyLifecycle.Allows(StudyState.Delivered, StudyState.Failed));
        Assert.False(StudyLifecycle.Allows(StudyState.Receiving, StudyState.Queued));
    }

    [Fact]
    public void A_move_from_a_state_the_caller_did_not_expect_is_refused_and_changes_nothing()
    {
        var store = NewStore();
        var uid = Receive(store);
        _clock.Advance(Quiet);
        Assert.Single(store.TakeCompleted());
        foreach (var s in new[] { StudyState.Queued, StudyState.Analysing, StudyState.Analysed }) Assert.True(store.Transition(uid, s).Moved);
        // A late arrival reopens the study while its delivery is pending; the delivery must not mark it Delivered,
        // and a queued job that did not fetch must not start analysing content still arriving (Receiving -> Analysing
        // is legal only after a fetch, so that caller does not expect it). Without expectations the table decides.
        Receive(store, uid, slice: 2);
        var before = store.Get(uid)!;
        Assert.Contains("expected Analysed", store.Transition(uid, StudyState.Delivered, onlyFrom: [StudyState.Analysed]).Refusal);
        Assert.Contains("not in the lifecycle table", store.Transition(uid, StudyState.Delivered).Refusal);
        var result = store.Transition(uid, StudyState.Analysing, mutate: r => r.AnalysedFingerprint = "changed",
            onlyFrom: [StudyState.Queued, StudyState.Complete, StudyState.Analysing]);
        Assert.False(result.Moved);
        Assert.Equal(StudyState.Receiving, result.From);
        Assert.Contains("expected Queued or Complete or Analysing", result.Refusal);
        var after = store.Get(uid)!;
        Assert.Equal((StudyState.Receiving, before.AnalysedFingerprint, before.UpdatedAt), (after.State, after.AnalysedFingerprint, after.UpdatedAt));
        Assert.False(store.Transition("1.2.3.999", StudyState.Queued).Moved);
    }

    [Fact]
    public void A_study_lives_through_quiet_period_retry_and_failure_on_the_fake_clock_and_a_restart_keeps_it_failed()
    {
        var store = NewStore();
        var uid = Receive(store);
        _clock.Advance(Quiet - TimeSpan.FromSeconds(1));
        Assert.Empty(store.TakeCompleted()); // still inside the quiet period
        _clock.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal([uid], store.TakeCompleted().Select(s => s.StudyInstanceUid));
        Assert.Empty(store.TakeCompleted()); // once only

        Assert.True(store.Transition(uid, StudyState.Queued).Moved);
        Assert.True(store.Transition(uid, StudyState.Analysing).Moved);
        _clock.Advance(TimeSpan.FromSeconds(10));
        Assert.True(store.Transition(uid, StudyState.Analysing, onlyFrom: [StudyState.Analysing]).Moved); // the retry
        Assert.Equal(2, store.Get(uid)!.Attempts);
        Assert.True(store.Transition(uid, StudyState.Failed, "ResultsInputException: no plane geometry").Moved);
        var failed = store.Get(uid)!;
        Assert.Equal((StudyState.Failed, "ResultsInputException: no plane geometry", _clock.GetUtcNow()), (failed.State, failed.Reason, failed.UpdatedAt));
        Assert.DoesNotContain(store.Unfinished(), s => s.StudyInstanceUid == uid);
        Assert.False(store.Transition(uid, StudyState.Analysing).Moved); // no job takes it up again

        // A restart reads it back Failed with its reason and does not count it as unfinished.
        var restarted = NewStore();
        Assert.Equal((StudyState.Failed, failed.Reason), (restarted.Get(uid)!.State, restarted.Get(uid)!.Reason));
        Assert.DoesNotContain(restarted.Unfinished(), s => s.StudyInstanceUid == uid);
        Assert.Equal(1, restarted.CountByState()[StudyState.Failed]);

        // A person's re-run moves it on.
        Assert.True(restarted.Transition(uid, StudyState.Queued, "re-run requested").Moved);
        Assert.Contains(restarted.Unfinished(), s => s.StudyInstanceUid == uid);
    }

    internal sealed class ListLogger : ILogger<StudyStore>
    {
        public List<(LogLevel Level, string Text)> Lines { get; } = new();
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => true;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (Lines) Lines.Add((logLevel, formatter(state, exception)));
        }
    }
}
