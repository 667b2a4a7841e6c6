namespace MedAiNode.Store.Tests;

/// <summary>One node per store root: the lock is the kernel's, so another process sees it and a dead holder frees it.</summary>
public class StoreRootLockTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    private static int FlockNonBlocking(string path) => Tool.Run("flock", ["--nonblock", "--exclusive", path, "true"], timeoutMs: 60_000).ExitCode;

    [Fact]
    public async Task A_root_another_process_holds_is_refused_naming_the_key_and_is_free_again_once_that_process_dies()
    {
        var root = TestData.TempDir("root-lock");
        var path = Path.Combine(root, StoreRootLock.FileName);
        using (await LockHolder.StartAsync(path, Timeout))
        {
            var e = Assert.Throws<StoreInUseException>(() => StoreRootLock.Acquire(root));
            Assert.Contains("Store:Root " + root, e.Message);
            Assert.Contains("each node needs its own Store:Root", e.Message);
        } // the holder is killed, as a crashed node would be
        using (var held = StoreRootLock.Acquire(root))
        {
            Assert.Equal(path, held.Path);
            Assert.Equal(1, FlockNonBlocking(path)); // another process cannot take it while we hold it
            var second = Assert.Throws<StoreInUseException>(() => StoreRootLock.Acquire(root)); // nor can a second holder in this process
            // A holder that is a node names itself: the refused one says which process to stop.
            Assert.Equal(Environment.ProcessId, second.HolderPid);
            Assert.Contains($"(pid {Environment.ProcessId}, which holds {path})", second.Message);
        }
        Assert.False(File.Exists(Path.Combine(root, StoreRootLock.PidFileName)), "the pid file outlived its lock");
        // A stale pid file (a node killed before it could remove it, its process gone) names nobody.
        File.WriteAllText(Path.Combine(root, StoreRootLock.PidFileName), "2147483647\n");
        using (await LockHolder.StartAsync(path, Timeout))
        {
            var e = Assert.Throws<StoreInUseException>(() => StoreRootLock.Acquire(root));
            Assert.Null(e.HolderPid);
            Assert.Contains($"(it holds {path})", e.Message);
        }
        Assert.Equal(0, FlockNonBlocking(path));
        StoreRootLock.Acquire(root).Dispose();
    }

    [Fact]
    public void A_root_that_cannot_be_created_keeps_its_own_error()
    {
        var file = Path.Combine(TestData.TempDir("root-lock-file"), "not-a-folder");
        File.WriteAllText(file, "");
        var e = Assert.ThrowsAny<IOException>(() => StoreRootLock.Acquire(Path.Combine(file, "store")));
        Assert.IsNotType<StoreInUseException>(e);
    }
}
