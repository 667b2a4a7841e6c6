using MedAiNode.Imaging.Volumes;
using MedAiNode.Inference.Runtime;

namespace MedAiNode.Inference.Tests;

/// <summary>Inference:MaxConcurrentRuns bounds the model runs a node makes at once, over every model and analysis.</summary>
public class InferenceGateTests
{
    [Fact]
    public void A_model_run_waits_while_the_nodes_only_run_slot_is_taken()
    {
        using var cache = new ModelSessionCache(new InferenceOptions { ExecutionProviders = ["CPU"], IntraOpThreads = 1, MaxConcurrentRuns = 1 });
        var model = cache.Get(Fixtures.Manifest());
        Assert.Same(cache.Gate, model.Gate);
        var input = Fixtures.Random(new Dims(16, 16, 8)).Data;
        Task<(float[] Output, long[] Shape)> run;
        using (cache.Gate.Enter()) // another analysis's run, as far as this one can tell
        {
            run = Task.Run(() => new PatchRunner(model).Run(input, [1, 1, 8, 16, 16]));
            // It cannot finish while the slot is held; a run that bypassed the gate would be done in milliseconds.
            Assert.False(run.Wait(TimeSpan.FromMilliseconds(500)), "the run went ahead while the only slot was taken");
        }
        var (output, shape) = run.GetAwaiter().GetResult();
        Assert.Equal([1L, 2, 8, 16, 16], shape);
        Assert.Equal(2 * input.Length, output.Length);
        Assert.Equal(1, cache.Gate.PeakInFlight);
    }

    [Fact]
    public void The_gate_lets_through_as_many_runs_as_it_has_slots_and_no_more()
    {
        var gate = new InferenceGate(2);
        var first = gate.Enter();
        var second = gate.Enter();
        using var thirdIn = new ManualResetEventSlim();
        var third = Task.Run(() => { using (gate.Enter()) thirdIn.Set(); });
        Assert.False(thirdIn.Wait(TimeSpan.FromMilliseconds(300)), "a third run entered a gate of two slots");
        first.Dispose();
        third.GetAwaiter().GetResult(); // enters once a slot is free
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
