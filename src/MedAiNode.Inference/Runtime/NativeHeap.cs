using System.Runtime.InteropServices;

namespace MedAiNode.Inference.Runtime;

/// <summary>
/// Gives the C heap's free pages back to the system. What ONNX Runtime and other native code malloc'd and freed (the
/// CPU arena's regions are returned when each run shrinks it; smaller blocks stay in glibc's arenas) would otherwise
/// keep a node's resident memory at its largest run's, with the next stage's managed arrays on top of it.
/// </summary>
public static partial class NativeHeap
{
    [LibraryImport("libc", EntryPoint = "malloc_trim")]
    private static partial int MallocTrim(nuint pad);

    private static bool _unavailable = !OperatingSystem.IsLinux();

    /// <summary>malloc_trim(0) where glibc has it; a no-op elsewhere (musl, other systems).</summary>
    public static void Trim()
    {
        if (_unavailable) return;
        try { MallocTrim(0); }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException) { _unavailable = true; }
    }
}
