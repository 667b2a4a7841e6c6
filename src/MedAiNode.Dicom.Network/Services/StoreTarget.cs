using MedAiNode.Dicom.IO;
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
        var fill = FillPercentProbe?.Invoke() ?? DurableFile.FillPercent(Root);
        return fill > _options.MaxFillPercent ? $"storage is {fill:0.#}% full (limit {_options.MaxFillPercent:0.#}%)" : null;
    }

    public ValueTask<string> CommitAsync(ReceivedInstance instance, CancellationToken ct)
    {
        var dir = Path.Combine(Root, SafeUid(instance.StudyInstanceUid), SafeUid(instance.SeriesInstanceUid));
        var name = SafeUid(instance.SopInstanceUid) + ".dcm";
        DurableFile.MoveInto(instance.TempPath, dir, name, _options.Fsync && _options.FsyncDirectory);
        return ValueTask.FromResult(Path.Combine(dir, name));
    }

    /// <summary>UIDs come from the network: anything that is not a plain UID must never become a path.</summary>
    public static bool IsSafeUid(string uid) => uid.Length is > 0 and <= 64 && UidPattern().IsMatch(uid);

    private static string SafeUid(string uid) => IsSafeUid(uid) ? uid : "unknown";

    [GeneratedRegex("^[0-9]+(\\.[0-9]+)*$")]
    private static partial Regex UidPattern();
}
