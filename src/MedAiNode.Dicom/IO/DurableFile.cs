using System.Runtime.InteropServices;

namespace MedAiNode.Dicom.IO;

/// <summary>
/// What "on disk" means for a receiver that answers Success: the file's data synced, and the folder synced after the
/// rename that puts it in place. Shared by the SCP's folder target and the worker's study store.
/// </summary>
public static partial class DurableFile
{
    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int open(string path, int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int fsync(int fd);

    [LibraryImport("libc", SetLastError = true)]
    internal static partial int close(int fd);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int fdatasync(int fd);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int syncfs(int fd);

    /// <summary>
    /// A folder held open to sync its whole file system at once (syncfs: every dirty file and folder, one file-system
    /// journal commit, one device flush): what the intake journal's checkpoint uses instead of one flush per file and
    /// folder. Held open for the life of the store so a write-back error anywhere on the file system since the last call
    /// is reported to this descriptor (Linux 5.8 and later), even when another process saw it first. Linux only.
    /// </summary>
    public sealed class FileSystemSync : IDisposable
    {
        private int _fd;

        public FileSystemSync(string dir)
        {
            _fd = open(dir, 0 /* O_RDONLY */);
            if (_fd < 0) throw Error($"opening folder '{dir}'", Marshal.GetLastPInvokeError());
        }

        public void Sync()
        {
            if (syncfs(_fd) != 0) throw Error("syncfs of the store's file system", Marshal.GetLastPInvokeError());
        }

        public void Dispose()
        {
            var fd = Interlocked.Exchange(ref _fd, -1);
            if (fd >= 0) close(fd);
        }
    }

    // Linux errno values this class tells apart.
    private const int EINVAL = 22, ENOSPC = 28, EROFS = 30, ENOTSUP = 95, EDQUOT = 122;

    /// <summary>fdatasync: the data and the metadata needed to read it (size), not timestamps. Falls back on a full flush.
    /// Any failure throws an <see cref="IOException"/> (HResult: the errno): the data may not be on disk.</summary>
    public static void DataSync(FileStream fs)
    {
        if (!OperatingSystem.IsLinux())
        {
            fs.Flush(flushToDisk: true);
            return;
        }
        fs.Flush();
        if (fdatasync((int)fs.SafeFileHandle.DangerousGetHandle()) != 0)
            throw Error("fdatasync of a received file", Marshal.GetLastPInvokeError());
    }

    /// <summary>fdatasync of a closed file by its path (a read-only descriptor is enough on Linux); off Linux a full
    /// flush through a writable handle. Throws an <see cref="IOException"/> as <see cref="DataSync(FileStream)"/> does;
    /// a file that no longer exists throws <see cref="FileNotFoundException"/>.</summary>
    public static void DataSync(string path)
    {
        if (!OperatingSystem.IsLinux())
        {
            using var w = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite);
            w.Flush(flushToDisk: true);
            return;
        }
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1);
        if (fdatasync((int)fs.SafeFileHandle.DangerousGetHandle()) != 0)
            throw Error("fdatasync of a received file", Marshal.GetLastPInvokeError());
    }

    /// <summary>fdatasync of an open handle (the intake journal); off Linux a full flush. Throws an
    /// <see cref="IOException"/> naming <paramref name="what"/> and the errno.</summary>
    public static void DataSync(Microsoft.Win32.SafeHandles.SafeFileHandle handle, string what)
    {
        if (!OperatingSystem.IsLinux())
        {
            using var fs = new FileStream(new Microsoft.Win32.SafeHandles.SafeFileHandle(handle.DangerousGetHandle(), ownsHandle: false), FileAccess.ReadWrite, 1);
            fs.Flush(flushToDisk: true);
            return;
        }
        if (fdatasync((int)handle.DangerousGetHandle()) != 0)
            throw Error("fdatasync of " + what, Marshal.GetLastPInvokeError());
    }

    /// <summary>Makes a rename durable: the directory entry is on disk once this returns. A no-op off Linux. Throws an
    /// <see cref="IOException"/> when the folder cannot be opened or synced: a rename that may not survive a power cut
    /// must not be reported as stored. A file system that cannot sync folders at all (EINVAL) is not an error.</summary>
    public static void FsyncDirectory(string dir)
    {
        if (!OperatingSystem.IsLinux()) return;
        var fd = open(dir, 0 /* O_RDONLY */);
        if (fd < 0) throw Error($"opening folder '{dir}' to sync it", Marshal.GetLastPInvokeError());
        try
        {
            if (fsync(fd) != 0 && Marshal.GetLastPInvokeError() is var errno && errno is not (EINVAL or ENOTSUP))
                throw Error($"fsync of folder '{dir}'", errno);
        }
        finally { close(fd); } // a read-only descriptor: nothing to lose on close
    }

    /// <summary>Whether an I/O failure means the file system is out of space or quota (ENOSPC, EDQUOT, and the Windows
    /// "disk full" errors): the case a C-STORE answers 0xA700 (out of resources), as opposed to an I/O error.</summary>
    public static bool IsOutOfSpace(Exception e) => e is IOException
        && (e.HResult is ENOSPC or EDQUOT || e.HResult == unchecked((int)0x80070070) || e.HResult == unchecked((int)0x80070027));

    internal static IOException Error(string what, int errno) => new($"{what} failed: {Describe(errno)} (errno {errno})", errno);

    private static string Describe(int errno) => errno switch
    {
        ENOSPC => "no space left on device",
        EDQUOT => "disk quota exceeded",
        EROFS => "read-only file system",
        5 => "input/output error",
        13 => "permission denied",
        2 => "no such file or folder",
        _ => Marshal.GetPInvokeErrorMessage(errno),
    };

    /// <summary>Moves a complete file into <paramref name="dir"/> (replacing an earlier copy) and syncs the folder,
    /// and its parent when the folder is new, so the final name survives a power cut.</summary>
    public static void MoveInto(string source, string dir, string fileName, bool sync = true)
    {
        var created = !Directory.Exists(dir);
        Directory.CreateDirectory(dir);
        File.Move(source, Path.Combine(dir, fileName), overwrite: true);
        if (!sync) return;
        FsyncDirectory(dir);
        if (created) FsyncDirectory(Path.GetDirectoryName(dir)!);
    }

    /// <summary>Deletes a temporary file that is no longer wanted; a file already gone, or one that cannot be deleted,
    /// is left as it is (cleanup after a failure must not hide the failure). Null: nothing was created.</summary>
    public static void TryDelete(string? path)
    {
        if (path is null) return;
        try { File.Delete(path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    /// <summary>How full the file system holding <paramref name="path"/> is, in percent.</summary>
    public static double FillPercent(string path)
    {
        var d = new DriveInfo(Path.GetFullPath(path));
        return d.TotalSize == 0 ? 0 : 100.0 * (d.TotalSize - d.AvailableFreeSpace) / d.TotalSize;
    }
}
