using MedAiNode.Imaging.Geometry;
using MedAiNode.Imaging.Volumes;

namespace MedAiNode.Analysis.Tests;

/// <summary>
/// A box read back after the input was let go comes right after a stage's scratch (the nodule search's seed search
/// leaves about 130 MiB for 300 slices, the box around the lungs is 55): the garbage must be collected before the box
/// is read, not after, or the two add up (they did, and set a fresh node's peak, issue 16).
/// </summary>
public class ModelInputTests
{
    [Fact]
    public void A_large_box_is_read_back_after_the_garbage_before_it_is_collected()
    {
        var affine = Affine.FromDirections(new Vec3(0, 0, 0), new Vec3(0.7, 0.7, 1.1), new Vec3(1, 0, 0), new Vec3(0, 1, 0), new Vec3(0, 0, 1));
        var reader = new CountingReader(new HuVolume(new Dims(16, 16, 2), affine));
        // 10 M voxels: above the size below which a collection is not worth it.
        var input = new ModelInput<short>(new HuVolume(new Dims(256, 256, 160), affine), reader);
        Assert.True(input.Release());

        var before = GC.CollectionCount(GC.MaxGeneration);
        input.Window(new VoxelBox(0, 0, 5, new Dims(256, 256, 150)));
        Assert.True(reader.FullCollectionsAtRead > before,
            $"the box was read before any full collection ({before} before the call, {reader.FullCollectionsAtRead} at the read)");

        // A small box (a few planes' worth of voxels) is not worth a collection.
        var small = GC.CollectionCount(GC.MaxGeneration);
        input.Window(new VoxelBox(0, 0, 0, new Dims(16, 16, 2)));
        Assert.Equal(small, reader.FullCollectionsAtRead);
    }

    private sealed class CountingReader(HuVolume values) : IVoxelReader<short>
    {
        public int FullCollectionsAtRead { get; private set; } = -1;

        public VoxelWindow<short> Read(VoxelBox box)
        {
            FullCollectionsAtRead = GC.CollectionCount(GC.MaxGeneration);
            return VoxelWindow<short>.Whole(values);
        }

        public void Read(VoxelBox box, short[] into) => throw new NotSupportedException("only whole boxes are read here");
    }
}
