using MedAiNode.Store;
using MedAiNode.Worker.Jobs;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace MedAiNode.Worker.Tests;

/// <summary>Issue 16 F4 in the running service: the disk is full when a quiet period ends, then has room again.</summary>
[Collection(InProcessNodes.Name)]
public class CompletionFaultTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(120);

    private static IEnumerable<string> Philips(int n) =>
        Enumerable.Range(1, n).Select(i => TestData.Path_("ct", "philips-phantom-5mm", $"I{i * 10}.dcm"));

    [Theory]
    [InlineData("\"Complete\"")] // the save of Receiving -> Complete fails
    [InlineData("\"Queued\"")]   // the save of Complete -> Queued fails
    public async Task F4_disk_full_at_completion_delays_the_study_but_never_strands_it(string failingState)
    {
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 11, 30, 8, 0, 0, TimeSpan.Zero));
        await using var node = await InProcessNode.StartAsync(TestData.TempDir("f4-node"), clock,
            (Action<IServiceCollection>)(s => s.AddSingleton<IStudyAnalyzer>(sp => new OneResultAnalyzer(sp.GetRequiredService<MedAiNode.Export.Outbox>()))));
        var uid = node.Receive("1.2.826.0.1.3680043.10.16.4." + Random.Shared.Next(1, 1_000_000), Philips(2));
        var faults = 0;
        node.Store.IndexWriteFault = tmp =>
        {
            if (File.ReadAllText(tmp).Contains("\"State\": " + failingState))
            {
                Interlocked.Increment(ref faults);
                throw new IOException("No space left on device", 28);
            }
        };
        node.EndQuietPeriod();
        var sw = System.Diagnostics.Stopwatch.StartNew();
        while (Volatile.Read(ref faults) < 3)
        {
            Assert.True(sw.Elapsed < Timeout, $"the monitor tried {faults} times");
            await Task.Delay(50);
            node.Clock.Advance(TimeSpan.FromSeconds(1));
        }
        // While the disk is full the study stays where its index on disk says, with no stray temporary file.
        var expected = failingState == "\"Complete\"" ? StudyState.Receiving : StudyState.Complete;
        Assert.Equal(expected, node.Store.Get(uid)!.State);
        // The last tick may still be in its attempt (temporary file written, then deleted on the fault): a stray file
        // stays for good, one in flight goes within moments.
        var tmp = Path.Combine(node.Store.StudiesRoot, uid, "study.json.tmp");
        for (var gone = System.Diagnostics.Stopwatch.StartNew(); File.Exists(tmp) && gone.Elapsed < TimeSpan.FromSeconds(10);) await Task.Delay(50);
        Assert.False(File.Exists(tmp));
        Assert.Empty(node.JobStates());

        node.Store.IndexWriteFault = null; // room again: queued and analysed without a restart
        var done = await node.WaitForStateAsync(uid, s => s.State is StudyState.Analysed or StudyState.Delivered or StudyState.Failed, Timeout);
        Assert.NotEqual(StudyState.Failed, done.State);
    }
}
