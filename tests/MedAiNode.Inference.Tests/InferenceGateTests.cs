using MedAiNode.Imaging.Volumes;
using MedAiNode.Inference.Runtime;
using MedAiNode.Inference.SlidingWindow;

namespace MedAiNode.Inference.Tests;

/// <summary>Inference:MaxConcurrentRuns bounds the model runs a node makes at once, over every model and analysis.</summary>
public class InferenceGateTests
{
    /// <summary>Starts <paramref name="work"/> on a thread of its own (not the pool, which a loaded test run can keep
    /// waiting) and returns once that thread is about to call it.</summary>
    private static Task<T> StartOnItsOwnThread<T>(Func<T> work)
    {
        var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var calling = new ManualResetEventSlim();
        var thread = new Thread(() =>
        {
            calling.Set();
            try { done.SetResult(work()); }
            catch (Exception e) { done.SetException(e); }
        }) { IsBackground = true };
        thread.Start();
        calling.Wait();
        return done.Task;
    }

    /// <summary>Whether <paramref name="task"/> ends (however) within <paramref name="within"/>.</summary>
    private static async Task<bool> Finishes(Task task, TimeSpan within) => await Task.WhenAny(task, Task.Delay(within)) == task;

    [Fact]
    public async Task A_model_run_waits_while_the_nodes_only_run_slot_is_taken()
    {
        using var cache = new ModelSessionCache(new InferenceOptions { ExecutionProviders = ["CPU"], IntraOpThreads = 1, MaxConcurrentRuns = 1 });
        var model = cache.Get(Fixtures.Manifest());
        Assert.Same(cache.Gate, model.Gate);
        var input = Fixtures.Random(new Dims(16, 16, 8)).Data;
        var runner = new PatchRunner(model);
        Task<(float[] Output, long[] Shape)> run;
        using (cache.Gate.Enter()) // another analysis's run, as far as this one can tell
        {
            run = StartOnItsOwnThread(() => runner.Run(input, [1, 1, 8, 16, 16]));
            // It cannot finish while the slot is held; a run that bypassed the gate would be done in milliseconds.
            Assert.False(await Finishes(run, TimeSpan.FromSeconds(1)), "the run went ahead while the only slot was taken");
        }
        var (output, shape) = await run;
        Assert.True(runner.SlotWaitSeconds > 0.2, $"waited {runner.SlotWaitSeconds:0.000} s");
        Assert.Equal([1L, 2, 8, 16, 16], shape);
        Assert.Equal(2 * input.Length, output.Length);
        Assert.Equal(1, cache.Gate.PeakInFlight);
    }

    [Fact]
    public async Task Time_spent_waiting_for_a_slot_is_not_counted_as_the_models()
    {
        using var cache = new ModelSessionCache(new InferenceOptions { ExecutionProviders = ["CPU"], IntraOpThreads = 1, MaxConcurrentRuns = 1 });
        var model = cache.Get(Fixtures.Manifest());
        var inferer = new SlidingWindowInferer(model);
        var volume = Fixtures.Random(new Dims(37, 29, 11));
        Task<ScoreMap> run;
        using (cache.Gate.Enter())
        {
            run = StartOnItsOwnThread(() => inferer.Run(volume));
            Assert.False(await Finishes(run, TimeSpan.FromSeconds(1)), "the sliding window ran while the only slot was taken");
        }
        await run;
        var stats = inferer.LastStats!;
        // The stage's seconds include the queue; the network's own do not: counted in both, the two would exceed the
        // stage by the wait (hundreds of milliseconds here).
        Assert.True(stats.TotalSeconds > 0.2, $"total {stats.TotalSeconds:0.000} s");
        Assert.True(stats.ModelSeconds < stats.TotalSeconds - 0.2, $"model {stats.ModelSeconds:0.000} s of {stats.TotalSeconds:0.000} s");
    }

    [Fact]
    public async Task A_cancelled_analysis_stops_waiting_for_the_slot_and_takes_none()
    {
        using var cache = new ModelSessionCache(new InferenceOptions { ExecutionProviders = ["CPU"], IntraOpThreads = 1, MaxConcurrentRuns = 1 });
        var inferer = new SlidingWindowInferer(cache.Get(Fixtures.Manifest()));
        var volume = Fixtures.Random(new Dims(16, 16, 8));
        using var cancel = new CancellationTokenSource();
        var held = cache.Gate.Enter(); // another analysis's long run
        try
        {
            var run = StartOnItsOwnThread(() => inferer.Run(volume, ct: cancel.Token));
            Assert.False(await Finishes(run, TimeSpan.FromMilliseconds(300)), "the run went ahead while the only slot was taken");
            cancel.Cancel();
            // It gives up while the other run still holds the slot; before, it waited for that run to end.
            Assert.True(await Finishes(run, TimeSpan.FromMinutes(2)), "the cancelled run still waited for the slot");
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run);
        }
        finally { held.Dispose(); }
        // The cancelled wait took no slot with it: the only one is free (a minute's cap instead of a hang if not).
        using var cap = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        using (cache.Gate.Enter(cap.Token)) { }
        Assert.Equal(1, cache.Gate.PeakInFlight);
    }

    [Fact]
    public async Task A_cancelled_analysis_stops_its_run_inside_onnx_runtime()
    {
        // BLAST-CT's 110^3 tile on one thread: seconds inside one Session.Run, far longer than it takes to cancel it.
        var manifest = Manifests.ModelManifest.Load(Path.Combine(Fixtures.ModelsDir, "blast-ct-v1", "manifest.json"));
        using var cache = new ModelSessionCache(new InferenceOptions { ExecutionProviders = ["CPU"], IntraOpThreads = 1, MaxConcurrentRuns = 1 });
        var runner = new PatchRunner(cache.Get(manifest));
        var tile = Fixtures.Random(new Dims(110, 110, 110)).Data;
        var output = Array.Empty<float>();
        using var cancel = new CancellationTokenSource();
        var run = StartOnItsOwnThread(() => runner.Run(tile, [1, 1, 110, 110, 110], ref output, ct: cancel.Token));
        // The run holds the only slot from just before Session.Run until its output is read.
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (cache.Gate.PeakInFlight == 0 && !run.IsCompleted && clock.Elapsed < TimeSpan.FromMinutes(2)) await Task.Delay(5);
        Assert.False(run.IsCompleted, "the run ended before it could be cancelled");
        cancel.Cancel();
        // Before, the run went on to its end and returned the tile's output; now ONNX Runtime stops at its next operator.
        var e = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run);
        Assert.Equal(cancel.Token, e.CancellationToken);
        // The stopped run gave its slot back (a minute's cap instead of a hang if not).
        using var cap = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        using (cache.Gate.Enter(cap.Token)) { }
        // And the model still runs: terminating one run leaves the session usable.
        var (again, shape) = runner.Run(tile, [1, 1, 110, 110, 110]);
        Assert.Equal([1L, 5, 30, 30, 30], shape);
        Assert.All(again.Take(1000), v => Assert.True(float.IsFinite(v)));
    }

    [Fact]
    public async Task The_gate_lets_through_as_many_runs_as_it_has_slots_and_no_more()
    {
        var gate = new InferenceGate(2);
        var first = gate.Enter();
        var second = gate.Enter();
        using var thirdIn = new ManualResetEventSlim();
        var third = Task.Run(() => { using (gate.Enter()) thirdIn.Set(); });
        Assert.False(thirdIn.Wait(TimeSpan.FromMilliseconds(300)), "a third run entered a gate of two slots");
        first.Dispose();
        await third; // enters once a slot is free
        Assert.True(thirdIn.IsSet);
        second.Dispose();
        Assert.Equal(2, gate.PeakInFlight);
        using (gate.Enter()) using (gate.Enter()) { } // both slots are free again
    }

    [Theory]
    [InlineData(0)]
    [InlineData(65)]
    public void MaxConcurrentRuns_outside_1_to_64_is_refused_naming_the_key(int runs)
    {
        var e = Assert.Throws<ArgumentException>(() => new InferenceOptions { MaxConcurrentRuns = runs }.Validate());
        Assert.Contains("Inference:MaxConcurrentRuns", e.Message);
        Assert.Contains($"was {runs}", e.Message);
    }
}
