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
        try
        {
            return new StoreRootLock(path, new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1));
        }
        // flock's EWOULDBLOCK surfaces as an IOException whose HResult is the errno (11 on Linux; a sharing violation
        // on Windows). Anything else (no space, permissions) keeps its own exception and message.
        catch (IOException e) when (e.HResult is 11 or unchecked((int)0x80070020))
        {
            throw new StoreInUseException(root, e);
        }
    }

    public void Dispose() => _file.Dispose();
}

/// <summary>Another process holds the store root's lock.</summary>
public sealed class StoreInUseException(string root, Exception inner)
    : IOException($"Store:Root {root} is in use by another MedAiNode process (it holds {System.IO.Path.Combine(root, StoreRootLock.FileName)}); " +
                  "each node needs its own Store:Root: stop the other process or give this one another root", inner)
{
    public string Root { get; } = root;
}
