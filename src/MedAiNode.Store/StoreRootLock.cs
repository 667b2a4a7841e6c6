namespace MedAiNode.Store;

/// <summary>
/// Keeps a second node process off a store root one node already uses. Each node needs its own Store:Root: a second
/// process on the same root would replay the first one's intake journal and write its checkpoints, or, with another
/// Store:JournalSizeMiB, move the journal aside while the first still appends acknowledged instances to it. The lock
/// is the kernel's advisory lock on <c>&lt;root&gt;/node.lock</c> (FileShare.None takes flock LOCK_EX on Linux); it
/// goes with the process however that ends, so a crash never leaves a stale lock behind.
/// </summary>
public sealed class StoreRootLock : IDisposable
{
    public const string FileName = "node.lock";
    /// <summary>Beside the lock, the holder's process id, so that a refused second node can name it (the lock file itself
    /// cannot be read by another .NET process while it is held: FileStream takes a shared flock to read).</summary>
    public const string PidFileName = "node.pid";

    private static string PidPath(string root) => System.IO.Path.Combine(root, PidFileName);

    private readonly FileStream _file;

    private StoreRootLock(string path, FileStream file)
    {
        Path = path;
        _file = file;
    }

    /// <summary>The lock file.</summary>
    public string Path { get; }

    /// <summary>Takes the lock on <paramref name="root"/> (created when missing) or throws <see cref="StoreInUseException"/>
    /// without waiting.</summary>
    public static StoreRootLock Acquire(string root)
    {
        Directory.CreateDirectory(root);
        var path = System.IO.Path.Combine(root, FileName);
        StoreRootLock held;
        try
        {
            held = new StoreRootLock(path, new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1));
        }
        // flock's EWOULDBLOCK surfaces as an IOException whose HResult is the errno (11 on Linux; a sharing violation
        // on Windows). Anything else (no space, permissions) keeps its own exception and message.
        catch (IOException e) when (e.HResult is 11 or unchecked((int)0x80070020))
        {
            throw new StoreInUseException(root, Holder(root), e);
        }
        // Best effort: only ever read to name the holder in a message; a node that cannot write it still runs.
        try { File.WriteAllText(PidPath(root), Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture) + "\n"); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        return held;
    }

    /// <summary>The process id in the root's pid file when that process is alive; null otherwise (no file, another
    /// program holding the lock, a stale file).</summary>
    private static int? Holder(string root)
    {
        try
        {
            var text = File.ReadAllText(PidPath(root)).Trim();
            if (!int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var pid)) return null;
            return OperatingSystem.IsLinux() && !Directory.Exists($"/proc/{pid}") ? null : pid;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
    }

    public void Dispose()
    {
        // The pid file goes first, while the lock still keeps any other node from writing its own.
        try { File.Delete(PidPath(System.IO.Path.GetDirectoryName(Path)!)); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        _file.Dispose();
    }
}

/// <summary>Another process holds the store root's lock.</summary>
public sealed class StoreInUseException(string root, int? holderPid, Exception inner)
    : IOException($"Store:Root {root} is in use by another MedAiNode process " +
                  (holderPid is { } pid ? $"(pid {pid}, which holds " : "(it holds ") + $"{System.IO.Path.Combine(root, StoreRootLock.FileName)}); " +
                  "each node needs its own Store:Root: stop the other process or give this one another root", inner)
{
    public string Root { get; } = root;
    /// <summary>The holder's process id, when its pid file names a live process.</summary>
    public int? HolderPid { get; } = holderPid;
}
