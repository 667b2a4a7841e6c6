using MedAiNode.Imaging.Geometry;
using MedAiNode.Imaging.Volumes;

namespace MedAiNode.Analysis;

/// <summary>
/// The model stages' input volume. When it can be read again cheaply from its frames (an int16 stack of uncompressed
/// files: about 0.5 s for 300 slices of 512x512), the stages let it go while the network runs, the analysis' memory
/// peak, and read it back for the stages after it that need the values (the nodule search, the measurements).
/// </summary>
internal sealed class ModelInput<T>(VoxelVolume<T> volume, Func<VoxelVolume<T>>? readAgain = null) where T : unmanaged
{
    private VoxelVolume<T>? _volume = volume;

    public Dims Dims { get; } = volume.Dims;
    public Affine Affine { get; } = volume.Affine;
    public IReadOnlyList<SliceReference> Slices { get; } = volume.Slices;

    /// <summary>The values, read again first if they were let go.</summary>
    public VoxelVolume<T> Volume
    {
        get
        {
            if (_volume is not null) return _volume;
            _volume = readAgain!();
            // Reading made as much garbage as the volume (each frame's bytes): collected before the next stage allocates.
            StageMemory.Release(Dims.Count);
            return _volume;
        }
    }

    /// <summary>Lets the values go when they can be read again; true if it did.</summary>
    public bool Release()
    {
        if (readAgain is null || _volume is null) return false;
        _volume = null;
        return true;
    }
}
