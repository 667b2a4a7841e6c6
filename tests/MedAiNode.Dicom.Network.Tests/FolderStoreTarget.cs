using MedAiNode.Dicom.IO;

namespace MedAiNode.Dicom.Network.Tests;

/// <summary>
/// The SCP's tests file into a plain folder, &lt;root&gt;/&lt;StudyUID&gt;/&lt;SeriesUID&gt;/&lt;SOPInstanceUID&gt;.dcm,
/// so they can check the network layer without the study store (which is the service's only target). It files from
/// the instance the SCP parsed; a UID that fails <see cref="ReceivedInstance.IsValidUid"/> becomes "unknown".
/// </summary>
public sealed class FolderStoreTarget : IDicomStoreTarget
{
    private readonly double _maxFillPercent;

    public FolderStoreTarget(string root, bool fsync = true, double maxFillPercent = 95)
    {
        Root = Path.GetFullPath(root);
        Directory.CreateDirectory(Root);
        TempDirectory = Path.Combine(Root, ".incoming");
        Directory.CreateDirectory(TempDirectory);
        Fsync = fsync;
        _maxFillPercent = maxFillPercent;
    }

    public string Root { get; }
    public string TempDirectory { get; }
    public bool Fsync { get; }

    /// <summary>Overrides the measured fill level.</summary>
    public Func<double>? FillPercentProbe { get; set; }

    public string? CheckCapacity()
    {
        var fill = FillPercentProbe?.Invoke() ?? DurableFile.FillPercent(Root);
        return fill > _maxFillPercent ? $"storage is {fill:0.#}% full (limit {_maxFillPercent:0.#}%)" : null;
    }

    public ValueTask<string> CommitAsync(ReceivedInstance instance, CancellationToken ct)
    {
        var dir = Path.Combine(Root, SafeUid(instance.StudyInstanceUid), SafeUid(instance.SeriesInstanceUid));
        var name = SafeUid(instance.SopInstanceUid) + ".dcm";
        DurableFile.MoveInto(instance.TempPath, dir, name, Fsync);
        return ValueTask.FromResult(Path.Combine(dir, name));
    }

    private static string SafeUid(string uid) => ReceivedInstance.IsValidUid(uid) ? uid : "unknown";
}
