using MedAiNode.Dicom.IO;

namespace MedAiNode.Dicom.Tests;

/// <summary>Every open, write and sync error of <see cref="DurableFile"/> reaches the caller; disk full is told apart.</summary>
public class DurableFileTests
{
    [Fact]
    public void A_folder_that_cannot_be_opened_for_its_sync_is_an_error()
    {
        if (!OperatingSystem.IsLinux()) return;
        var missing = Path.Combine(TestData.TempDir("durable"), "not-there");
        var e = Assert.Throws<IOException>(() => DurableFile.FsyncDirectory(missing));
        Assert.Contains("not-there", e.Message);
        Assert.False(DurableFile.IsOutOfSpace(e));
    }

    [Fact]
    public void A_folder_is_synced()
    {
        DurableFile.FsyncDirectory(TestData.TempDir("durable-ok"));
    }

    [Fact]
    public void A_failed_fdatasync_throws_with_its_errno()
    {
        if (!OperatingSystem.IsLinux()) return;
        using var fs = new FileStream("/dev/null", FileMode.Open, FileAccess.Write, FileShare.ReadWrite, 0);
        fs.Write(new byte[16]);
        var e = Assert.Throws<IOException>(() => DurableFile.DataSync(fs));
        Assert.Contains("fdatasync", e.Message);
        Assert.Equal(22, e.HResult); // EINVAL: /dev/null cannot be synced
        Assert.False(DurableFile.IsOutOfSpace(e));
    }

    [Fact]
    public void A_real_disk_full_error_is_recognised()
    {
        if (!OperatingSystem.IsLinux() || !File.Exists("/dev/full")) return;
        // /dev/full answers every write with ENOSPC: the exception .NET raises is the one the SCP sees on a full disk.
        using var fs = new FileStream("/dev/full", FileMode.Open, FileAccess.Write, FileShare.ReadWrite, 0);
        var e = Assert.ThrowsAny<IOException>(() => fs.Write(new byte[4096]));
        Assert.True(DurableFile.IsOutOfSpace(e), $"HResult {e.HResult}: {e.Message}");
    }

    [Fact]
    public void Other_io_errors_are_not_disk_full()
    {
        Assert.False(DurableFile.IsOutOfSpace(new IOException("Input/output error", 5)));
        Assert.False(DurableFile.IsOutOfSpace(new UnauthorizedAccessException()));
        Assert.True(DurableFile.IsOutOfSpace(new IOException("Disk quota exceeded", 122)));
    }
}
