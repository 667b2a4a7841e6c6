namespace MedAiNode.Analysis;

/// <summary>
/// Returns a stage's garbage to the system before the next stage allocates. The stages of one CT leave hundreds of
/// megabytes of arrays behind (decoded frames, the score map, the anatomy rules' scratch, the nodule search's blur
/// planes); the server GC keeps such garbage until its budget is spent, so with two analyses at once the leftovers of
/// both came on top of their live volumes and set the node's peak memory.
/// </summary>
/// <remarks>
/// Aggressive: a plain full collection freed the arrays but kept their memory committed for reuse (a 300-slice chest:
/// 163 MiB committed and free before the nodule search, which then grew the process beyond it anyway); an aggressive one
/// compacts and decommits, so resident memory falls to what is live. It copies the live volumes (about 100 ms for
/// 250 MiB) against seconds per stage.
/// </remarks>
internal static class StageMemory
{
    /// <summary>Below this many voxels (a 256x256x128 volume) the garbage is too small to be worth a collection.</summary>
    private const long MinVoxels = 256 * 256 * 128;

    public static void Release(long voxels)
    {
        if (voxels < MinVoxels) return;
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
    }
}
