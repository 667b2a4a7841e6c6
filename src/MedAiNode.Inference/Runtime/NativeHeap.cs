using System.Runtime.InteropServices;

namespace MedAiNode.Inference.Runtime;

/// <summary>
/// Gives the C heap's free pages back to the system. ONNX Runtime allocates a whole-volume run's intermediate tensors
/// with malloc (its arena is off); glibc keeps what they freed in its arenas, so without this a node's resident memory
/// stays at its largest run's, and the next stage's managed arrays come on top of it.
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
