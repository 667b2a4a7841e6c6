namespace MedAiNode.Analysis;

/// <summary>
/// Returns a stage's garbage to the system before the next stage allocates. The stages of one CT leave hundreds of
/// megabytes of arrays behind (decoded frames, the score map, the nodule search's blur planes); the server GC keeps
/// such garbage until its budget is spent, so with two analyses at once the leftovers of both came on top of their live
/// volumes and set the node's peak memory. A full collection that does not compact costs milliseconds here (a few large
/// arrays of numbers, nothing to trace inside them) against seconds per stage.
/// </summary>
internal static class StageMemory
{
    /// <summary>Below this many voxels (a 256x256x128 volume) the garbage is too small to be worth a collection.</summary>
    private const long MinVoxels = 256 * 256 * 128;

    public static void Release(long voxels)
    {
        if (voxels < MinVoxels) return;
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: false);
    }
}
