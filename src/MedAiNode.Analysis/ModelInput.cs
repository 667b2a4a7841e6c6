using MedAiNode.Imaging.Geometry;
using MedAiNode.Imaging.Volumes;

namespace MedAiNode.Analysis;

/// <summary>
/// The model stages' input volume. When it can be read again cheaply from its frames (an int16 stack of uncompressed
/// files: about 0.5 s for 300 slices of 512x512), the stages let it go while the network runs, the analysis' memory
/// peak, and read it back for the stages after it that need the values (the nodule search, the measurements).
/// </summary>
/// <param name="readAgain">The whole volume read again.</param>
/// <param name="readBox">A box of the volume's grid read again (the nodule search reads the box around the lungs only).</param>
internal sealed class ModelInput<T>(VoxelVolume<T> volume, Func<VoxelVolume<T>>? readAgain = null, Func<VoxelBox, VoxelWindow<T>>? readBox = null)
    where T : unmanaged
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
            // The stage before (the nodule search: its planes and its box of values) left garbage the size of the volume.
            StageMemory.Release(Dims.Count);
            _volume = readAgain!();
            // Reading made as much garbage as the volume (each frame's bytes): collected before the next stage allocates.
            StageMemory.Release(Dims.Count);
            return _volume;
        }
    }

    /// <summary>The values of box <paramref name="box"/> of the grid: the volume itself while it is held, else that box
    /// read again (and not kept: the stage that asked holds it).</summary>
    public VoxelWindow<T> Window(VoxelBox box)
    {
        if (_volume is not null || readBox is null) return VoxelWindow<T>.Whole(Volume);
        var window = readBox(box);
        // Each frame of the box's slices was read whole: garbage of that many planes.
        StageMemory.Release((long)box.Size.Z * Dims.X * Dims.Y);
        return window;
    }

    /// <summary>Lets the values go when they can be read again; true if it did.</summary>
    public bool Release()
    {
        if (readAgain is null || _volume is null) return false;
        _volume = null;
        return true;
    }
}
