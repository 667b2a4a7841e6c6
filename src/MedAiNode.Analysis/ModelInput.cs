using MedAiNode.Imaging.Geometry;
using MedAiNode.Imaging.Volumes;

namespace MedAiNode.Analysis;

/// <summary>
/// The model stages' input volume. When it can be read again cheaply from its frames (an int16 stack of uncompressed
/// files: about 0.5 s for 300 slices of 512x512), the stages let it go while the network runs, the analysis' memory
/// peak, and read back only what the stages after it need: the box around the lungs for the nodule search, the box
/// around the nodules for their statistics, a few planes at a time for the measurements.
/// </summary>
/// <param name="reader">Reads boxes of the volume again; null when it must be held.</param>
internal sealed class ModelInput<T>(VoxelVolume<T> volume, IVoxelReader<T>? reader = null) : IVoxelReader<T>
    where T : unmanaged
{
    private VoxelVolume<T>? _volume = volume;

    public Dims Dims { get; } = volume.Dims;
    public Affine Affine { get; } = volume.Affine;
    public IReadOnlyList<SliceReference> Slices { get; } = volume.Slices;

    /// <summary>The whole volume, while it is held (the preprocessing reads it before it is let go).</summary>
    public VoxelVolume<T> Volume => _volume
        ?? throw new InvalidOperationException("The input was let go while the network ran; read it back by box (Window) or by planes (ReadPlanes).");

    /// <summary>The values of box <paramref name="box"/> of the grid: the volume itself while it is held, else that box
    /// read again (and not kept: the stage that asked holds it).</summary>
    public VoxelWindow<T> Window(VoxelBox box)
    {
        if (_volume is not null || reader is null) return VoxelWindow<T>.Whole(Volume);
        // A large box comes after a stage's scratch (the seed search leaves about 130 MiB for 300 slices, the box is 55):
        // collected before the read, so the box takes its place instead of coming on top of it (it did, and was a fresh
        // node's peak). The frames themselves leave little since they are read through a pooled buffer.
        StageMemory.Release((long)box.Size.Z * Dims.X * Dims.Y);
        return reader.Read(box);
    }

    VoxelWindow<T> IVoxelReader<T>.Read(VoxelBox box) => Window(box);

    /// <summary>Box <paramref name="box"/> into the start of <paramref name="into"/>: copied from the volume while it is
    /// held, else decoded again straight into it (no collection: a buffer reused for many small boxes leaves little).</summary>
    public void Read(VoxelBox box, T[] into)
    {
        if (_volume is not null || reader is null) HeldVolumeReader<T>.CopyBox(Volume, box, into);
        else reader.Read(box, into);
    }

    /// <summary>Planes <paramref name="z0"/> to <paramref name="z0"/> + <paramref name="count"/> - 1 into the start of
    /// <paramref name="into"/>: copied from the volume while it is held, else decoded again straight into it.</summary>
    public void ReadPlanes(int z0, int count, T[] into) => Read(new VoxelBox(0, 0, z0, Dims with { Z = count }), into);

    /// <summary>Whether the values can be read again from the frames (so they may be let go).</summary>
    public bool CanReadAgain => reader is not null;

    /// <summary>Lets the values go when they can be read again; true if it did.</summary>
    public bool Release()
    {
        if (reader is null || _volume is null) return false;
        _volume = null;
        return true;
    }
}
