namespace MedAiNode.Store;

/// <summary>Section "Store".</summary>
public sealed class StudyStoreOptions
{
    public const string Section = "Store";
    /// <summary>Folder holding studies/, quarantine/, the outbox and results. Empty (the default): the node's data home
    /// (<see cref="NodeDataHome"/>); a relative path is taken under the data home, never under the working directory,
    /// so where data lands does not depend on how the service was started.</summary>
    public string Root { get; set; } = "";
    /// <summary>A study is complete after this long without a new instance.</summary>
    public TimeSpan QuietPeriod { get; set; } = TimeSpan.FromSeconds(30);
    /// <summary>Per calling AE title quiet periods (a modality that pauses between series may need longer).</summary>
    public Dictionary<string, TimeSpan> QuietPeriodByCallingAe { get; set; } = new(StringComparer.Ordinal);
    /// <summary>Calling AE titles whose studies go to the "stat" queue.</summary>
    public List<string> StatCallingAeTitles { get; set; } = new();
    /// <summary>StudyPriorityID (0032,000C) values that make a study "stat" (e.g. HIGH).</summary>
    public List<string> StatStudyPriorities { get; set; } = new() { "HIGH" };
    /// <summary>New instances are refused (C-STORE 0xA700) while the store's file system is fuller than this, in percent.</summary>
    public double MaxFillPercent { get; set; } = 95;
    /// <summary>fsync each received file's data before it is answered Success (C-STORE) and filed.</summary>
    public bool Fsync { get; set; } = true;
    /// <summary>Also fsync the series folder after the rename that files an instance, so its name survives a power cut.</summary>
    public bool FsyncDirectory { get; set; } = true;
    /// <summary>Size of the intake journal (<c>journal/intake.journal</c> under the root) in MiB, written with zeros once
    /// at start. With <see cref="Fsync"/> on, a C-STORE instance is made durable by one flush of this journal before
    /// Success, instead of flushing its file and folder; the filed files are synced in the background and the journal
    /// replayed at start. 0 turns it off (each instance's file and folder are flushed before Success). An instance
    /// larger than the free journal takes that path too.</summary>
    public int JournalSizeMiB { get; set; } = 512;
    /// <summary>With the intake journal on, an instance held in memory is filed after its answer by a write around the
    /// page cache (O_DIRECT): it is already durable in the journal and read again only when analysed, and a buffered
    /// write of a new file costs page-cache pages and a copy into them. False: filed through the page cache. Where the
    /// file system refuses O_DIRECT (tmpfs before Linux 6.6, some FUSE) the store falls back on its own and says so once.</summary>
    public bool UncachedFiling { get; set; } = true;
    /// <summary>The background checkpoint runs at once after this many journaled instances not yet covered ... (tests; not a configuration key)</summary>
    internal int JournalCheckpointInstances { get; set; } = 1024;
    /// <summary>... else once the intake paused this long (tests; not a configuration key) ...</summary>
    internal TimeSpan JournalCheckpointQuiet { get; set; } = TimeSpan.FromMilliseconds(100);
    /// <summary>... and at the latest this long after the oldest one not yet covered (tests; not a configuration key).</summary>
    internal TimeSpan JournalCheckpointInterval { get; set; } = TimeSpan.FromSeconds(10);
    /// <summary>False: checkpoints only when the journal is full (on the writing thread) or at dispose (tests).</summary>
    internal bool JournalBackgroundCheckpoints { get; set; } = true;
    /// <summary>Studies delivered or failed this long ago (and with no arrival since) are deleted with their outbox
    /// folder, so the disk does not fill with studies already back in the PACS. Zero keeps them for ever.</summary>
    public TimeSpan RetainFinishedFor { get; set; } = TimeSpan.FromDays(7);

    /// <summary>The absolute folder <see cref="Root"/> names: itself when absolute, else under the data home.</summary>
    public string ResolveRoot(Func<string, string?>? environment = null) =>
        TryResolveRoot(out var root, out var why, environment) ? root : throw new InvalidOperationException($"{Section}:{nameof(Root)}: {why}");

    public bool TryResolveRoot(out string root, out string? why, Func<string, string?>? environment = null)
    {
        why = null;
        if (Path.IsPathRooted(Root))
        {
            root = Path.GetFullPath(Root);
            return true;
        }
        if (!NodeDataHome.TryResolve(out var home, out why, environment))
        {
            root = "";
            return false;
        }
        root = string.IsNullOrWhiteSpace(Root) ? home : Path.GetFullPath(Path.Combine(home, Root));
        return true;
    }

    public IEnumerable<string> Validate()
    {
        if (Root.Contains('\0')) yield return $"{Section}:{nameof(Root)} is not a valid path";
        else if (!TryResolveRoot(out _, out var why)) yield return $"{Section}:{nameof(Root)}: {why}";
        if (MaxFillPercent is <= 0 or > 100) yield return $"{Section}:{nameof(MaxFillPercent)} must be in (0, 100] (was {MaxFillPercent})";
        if (QuietPeriod < TimeSpan.Zero || QuietPeriod > TimeSpan.FromDays(1)) yield return $"{Section}:{nameof(QuietPeriod)} must be between 0 and 1 day (was {QuietPeriod})";
        if (JournalSizeMiB is < 0 or > 1 << 20) yield return $"{Section}:{nameof(JournalSizeMiB)} must be 0 (off) or between 1 and {1 << 20} MiB (was {JournalSizeMiB})";
        if (RetainFinishedFor < TimeSpan.Zero) yield return $"{Section}:{nameof(RetainFinishedFor)} must not be negative (0 keeps studies for ever)";
        foreach (var (ae, q) in QuietPeriodByCallingAe)
            if (q < TimeSpan.Zero || q > TimeSpan.FromDays(1)) yield return $"{Section}:{nameof(QuietPeriodByCallingAe)}:{ae} must be between 0 and 1 day (was {q})";
    }
}
