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
    private static partial int close(int fd);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int fdatasync(int fd);

    /// <summary>fdatasync: the data and the metadata needed to read it (size), not timestamps. Falls back on a full flush.</summary>
    public static void DataSync(FileStream fs)
    {
        if (!OperatingSystem.IsLinux())
        {
            fs.Flush(flushToDisk: true);
            return;
        }
        fs.Flush();
        if (fdatasync((int)fs.SafeFileHandle.DangerousGetHandle()) != 0)
            throw new IOException($"fdatasync failed (errno {Marshal.GetLastPInvokeError()})");
    }

    /// <summary>Makes a rename durable: the directory entry is on disk once this returns. A no-op off Linux.</summary>
    public static void FsyncDirectory(string dir)
    {
        if (!OperatingSystem.IsLinux()) return;
        var fd = open(dir, 0 /* O_RDONLY */);
        if (fd < 0) return;
        try { fsync(fd); }
        finally { close(fd); }
    }

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

    /// <summary>How full the file system holding <paramref name="path"/> is, in percent.</summary>
    public static double FillPercent(string path)
    {
        var d = new DriveInfo(Path.GetFullPath(path));
        return d.TotalSize == 0 ? 0 : 100.0 * (d.TotalSize - d.AvailableFreeSpace) / d.TotalSize;
    }
}
