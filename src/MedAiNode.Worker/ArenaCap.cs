using System.Runtime.InteropServices;
using MedAiNode.Inference.Runtime;

namespace MedAiNode.Worker;

/// <summary>
/// Starts the process again, in place (same PID, arguments, environment and open streams), with MALLOC_ARENA_MAX set
/// when the operator set none. glibc reads it at start only; mallopt from Main comes too late, because the runtime's
/// own threads have made eight or more arenas by then, and glibc keeps them (one warm head analysis 464 MiB with mallopt,
/// 449.5 with the exec, 471.5 uncapped; docs/benchmarks.md, "glibc's arenas capped"). Costs one runtime start (lost
/// in the noise of `--version`'s 0.14-0.43 s); if exec fails, mallopt caps what it still can.
/// </summary>
internal static partial class ArenaCap
{
    private const string Variable = "MALLOC_ARENA_MAX";

    [LibraryImport("libc", EntryPoint = "execve", SetLastError = true)]
    private static partial int Execve(nint path, nint[] argv, nint[] envp);

    public static void Apply()
    {
        if (!OperatingSystem.IsLinux() || !string.IsNullOrEmpty(Environment.GetEnvironmentVariable(Variable)) || Environment.ProcessPath is not { } exe)
        {
            NativeHeap.LimitArenas();
            return;
        }
        byte[] argv, envp;
        try
        {
            // The exact argv and environment the process was started with, as bytes (the runtime's view may differ in
            // order or encoding): NUL-separated, NUL-terminated.
            argv = File.ReadAllBytes("/proc/self/cmdline");
            envp = [.. File.ReadAllBytes("/proc/self/environ"), .. System.Text.Encoding.ASCII.GetBytes($"{Variable}={NativeHeap.DefaultArenaMax}\0")];
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { NativeHeap.LimitArenas(); return; }
        ForgetDiagnosticsSocket();
        var blocks = new List<nint>();
        try
        {
            nint Native(byte[] bytes)
            {
                var p = Marshal.AllocHGlobal(bytes.Length);
                blocks.Add(p);
                Marshal.Copy(bytes, 0, p, bytes.Length);
                return p;
            }
            var path = Native([.. System.Text.Encoding.UTF8.GetBytes(exe), 0]);
            Execve(path, Pointers(Native(argv), argv), Pointers(Native(envp), envp)); // returns only on failure
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException) { }
        finally { foreach (var p in blocks) Marshal.FreeHGlobal(p); }
        NativeHeap.LimitArenas();
    }

    /// <summary>
    /// The runtime's diagnostics endpoint (dotnet-counters, dotnet-trace, dotnet-dump) is a socket file named by process
    /// id and start time, both unchanged by exec: left in place, the started-again runtime cannot bind it and the node
    /// answers no diagnostics tool. Removed first; the new runtime makes it again.
    /// </summary>
    private static void ForgetDiagnosticsSocket()
    {
        try
        {
            foreach (var f in Directory.EnumerateFiles(Path.GetTempPath(), $"dotnet-diagnostic-{Environment.ProcessId}-*-socket"))
                File.Delete(f);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }

    /// <summary>A pointer to each NUL-terminated string in <paramref name="strings"/> (copied to <paramref name="at"/>), then null.
    /// The kernel ends /proc/self/cmdline and environ with a NUL, and the added variable ends with one.</summary>
    private static nint[] Pointers(nint at, byte[] strings)
    {
        var list = new List<nint>();
        for (int i = 0, start = 0; i < strings.Length; i++)
            if (strings[i] == 0) { list.Add(at + start); start = i + 1; }
        list.Add(0);
        return [.. list];
    }
}
