using System.Diagnostics;

namespace MedAiNode.Testing;

/// <summary>
/// Another process holding the kernel's advisory lock (flock) on a file, as a second node would: util-linux flock(1)
/// exec'ing sleep (no fork: one process holds the lock). Disposing kills it, which is how a crashed holder lets go.
/// </summary>
public sealed class LockHolder : IDisposable
{
    private readonly Process _process;

    private LockHolder(Process process) => _process = process;

    /// <summary>Starts the holder and returns once /proc/locks shows its lock on <paramref name="path"/>.</summary>
    public static async Task<LockHolder> StartAsync(string path, TimeSpan timeout)
    {
        var psi = new ProcessStartInfo("flock") { UseShellExecute = false, RedirectStandardError = true };
        foreach (var a in new[] { "--exclusive", "--no-fork", path, "sleep", "3600" }) psi.ArgumentList.Add(a);
        var holder = new LockHolder(Process.Start(psi) ?? throw new InvalidOperationException("flock (util-linux) did not start"));
        var sw = Stopwatch.StartNew();
        while (!holder.Holds())
        {
            if (holder._process.HasExited || sw.Elapsed > timeout)
            {
                var why = holder._process.HasExited ? $"flock exited {holder._process.ExitCode}: {holder._process.StandardError.ReadToEnd()}" : $"no lock after {timeout}";
                holder.Dispose();
                throw new InvalidOperationException("lock holder: " + why);
            }
            await Task.Delay(20);
        }
        return holder;
    }

    /// <summary>/proc/locks lists a FLOCK entry with the holder's process id.</summary>
    private bool Holds() =>
        File.ReadLines("/proc/locks").Any(l => l.Contains("FLOCK") && l.Split(' ', StringSplitOptions.RemoveEmptyEntries) is var f
                                                && f.Length > 4 && f[4] == _process.Id.ToString());

    public void Dispose()
    {
        try { _process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
        _process.WaitForExit();
        // The kernel closes a dead process's files before its parent can reap it, so the lock is gone by now; say so
        // plainly if it ever is not, instead of letting the next assertion puzzle.
        if (Holds()) throw new InvalidOperationException($"lock holder {_process.Id} exited but /proc/locks still lists its lock");
        _process.Dispose();
    }
}
