namespace MedAiNode.Worker.Tests;

/// <summary>
/// Issue 16, memory of a warm node: glibc's arenas are capped at 2 by the node starting itself again with
/// MALLOC_ARENA_MAX set (glibc reads it at start only); an operator's own value is left alone. Read from outside, as an
/// operator would: the process's environment and its glibc heaps in /proc.
/// </summary>
public class ArenaCapTests
{
    /// <summary>glibc's heaps of the arenas other than the main one: mappings that start on a 64 MiB boundary and
    /// reserve exactly 64 MiB (HEAP_MAX_SIZE on 64-bit), the used part read-write and the rest inaccessible.</summary>
    private static int GlibcHeaps(int pid)
    {
        const long heapMax = 64L << 20;
        var rows = File.ReadAllLines($"/proc/{pid}/maps").Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Select(p => (Start: Convert.ToInt64(p[0].Split('-')[0], 16), End: Convert.ToInt64(p[0].Split('-')[1], 16), Perms: p[1], Named: p.Length > 5))
            .ToList();
        var heaps = 0;
        for (var i = 0; i < rows.Count; i++)
        {
            var r = rows[i];
            if (r.Named || r.Start % heapMax != 0 || !r.Perms.StartsWith("rw", StringComparison.Ordinal)) continue;
            var end = r.End;
            if (i + 1 < rows.Count && rows[i + 1] is { Named: false } next && next.Start == r.End && next.Perms.StartsWith("---", StringComparison.Ordinal)) end = next.End;
            if (end - r.Start == heapMax) heaps++;
        }
        return heaps;
    }

    private static string Environ(int pid) => File.ReadAllText($"/proc/{pid}/environ").Replace('\0', '\n');

    [Fact]
    public async Task A_node_started_without_MALLOC_ARENA_MAX_runs_with_two_glibc_arenas_under_its_own_process_id()
    {
        if (!OperatingSystem.IsLinux()) return;
        var root = TestData.TempDir("arena-cap");
        await using var node = new WorkerProcess(root);
        node.Environment["MALLOC_ARENA_MAX"] = null;
        await node.StartAsync(); // answering on its ports: the same process id after the exec
        Assert.Contains("\nMALLOC_ARENA_MAX=2\n", "\n" + Environ(node.ProcessId));
        // The main arena (no heap mapping) and one more: its heap, and a second only if it outgrew 64 MiB (measured: 1;
        // 15 without the cap on 2 cores).
        Assert.InRange(GlibcHeaps(node.ProcessId), 0, 2);
        lock (node.Output) Assert.Contains("glibc arenas: MALLOC_ARENA_MAX=2 in the environment", node.Output.ToString());
        // The started-again runtime still answers diagnostics tools (dotnet-counters, dotnet-trace): its endpoint, named by
        // the unchanged process id, is listening, not left to the runtime before the exec.
        Assert.Contains($"/dotnet-diagnostic-{node.ProcessId}-", File.ReadAllText("/proc/net/unix"));
    }

    [Fact]
    public async Task An_operators_MALLOC_ARENA_MAX_is_kept_and_glibc_makes_that_many_arenas()
    {
        if (!OperatingSystem.IsLinux()) return;
        var root = TestData.TempDir("arena-cap-operator");
        await using var node = new WorkerProcess(root);
        node.Environment["MALLOC_ARENA_MAX"] = "16";
        await node.StartAsync();
        Assert.Contains("\nMALLOC_ARENA_MAX=16\n", "\n" + Environ(node.ProcessId));
        Assert.DoesNotContain("MALLOC_ARENA_MAX=2\n", Environ(node.ProcessId));
        // What the cap prevents, and proof the heap count above sees glibc's arenas: the runtime's and the node's threads
        // take an arena each up to the cap.
        Assert.True(GlibcHeaps(node.ProcessId) > 2, $"{GlibcHeaps(node.ProcessId)} glibc heaps with MALLOC_ARENA_MAX=16");
    }
}
