using MedAiNode.Dicom;
using MedAiNode.Dicom.IO;

namespace MedAiNode.Store.Tests;

/// <summary>Issue 16 F4: the disk is full at the moment a study's quiet period ends.</summary>
public class CompletionFaultTests
{
    private readonly string _root = TestData.TempDir("store-f4");
    private readonly ManualClock _clock = new();

    private static IOException DiskFull() => new("No space left on device", 28);

    private string Receive(StudyStore store)
    {
        var file = DicomFile.Open(TestData.Path_("ct", "philips-phantom-5mm", "I10.dcm"));
        var part = Path.Combine(store.IncomingRoot, Guid.NewGuid().ToString("N") + ".part");
        file.Save(part);
        return store.Store(ReceivedInstance.Read(part, "SCANNER1")).StudyInstanceUid;
    }

    [Fact]
    public void F4_a_failed_save_at_completion_leaves_the_study_receiving_with_no_stray_tmp_and_it_completes_later()
    {
        var store = new StudyStore(new StudyStoreOptions { JournalSizeMiB = 8, Root = _root, QuietPeriod = TimeSpan.FromSeconds(30) }, null, _clock);
        var uid = Receive(store);
        var dir = Path.Combine(store.StudiesRoot, uid);
        var faults = 0;
        store.IndexWriteFault = _ => { faults++; throw DiskFull(); };
        _clock.Now += TimeSpan.FromMinutes(1);

        Assert.Empty(store.TakeCompleted()); // not reported complete: its index could not say so
        Assert.Equal(1, faults);
        Assert.Equal(StudyState.Receiving, store.Get(uid)!.State);
        Assert.False(File.Exists(Path.Combine(dir, "study.json.tmp")), "a stray study.json.tmp was left");
        Assert.DoesNotContain("Complete", File.ReadAllText(Path.Combine(dir, "study.json")));

        // Space again: the next check completes it, once.
        store.IndexWriteFault = null;
        Assert.Equal(uid, Assert.Single(store.TakeCompleted()).StudyInstanceUid);
        Assert.Empty(store.TakeCompleted());
        Assert.Contains("\"Complete\"", File.ReadAllText(Path.Combine(dir, "study.json")));
        // And a restart agrees with what was reported.
        Assert.Equal(StudyState.Complete, new StudyStore(new StudyStoreOptions { JournalSizeMiB = 8, Root = _root }, null, _clock).Get(uid)!.State);
    }

    [Fact]
    public void F4_a_transition_whose_save_fails_is_not_made()
    {
        var store = new StudyStore(new StudyStoreOptions { JournalSizeMiB = 8, Root = _root, QuietPeriod = TimeSpan.FromSeconds(30) }, null, _clock);
        var uid = Receive(store);
        _clock.Now += TimeSpan.FromMinutes(1);
        Assert.Single(store.TakeCompleted());
        store.IndexWriteFault = _ => throw DiskFull();
        var e = Assert.Throws<IOException>(() => store.Transition(uid, StudyState.Queued, "queued", mutate: r => r.Priority = "stat"));
        Assert.Contains("not made", e.Message);
        var r = store.Get(uid)!;
        Assert.Equal((StudyState.Complete, "routine", null), (r.State, r.Priority, r.Reason));
        Assert.False(File.Exists(Path.Combine(store.StudiesRoot, uid, "study.json.tmp")));
        store.IndexWriteFault = null;
        Assert.True(store.Transition(uid, StudyState.Queued).Moved);
    }
}
