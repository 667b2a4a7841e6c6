using System.Runtime.InteropServices;
using System.Text.RegularExpressions;

namespace MedAiNode.Dicom.Network.Services;

/// <summary>A received instance, complete and fsynced in a temporary file, waiting to be put in place.</summary>
public sealed record ReceivedInstance(
    string TempPath,
    string SopClassUid,
    string SopInstanceUid,
    string StudyInstanceUid,
    string SeriesInstanceUid,
    DicomTransferSyntax TransferSyntax,
    string CallingAE,
    string CalledAE,
    long Length);

/// <summary>Where C-STORE puts received instances. The worker's study store implements this; <see cref="FolderStoreTarget"/> is the default.</summary>
public interface IDicomStoreTarget
{
    /// <summary>A folder on the same file system as the final location, so the commit is a rename.</summary>
    string TempDirectory { get; }
    /// <summary>Null when there is room for another instance; else why not (answered as 0xA700).</summary>
    string? CheckCapacity();
    /// <summary>Moves the temporary file into place, replacing an earlier copy of the same SOP Instance UID. Returns the final path.</summary>
    ValueTask<string> CommitAsync(ReceivedInstance instance, CancellationToken ct);
}

public sealed class FolderStoreTargetOptions
{
    public string Root { get; set; } = "";
    /// <summary>Refuse new instances (0xA700) while the file system is fuller than this, in percent.</summary>
    public double MaxFillPercent { get; set; } = 95;
    /// <summary>fsync each file before answering Success, and its folder after the rename.</summary>
    public bool Fsync { get; set; } = true;
    /// <summary>Also fsync the folder after the rename, so the file's final name survives a power cut (needs <see cref="Fsync"/>).</summary>
    public bool FsyncDirectory { get; set; } = true;

    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(Root)) throw new NetworkOptionsException("Dicom:Store:Root", "is required");
        if (MaxFillPercent is <= 0 or > 100) throw new NetworkOptionsException("Dicom:Store:MaxFillPercent", $"{MaxFillPercent} is not a percentage in (0, 100]");
    }
}

/// <summary>Files instances as &lt;root&gt;/&lt;StudyUID&gt;/&lt;SeriesUID&gt;/&lt;SOPInstanceUID&gt;.dcm.</summary>
public sealed partial class FolderStoreTarget : IDicomStoreTarget
{
    private readonly FolderStoreTargetOptions _options;

    public FolderStoreTarget(FolderStoreTargetOptions options)
    {
        options.Validate();
        _options = options;
        Root = Path.GetFullPath(options.Root);
        Directory.CreateDirectory(Root);
        TempDirectory = Path.Combine(Root, ".incoming");
        Directory.CreateDirectory(TempDirectory);
    }

    public FolderStoreTarget(string root) : this(new FolderStoreTargetOptions { Root = root }) { }

    public string Root { get; }
    public string TempDirectory { get; }
    public bool Fsync => _options.Fsync;

    /// <summary>Overrides the measured fill level (tests).</summary>
    public Func<double>? FillPercentProbe { get; set; }

    public string? CheckCapacity()
    {
        var fill = FillPercentProbe?.Invoke() ?? MeasureFill();
        return fill > _options.MaxFillPercent ? $"storage is {fill:0.#}% full (limit {_options.MaxFillPercent:0.#}%)" : null;
    }

    private double MeasureFill()
    {
        var d = new DriveInfo(Root);
        return d.TotalSize == 0 ? 0 : 100.0 * (d.TotalSize - d.AvailableFreeSpace) / d.TotalSize;
    }

    public ValueTask<string> CommitAsync(ReceivedInstance instance, CancellationToken ct)
    {
        var dir = Path.Combine(Root, SafeUid(instance.StudyInstanceUid), SafeUid(instance.SeriesInstanceUid));
        var created = !Directory.Exists(dir);
        Directory.CreateDirectory(dir);
        var final = Path.Combine(dir, SafeUid(instance.SopInstanceUid) + ".dcm");
        File.Move(instance.TempPath, final, overwrite: true);
        if (_options.Fsync && _options.FsyncDirectory)
        {
            Posix.FsyncDirectory(dir);
            if (created) Posix.FsyncDirectory(Path.GetDirectoryName(dir)!);
        }
        return ValueTask.FromResult(final);
    }

    /// <summary>UIDs come from the network: anything that is not a plain UID must never become a path.</summary>
    public static bool IsSafeUid(string uid) => uid.Length is > 0 and <= 64 && UidPattern().IsMatch(uid);

    private static string SafeUid(string uid) => IsSafeUid(uid) ? uid : "unknown";

    [GeneratedRegex("^[0-9]+(\\.[0-9]+)*$")]
    private static partial Regex UidPattern();
}

internal static partial class Posix
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
}
