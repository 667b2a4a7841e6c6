using MedAiNode.Inference.Runtime;

namespace MedAiNode.Inference.Tests;

/// <summary>glibc's arena cap set at start (the C heap a warm node keeps; docs/benchmarks.md) and the operator's
/// MALLOC_ARENA_MAX left to win.</summary>
public class NativeHeapTests
{
    [Fact]
    public void An_operators_MALLOC_ARENA_MAX_is_left_as_glibc_applied_it()
    {
        var said = NativeHeap.LimitArenas(name => name == "MALLOC_ARENA_MAX" ? "8" : null);
        Assert.Equal("glibc arenas: MALLOC_ARENA_MAX=8 in the environment", said);
        Assert.Equal(said, NativeHeap.ArenaPolicy);
    }

    [Fact]
    public void Without_MALLOC_ARENA_MAX_glibc_accepts_the_cap()
    {
        if (!OperatingSystem.IsLinux()) return; // glibc only; elsewhere nothing is changed (checked below)
        var said = NativeHeap.LimitArenas(_ => null);
        // mallopt answers 0 for a parameter it does not know: a wrong M_ARENA_MAX number would say "refused".
        Assert.Equal($"glibc arenas: at most {NativeHeap.DefaultArenaMax} (MALLOC_ARENA_MAX overrides)", said);
    }

    [Fact]
    public void An_empty_MALLOC_ARENA_MAX_is_not_a_choice()
    {
        var said = NativeHeap.LimitArenas(_ => "");
        Assert.DoesNotContain("in the environment", said);
    }
}
