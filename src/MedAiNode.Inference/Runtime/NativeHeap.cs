using System.Runtime.InteropServices;

namespace MedAiNode.Inference.Runtime;

/// <summary>
/// Gives the C heap's free pages back to the system. What ONNX Runtime and other native code malloc'd and freed (the
/// CPU arena's regions are returned when each run shrinks it; smaller blocks stay in glibc's arenas) would otherwise
/// keep a node's resident memory at its largest run's, with the next stage's managed arrays on top of it.
/// </summary>
public static partial class NativeHeap
{
    /// <summary>glibc's arenas when MALLOC_ARENA_MAX is not set. glibc makes up to 8 per core, one for each thread that
    /// mallocs; each keeps what was freed in it in fragments a trim cannot return, so a warm node's next analysis peaked
    /// higher with 8 per core than with 2 (docs/benchmarks.md, "glibc's arenas capped").</summary>
    public const int DefaultArenaMax = 2;

    private const int MArenaMax = -8; // mallopt's M_ARENA_MAX (malloc.h)

    [LibraryImport("libc", EntryPoint = "malloc_trim")]
    private static partial int MallocTrim(nuint pad);

    [LibraryImport("libc", EntryPoint = "mallopt")]
    private static partial int MallOpt(int param, int value);

    private static bool _unavailable = !OperatingSystem.IsLinux();

    /// <summary>malloc_trim(0) where glibc has it; a no-op elsewhere (musl, other systems).</summary>
    public static void Trim()
    {
        if (_unavailable) return;
        try { MallocTrim(0); }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException) { _unavailable = true; }
    }

    /// <summary>
    /// Caps glibc's arenas at <see cref="DefaultArenaMax"/> unless the MALLOC_ARENA_MAX environment variable chose a cap
    /// (glibc has applied it already). From Main this is the fallback: the runtime's own threads have made their arenas
    /// by then and keep them; only later threads are held to it (the host starts itself again with the variable set).
    /// Returns what was done, for the log.
    /// </summary>
    public static string LimitArenas(Func<string, string?>? environment = null) => ArenaPolicy = ApplyArenaCap(environment);

    /// <summary>What <see cref="LimitArenas"/> did in this process; null when it was not called.</summary>
    public static string? ArenaPolicy { get; private set; }

    private static string ApplyArenaCap(Func<string, string?>? environment)
    {
        var set = (environment ?? Environment.GetEnvironmentVariable)("MALLOC_ARENA_MAX");
        if (!string.IsNullOrEmpty(set)) return $"glibc arenas: MALLOC_ARENA_MAX={set} in the environment";
        if (_unavailable) return "glibc arenas: not glibc; left as they are";
        try
        {
            return MallOpt(MArenaMax, DefaultArenaMax) == 1
                ? $"glibc arenas: at most {DefaultArenaMax} (MALLOC_ARENA_MAX overrides)"
                : "glibc arenas: mallopt(M_ARENA_MAX) refused; left as they are";
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
        {
            _unavailable = true;
            return "glibc arenas: no mallopt in this C library; left as they are";
        }
    }
}
