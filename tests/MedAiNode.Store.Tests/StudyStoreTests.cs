using MedAiNode.Dicom;
using MedAiNode.Dicom.IO;
using static MedAiNode.Store.Tests.StoreTestInput;

namespace MedAiNode.Store.Tests;

internal sealed class ManualClock : TimeProvider
{
    public DateTimeOffset Now { get; set; } = new(2026, 11, 25, 8, 0, 0, TimeSpan.Zero);
    public override DateTimeOffset GetUtcNow() => Now;
}

public class StudyStoreTests
{
    private readonly string _root = TestData.TempDir("store");
    private readonly ManualClock _clock = new();

    private StudyStore NewStore(Action<StudyStoreOptions>? configure = null)
    {
        var o = new StudyStoreOptions { JournalSizeMiB = 8, Root = _root, QuietPeriod = TimeSpan.FromSeconds(30) };
        configure?.Invoke(o);
        return new StudyStore(o, null, _clock);
    }

    /// <summary>A copy of a real slice in the incoming folder, as the SCP leaves it.</summary>
    private string Incoming(StudyStore store, string source, Action<DicomDataset>? edit = null)
    {
        var file = DicomFile.Open(source);
        edit?.Invoke(file.Dataset);
        var path = Path.Combine(store.IncomingRoot, Guid.NewGuid().ToString("N") + ".part");
        file.Save(path);
        return path;
    }

    [Fact]
    public void Instances_are_filed_by_study_and_series_and_duplicates_replace()
    {
        var store = NewStore();
        var a = store.Store(Incoming(store, Philips(1)), "SCANNER1");
        var b = store.Store(Incoming(store, Philips(2)), "SCANNER1");
        var again = store.Store(Incoming(store, Philips(1)), "SCANNER1");
        Assert.True(File.Exists(a.Path));
        Assert.EndsWith(Path.Combine(a.StudyInstanceUid, a.SeriesInstanceUid, a.SopInstanceUid + ".dcm"), a.Path);
        Assert.False(a.ReplacedExisting);
        Assert.True(again.ReplacedExisting);
        var record = store.Get(a.StudyInstanceUid)!;
        Assert.Equal(2, record.InstanceCount);
        Assert.Equal("CT", record.Series[a.SeriesInstanceUid].Modality);
        Assert.Equal(new[] { "SCANNER1" }, record.CallingAeTitles);
        Assert.Equal(2, store.InstancePaths(a.StudyInstanceUid).Count());
        Assert.Empty(Directory.GetFiles(store.IncomingRoot));
    }

    /// <summary>An ordinary arrival does not rewrite study.json (one file write and rename fewer per instance at intake);
    /// a restart still knows every instance and the last arrival, from the files and their series folder's time.</summary>
    [Fact]
    public void Arrivals_without_an_index_write_are_recovered_from_the_files_at_start()
    {
        var store = new StudyStore(new StudyStoreOptions { JournalSizeMiB = 8, Root = _root }, null, TimeProvider.System);
        var a = store.Store(Incoming(store, Philips(1)), "SCANNER1");
        var index = Path.Combine(store.StudiesRoot, a.StudyInstanceUid, "study.json");
        var written = File.ReadAllText(index);
        Thread.Sleep(1100); // folder times have at least 1 s resolution on some file systems
        store.Store(Incoming(store, Philips(2)), "SCANNER1");
        store.Store(Incoming(store, Philips(3)), "SCANNER1");
        var live = store.Get(a.StudyInstanceUid)!;
        Assert.Equal(written, File.ReadAllText(index)); // same AE, same priority, nothing new: not rewritten

        var restarted = new StudyStore(new StudyStoreOptions { JournalSizeMiB = 8, Root = _root }, null, TimeProvider.System).Get(a.StudyInstanceUid)!;
        Assert.Equal(3, restarted.InstanceCount);
        Assert.True(restarted.LastArrival >= live.LastArrival - TimeSpan.FromSeconds(1), $"{restarted.LastArrival:O} vs {live.LastArrival:O}");
        Assert.True(restarted.LastArrival > live.FirstArrival, "the last arrival came from the series folder, not the index");

        // What the files cannot tell is written at once: a new calling AE title.
        store.Store(Incoming(store, Philips(4)), "SCANNER2");
        Assert.Contains("SCANNER2", File.ReadAllText(index));
    }

    [Fact]
    public void Bad_files_are_quarantined_with_their_reason_and_nothing_is_lost()
    {
        var store = NewStore();
        // Unreadable data never reaches the store: its receiver's one parse refuses it (the SCP answers 0xC000, a
        // WADO-RS fetch reports the part as a problem).
        var garbage = Path.Combine(store.IncomingRoot, "x.part");
        File.WriteAllBytes(garbage, File.ReadAllBytes(Philips(1))[..605]);
        Assert.ThrowsAny<DicomFormatException>(() => ReceivedInstance.Read(garbage, "SCANNER1"));
        File.Delete(garbage);
        var noUid = Incoming(store, Philips(1), ds => ds.Remove(DicomTags.SeriesInstanceUID));
        var e = Assert.Throws<StoreRejectedException>(() => store.Store(noUid, "SCANNER1"));
        Assert.Contains("SeriesInstanceUID", e.Message);
        var noStudy = Incoming(store, Philips(2), ds => ds.Remove(DicomTags.StudyInstanceUID));
        Assert.Throws<StoreRejectedException>(() => store.Store(noStudy, "SCANNER1"));

        var kept = Directory.GetFiles(store.QuarantineRoot, "*.dcm");
        var reasons = Directory.GetFiles(store.QuarantineRoot, "*.reason.txt").Select(File.ReadAllText).ToList();
        Assert.Equal(2, kept.Length);
        Assert.Contains(reasons, r => r.Contains("SeriesInstanceUID"));
        Assert.Contains(reasons, r => r.Contains("StudyInstanceUID is missing or not a valid UID"));
        Assert.Empty(store.List());
    }

    [Theory]
    [InlineData("1.2.840.10008.5.1.4.1.1.2", true)]
    [InlineData("2.25.294563084977871492866196575750261651776", true)]
    [InlineData("", false)]
    [InlineData("1.02.3", false)] // leading zero in a component
    [InlineData("1..2", false)]
    [InlineData("1.2.", false)]
    [InlineData("../../etc", false)]
    [InlineData("1.2.3\\4", false)]
    public void One_uid_rule_decides_what_intake_files(string uid, bool valid)
    {
        Assert.Equal(valid, ReceivedInstance.IsValidUid(uid));
        Assert.False(ReceivedInstance.IsValidUid("1." + new string('2', 63))); // 65 characters
    }

    [Fact]
    public void A_study_completes_after_its_quiet_period_once_with_per_ae_overrides()
    {
        var store = NewStore(o => o.QuietPeriodByCallingAe["SLOWCT"] = TimeSpan.FromMinutes(2));
        var s = store.Store(Incoming(store, Philips(1)), "SCANNER1");
        _clock.Now += TimeSpan.FromSeconds(29);
        Assert.Empty(store.TakeCompleted());
        _clock.Now += TimeSpan.FromSeconds(2);
        var done = Assert.Single(store.TakeCompleted());
        Assert.Equal(s.StudyInstanceUid, done.StudyInstanceUid);
        Assert.Empty(store.TakeCompleted());

        var slow = store.Store(Incoming(store, Philips(3), ds => ds.Set(DicomTags.StudyInstanceUID, "1.2.826.0.1.3680043.10.9.1")), "SLOWCT");
        _clock.Now += TimeSpan.FromSeconds(90);
        Assert.Empty(store.TakeCompleted());
        _clock.Now += TimeSpan.FromSeconds(31);
        Assert.Equal(slow.StudyInstanceUid, Assert.Single(store.TakeCompleted()).StudyInstanceUid);
    }

    [Fact]
    public void Stat_priority_comes_from_calling_ae_or_study_priority()
    {
        var store = NewStore(o => o.StatCallingAeTitles.Add("ER_CT"));
        var er = store.Store(Incoming(store, Philips(1)), "ER_CT");
        Assert.Equal("stat", store.Get(er.StudyInstanceUid)!.Priority);
        var high = store.Store(Incoming(store, Philips(2), ds => ds.Set(DicomTags.StudyInstanceUID, "1.2.826.0.1.3680043.10.9.2").Set(DicomTags.StudyPriorityID, "HIGH")), "SCANNER1");
        Assert.Equal("stat", store.Get(high.StudyInstanceUid)!.Priority);
        var routine = store.Store(Incoming(store, Philips(3), ds => ds.Set(DicomTags.StudyInstanceUID, "1.2.826.0.1.3680043.10.9.3")), "SCANNER1");
        Assert.Equal("routine", store.Get(routine.StudyInstanceUid)!.Priority);
    }

    [Fact]
    public void Late_arrival_reopens_an_analysed_study_and_changes_its_fingerprint()
    {
        var store = NewStore();
        var s = store.Store(Incoming(store, Philips(1)), "SCANNER1");
        _clock.Now += TimeSpan.FromMinutes(1);
        store.TakeCompleted();
        var fp = store.Fingerprint(s.StudyInstanceUid, s.SeriesInstanceUid);
        Assert.True(store.Transition(s.StudyInstanceUid, StudyState.Analysing).Moved);
        Assert.True(store.Transition(s.StudyInstanceUid, StudyState.Delivered, mutate: r => r.AnalysedFingerprint = fp).Moved);
        Assert.False(store.Transition(s.StudyInstanceUid, StudyState.Failed).Moved); // Delivered is final

        store.Store(Incoming(store, Philips(2)), "SCANNER1");
        var r = store.Get(s.StudyInstanceUid)!;
        Assert.Equal(StudyState.Receiving, r.State);
        Assert.NotEqual(fp, store.Fingerprint(s.StudyInstanceUid, s.SeriesInstanceUid));
        Assert.Equal(fp, r.AnalysedFingerprint);
    }

    [Fact]
    public void A_restart_rebuilds_the_index_from_the_files_and_drops_partial_transfers()
    {
        var store = NewStore();
        var a = store.Store(Incoming(store, Philips(1)), "SCANNER1");
        store.Store(Incoming(store, Philips(2)), "SCANNER1");
        _clock.Now += TimeSpan.FromMinutes(1);
        store.TakeCompleted();
        store.Transition(a.StudyInstanceUid, StudyState.Analysing);
        // A crash: the index of the study is lost and a half-written transfer is left behind.
        File.Delete(Path.Combine(store.StudiesRoot, a.StudyInstanceUid, "study.json"));
        File.WriteAllBytes(Path.Combine(store.IncomingRoot, "half.part"), new byte[100]);

        var reopened = NewStore();
        var r = reopened.Get(a.StudyInstanceUid)!;
        Assert.Equal(2, r.InstanceCount);
        Assert.Equal(StudyState.Receiving, r.State); // analysed again after its quiet period: nothing that got Success is lost
        Assert.Empty(Directory.GetFiles(reopened.IncomingRoot));

        // With its index intact, a study left mid-analysis is reported as unfinished.
        var store2 = NewStore();
        store2.TakeCompleted();
        _clock.Now += TimeSpan.FromMinutes(1);
        store2.TakeCompleted();
        store2.Transition(a.StudyInstanceUid, StudyState.Analysing);
        var third = NewStore();
        Assert.Contains(third.Unfinished(), x => x.StudyInstanceUid == a.StudyInstanceUid && x.State == StudyState.Analysing);
    }

    [Fact]
    public void Options_are_validated_with_the_key_named()
    {
        var o = new StudyStoreOptions { JournalSizeMiB = 8, Root = "data\0", QuietPeriod = TimeSpan.FromDays(2) };
        o.QuietPeriodByCallingAe["X"] = TimeSpan.FromSeconds(-1);
        var errors = o.Validate().ToList();
        Assert.Contains(errors, e => e.StartsWith("Store:Root"));
        Assert.Contains(errors, e => e.StartsWith("Store:QuietPeriod "));
        Assert.Contains(errors, e => e.StartsWith("Store:QuietPeriodByCallingAe:X"));
    }

    [Fact]
    public void Store_root_never_depends_on_the_working_directory()
    {
        var home = Path.Combine(_root, "home");
        var xdg = Path.Combine(_root, "xdg");
        var state = Path.Combine(_root, "state");
        var system = Path.Combine(_root, "var-lib-medainode"); // stands in for /var/lib/medainode
        Func<string, string?> Env(params (string Key, string Value)[] vars) => k => vars.FirstOrDefault(v => v.Key == k).Value;

        string Home(Func<string, string?> env)
        {
            Assert.True(NodeDataHome.TryResolve(out var dataHome, out var why, env, system), why);
            return dataHome;
        }

        // The data home: systemd's STATE_DIRECTORY, then a writable system folder, then $XDG_DATA_HOME, then ~/.local/share.
        Assert.Equal(Path.Combine(home, ".local", "share", "medainode"), Home(Env(("HOME", home))));
        Assert.Equal(Path.Combine(xdg, "medainode"), Home(Env(("HOME", home), ("XDG_DATA_HOME", xdg))));
        Directory.CreateDirectory(system);
        Assert.Equal(system, Home(Env(("HOME", home), ("XDG_DATA_HOME", xdg))));
        Assert.Equal(state, Home(Env(("HOME", home), ("STATE_DIRECTORY", state + ":/other"))));
        Assert.False(NodeDataHome.TryResolve(out _, out var none, Env(), Path.Combine(_root, "absent")));
        Assert.Contains("absolute path", none);

        // The option itself: empty is the data home, relative is under it, absolute is itself; the working directory
        // plays no part (the process test in Worker.Tests starts the service from another folder).
        var env = Env(("HOME", home), ("STATE_DIRECTORY", state));
        Assert.Equal(state, new StudyStoreOptions().ResolveRoot(env));
        Assert.Equal(Path.Combine(state, "data"), new StudyStoreOptions { JournalSizeMiB = 8, Root = "data" }.ResolveRoot(env));
        Assert.Equal(Path.Combine(_root, "abs"), new StudyStoreOptions { JournalSizeMiB = 8, Root = Path.Combine(_root, "abs") }.ResolveRoot(env));
        Assert.DoesNotContain(new StudyStoreOptions { JournalSizeMiB = 8, Root = "data" }.Validate(), e => e.StartsWith("Store:Root"));
    }

    [Fact]
    public void Finished_studies_past_retention_are_removed_whole_and_others_stay()
    {
        var store = NewStore();
        var delivered = store.Store(Incoming(store, Philips(1)), "CT").StudyInstanceUid;
        var receiving = store.Store(Incoming(store, Philips(2), d => d.Set(DicomTags.StudyInstanceUID, "1.2.826.0.1.3680043.10.9.99")), "CT").StudyInstanceUid;
        _clock.Now += TimeSpan.FromMinutes(1);
        store.TakeCompleted();
        foreach (var to in new[] { StudyState.Queued, StudyState.Analysing, StudyState.Delivered })
            Assert.True(store.Transition(delivered, to).Moved);
        Assert.True(store.Transition(receiving, StudyState.Analysing).Moved);

        Assert.Empty(store.RemoveFinished(TimeSpan.FromDays(7))); // too recent
        _clock.Now += TimeSpan.FromDays(8);
        // The caller's files of the study go first; when that fails (or the process dies there) the study stays in the
        // store for the next retention, rather than leaving files of a study no longer known.
        Assert.Throws<IOException>(() => store.RemoveFinished(TimeSpan.FromDays(7), _ => throw new IOException("results folder busy")));
        Assert.Equal(StudyState.Delivered, store.Get(delivered)!.State);
        Assert.True(Directory.Exists(Path.Combine(store.StudiesRoot, delivered)));
        var before = new List<string>();
        Assert.Equal([delivered], store.RemoveFinished(TimeSpan.FromDays(7), uid => { before.Add(uid); Assert.NotNull(store.Get(uid)); }));
        Assert.Equal([delivered], before);
        Assert.Null(store.Get(delivered));
        Assert.False(Directory.Exists(Path.Combine(store.StudiesRoot, delivered)));
        Assert.Empty(Directory.GetDirectories(store.TrashRoot));
        Assert.NotNull(store.Get(receiving)); // still being analysed: kept however old

        // A restart finds the same store; an arrival for the removed study starts it afresh.
        var reopened = NewStore();
        Assert.Null(reopened.Get(delivered));
        reopened.Store(Incoming(reopened, Philips(1)), "CT");
        Assert.Equal(StudyState.Receiving, reopened.Get(delivered)!.State);
    }

    [Fact]
    public void A_delete_interrupted_by_a_crash_is_finished_at_start_and_never_looks_like_a_study()
    {
        var store = NewStore();
        var half = Path.Combine(store.TrashRoot, "1.2.3-deadbeef", "1.2.3.4");
        Directory.CreateDirectory(half);
        File.WriteAllBytes(Path.Combine(half, "1.2.3.4.5.dcm"), [1, 2, 3]);
        var reopened = NewStore();
        Assert.False(Directory.Exists(Path.Combine(store.TrashRoot, "1.2.3-deadbeef")));
        Assert.Empty(reopened.List());
    }
}
