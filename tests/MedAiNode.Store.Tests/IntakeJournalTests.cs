using MedAiNode.Dicom;
using MedAiNode.Dicom.IO;
using MedAiNode.Dicom.Network.Client;
using MedAiNode.Dicom.Network.Dimse;
using MedAiNode.Dicom.Network.Services;
using static MedAiNode.Store.Tests.StoreTestInput;

namespace MedAiNode.Store.Tests;

/// <summary>
/// Issue 16, the intake journal: a C-STORE instance is answered Success after one flush of the journal; its file is
/// renamed into the study tree unsynced and synced later by a checkpoint. These tests send real instances through the
/// SCP, then do to the unsynced files what a power cut can (gone, empty, cut short) and restart the store: every
/// acknowledged instance must be back, byte for byte, and nothing stale or torn may be filed.
/// </summary>
public class IntakeJournalTests
{
    /// <summary>A journal of <paramref name="mib"/> MiB whose checkpoints run only when it is full (on the writing
    /// thread) or at dispose, so a test knows which records a crash leaves uncovered.</summary>
    private static StudyStoreOptions Options(string root, int mib = 8) => new()
    {
        Root = root,
        JournalSizeMiB = mib,
        JournalBackgroundCheckpoints = false,
    };

    private static Dictionary<string, byte[]> Snapshot(StudyStore store) =>
        Directory.GetFiles(store.StudiesRoot, "*.dcm", SearchOption.AllDirectories).ToDictionary(p => p, File.ReadAllBytes, StringComparer.Ordinal);

    private static void Truncate(string path, long length)
    {
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Write);
        fs.SetLength(length);
    }

    /// <summary>The offsets of the records in a journal file, in sequence order (a record starts on a 4 KiB boundary
    /// with its magic; the test writes only what one run appended, so file order is sequence order).</summary>
    private static List<long> RecordOffsets(string journal)
    {
        var bytes = File.ReadAllBytes(journal);
        var offsets = new List<long>();
        for (long at = 2 * IntakeJournal.Block; at + 8 <= bytes.Length; at += IntakeJournal.Block)
            if (bytes.AsSpan((int)at, 8).SequenceEqual("MEDAIJR1"u8)) offsets.Add(at);
        return offsets;
    }

    /// <summary>Waits (up to a minute, polling) until <paramref name="done"/> holds.</summary>
    private static async Task WaitForAsync(Func<bool> done, Func<string> what)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (!done())
        {
            if (clock.Elapsed > TimeSpan.FromMinutes(1)) Assert.Fail($"not within a minute: {what()}");
            await Task.Delay(20);
        }
    }

    /// <summary>Background checkpoints wait for the intake to pause (a checkpoint's syncfs during a burst held up the
    /// flushes queued behind it), or, for an intake that never pauses long enough, at the latest the interval after the
    /// oldest record; and every batch is covered, not only the first: a checkpoint loop that found nothing pending used
    /// to sleep until a threshold (256 records) was crossed.</summary>
    [Theory]
    [InlineData(200, 3_600_000, 3)] // covered by the pause alone
    [InlineData(3_600_000, 300, 2)] // covered by the interval alone
    public async Task Each_batch_of_instances_is_checkpointed_once_the_intake_pauses_or_the_interval_is_up(int quietMs, int intervalMs, int batches)
    {
        using var store = new StudyStore(new StudyStoreOptions
        {
            Root = TestData.TempDir("journal-pause"), JournalSizeMiB = 8,
            JournalCheckpointQuiet = TimeSpan.FromMilliseconds(quietMs), JournalCheckpointInterval = TimeSpan.FromMilliseconds(intervalMs),
        });
        var journal = store.Journal!;
        for (var batch = 0; batch < batches; batch++)
        {
            var results = await ThroughScpAsync(store, Enumerable.Range(3 * batch + 1, 3).Select(Philips).ToArray());
            Assert.All(results, r => Assert.True(r.Success, $"0x{r.Status:X4} {r.ErrorComment}"));
            await WaitForAsync(() => journal.PendingPaths().Count == 0,
                () => $"batch {batch + 1}: {journal.PendingPaths().Count} records not covered after {journal.Stats.Checkpoints} checkpoints");
        }
        Assert.Equal(3 * batches, journal.Stats.Appended);
        Assert.InRange(journal.Stats.Checkpoints, batches, 3 * batches);
        Assert.Equal(0, journal.Stats.ForcedCheckpoints);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Acknowledged_instances_lost_before_a_checkpoint_are_filed_again_from_the_journal_byte_identical(bool wholeStudyLost)
    {
        var root = TestData.TempDir("journal-recover");
        var store = new StudyStore(Options(root));
        Assert.True(store.SyncsOnCommit);
        var files = Enumerable.Range(1, 10).Select(Philips).ToArray();

        var results = await ThroughScpAsync(store, files);

        Assert.All(results, r => Assert.True(r.Success, $"0x{r.Status:X4} {r.ErrorComment}"));
        Assert.Equal(10, store.Journal!.Stats.Appended);
        Assert.Equal(0, store.Journal.Stats.Checkpoints);
        Assert.Equal(10, store.Journal.PendingPaths().Count);
        var filed = Snapshot(store);
        Assert.Equal(10, filed.Count);
        var study = store.List().Single().StudyInstanceUid;
        // What a power cut can leave of files renamed but not yet synced: gone, empty, cut short; or the whole study
        // folder (its index included) never reached the disk.
        var paths = filed.Keys.Order(StringComparer.Ordinal).ToList();
        if (wholeStudyLost) Directory.Delete(Path.Combine(store.StudiesRoot, study), recursive: true);
        else
        {
            File.Delete(paths[0]);
            File.Delete(paths[1]);
            Truncate(paths[2], 0);
            Truncate(paths[3], filed[paths[3]].Length / 2);
        }
        store.SimulateCrash();

        var log = new StudyLifecycleTests.ListLogger();
        var restarted = new StudyStore(Options(root), log);

        Assert.Equal(wholeStudyLost ? (10, 0) : (4, 6), restarted.Replayed);
        foreach (var (p, bytes) in filed) Assert.Equal(bytes, File.ReadAllBytes(p));
        var record = restarted.Get(study)!;
        Assert.Equal(10, record.InstanceCount);
        Assert.Equal(10, Assert.Single(record.Series).Value.InstanceCount);
        Assert.Equal("CT", record.Series.Single().Value.Modality);
        Assert.Contains("CT_SCANNER", record.CallingAeTitles);
        Assert.Empty(Directory.GetFiles(restarted.IncomingRoot));
        // What was filed again is what was sent: the same dataset, pixel data included.
        var sent = DicomFile.Open(files[0]).Dataset;
        var back = DicomFile.Open(restarted.InstancePaths(study).Single(p => Path.GetFileNameWithoutExtension(p) == sent.GetString(DicomTags.SOPInstanceUID))).Dataset;
        Assert.Equal(sent.GetBytes(DicomTags.PixelData).ToArray(), back.GetBytes(DicomTags.PixelData).ToArray());
        // The log gives counts, never patient data or UIDs.
        List<(Microsoft.Extensions.Logging.LogLevel Level, string Text)> lines;
        lock (log.Lines) lines = [.. log.Lines];
        Assert.Contains(lines, l => l.Text.Contains("Intake journal: 10 records after the last checkpoint"));
        var patient = sent.GetString(DicomTags.PatientName);
        foreach (var l in lines)
        {
            if (!string.IsNullOrWhiteSpace(patient)) Assert.DoesNotContain(patient, l.Text);
            Assert.DoesNotContain(sent.GetString(DicomTags.SOPInstanceUID)!, l.Text);
        }

        // The recovery ended with a checkpoint: a second start replays nothing.
        restarted.Dispose();
        var again = new StudyStore(Options(root));
        Assert.Equal((0, 0), again.Replayed);
        Assert.Equal(10, again.Get(study)!.InstanceCount);
        again.Dispose();
    }

    [Theory]
    [InlineData("bad checksum")]
    [InlineData("truncated payload")]
    public async Task A_torn_record_and_the_records_after_it_are_not_replayed(string damage)
    {
        var root = TestData.TempDir("journal-torn");
        var store = new StudyStore(Options(root));
        var results = await ThroughScpAsync(store, Philips(1), Philips(2), Philips(3));
        Assert.All(results, r => Assert.True(r.Success, $"0x{r.Status:X4} {r.ErrorComment}"));
        var filed = Snapshot(store);
        var order = results.Select(r => filed.Keys.Single(p => Path.GetFileNameWithoutExtension(p) == r.SopInstanceUid)).ToList();
        store.SimulateCrash();
        var offsets = RecordOffsets(store.JournalPath);
        Assert.Equal(3, offsets.Count);
        // The second record is torn: a byte of its payload changed, or the file ends inside it.
        var inPayload = offsets[1] + IntakeJournal.HeaderSize + 1000;
        if (damage == "bad checksum")
        {
            using var fs = new FileStream(store.JournalPath, FileMode.Open, FileAccess.ReadWrite);
            fs.Position = inPayload;
            var b = fs.ReadByte();
            fs.Position = inPayload;
            fs.WriteByte((byte)(b ^ 0x5A));
        }
        else Truncate(store.JournalPath, inPayload);
        foreach (var p in order) File.Delete(p);

        var restarted = new StudyStore(Options(root));

        // The first record is filed again; the torn one ends the scan, so the third (which, had it been flushed after
        // the torn one, could not have been acknowledged without it) is not filed either.
        Assert.Equal((1, 0), restarted.Replayed);
        Assert.Equal(filed[order[0]], File.ReadAllBytes(order[0]));
        Assert.False(File.Exists(order[1]));
        Assert.False(File.Exists(order[2]));
        Assert.Equal(1, restarted.List().Single().InstanceCount);
        Assert.Empty(Directory.GetFiles(restarted.IncomingRoot));
        // A cut-short journal is replaced by one of the configured size, ready for intake.
        Assert.Equal(8L << 20, new FileInfo(restarted.JournalPath).Length);
        Assert.True(restarted.SyncsOnCommit);
        restarted.Dispose();
    }

    /// <summary>Three rounds of the same 12 SOP Instance UIDs, each round with other content, then a fourth version of
    /// slice 9, through a 3 MiB journal (five slices a lap): the journal wraps many times and checkpoints when full. The
    /// last lap leaves, right after the two records not yet covered (slice 12 of round 3, slice 9 of round 4), stale records
    /// of the lap before, slice 9 of round 3 among them. After a crash the files of the uncovered records are lost; the
    /// restart must bring back exactly the newest content: a stale record replayed would put round 3 back into slice 9.</summary>
    [Fact]
    public async Task A_small_journal_wraps_without_losing_or_replaying_stale_records()
    {
        var root = TestData.TempDir("journal-wrap");
        var src = TestData.TempDir("journal-wrap-src");
        var files = new List<string>();
        for (var round = 1; round <= 3; round++)
            for (var i = 1; i <= 12; i++)
            {
                var f = DicomFile.Open(Philips(i));
                f.Dataset.Set(DicomTags.ImageComments, $"round {round}");
                var path = Path.Combine(src, $"r{round}-{i:D2}.dcm");
                f.Save(path);
                files.Add(path);
            }
        var fourth = DicomFile.Open(Philips(9));
        fourth.Dataset.Set(DicomTags.ImageComments, "round 4");
        files.Add(Path.Combine(src, "r4-09.dcm"));
        fourth.Save(files[^1]);
        var slice9 = fourth.Dataset.GetString(DicomTags.SOPInstanceUID)!;
        var store = new StudyStore(Options(root, mib: 3));

        // Through temporary files, each filed before its answer: which records the last forced checkpoint leaves
        // uncovered is then fixed (an instance held in memory is filed after its answer, while the next arrives).
        var results = await ThroughScpAsync(new CountingTarget(store, 0), [.. files]);

        Assert.All(results, r => Assert.True(r.Success, $"0x{r.Status:X4} {r.ErrorComment}"));
        var stats = store.Journal!.Stats;
        Assert.Equal(37, stats.Appended);
        Assert.True(stats.Wraps >= 5, $"{stats.Wraps} wraps");
        Assert.True(stats.ForcedCheckpoints >= 5, $"{stats.ForcedCheckpoints} forced checkpoints");
        Assert.Equal(0, stats.TooLarge);
        var filed = Snapshot(store);
        Assert.Equal(12, filed.Count);
        foreach (var p in filed.Keys)
            Assert.Equal(Path.GetFileNameWithoutExtension(p) == slice9 ? "round 4" : "round 3", DicomFile.Open(p).Dataset.GetString(DicomTags.ImageComments));
        var uncovered = store.Journal.PendingPaths();
        Assert.Equal(2, uncovered.Count);
        Assert.Contains(uncovered, p => Path.GetFileNameWithoutExtension(p) == slice9);
        store.SimulateCrash();
        foreach (var p in uncovered) File.Delete(p);

        var restarted = new StudyStore(Options(root, mib: 3));

        Assert.Equal(uncovered.Count, restarted.Replayed.Filed);
        foreach (var (p, bytes) in filed) Assert.Equal(bytes, File.ReadAllBytes(p));
        var record = restarted.List().Single();
        Assert.Equal(12, record.InstanceCount);
        // And it keeps working: another lap after the recovery, then a clean restart replays nothing.
        var more = await ThroughScpAsync(restarted, [.. files.Skip(24)]);
        Assert.All(more, r => Assert.True(r.Success, $"0x{r.Status:X4} {r.ErrorComment}"));
        restarted.Dispose();
        var again = new StudyStore(Options(root, mib: 3));
        Assert.Equal((0, 0), again.Replayed);
        Assert.Equal(12, again.List().Single().InstanceCount);
        again.Dispose();
    }

    [Theory]
    [InlineData("write", 28, DimseStatus.OutOfResources)]
    [InlineData("sync", 5, DimseStatus.StorageIoError)]
    public async Task A_journal_write_or_flush_error_is_never_success_and_later_instances_take_the_plain_path(string at, int errno, ushort status)
    {
        var store = new StudyStore(Options(TestData.TempDir("journal-fault")));
        var faults = 0;
        store.JournalFault = what =>
        {
            if (what == at && Interlocked.Increment(ref faults) == 1) throw new IOException($"simulated errno {errno}", errno);
        };

        var results = await ThroughScpAsync(store, Philips(1), Philips(2));

        Assert.Equal(status, results[0].Status);
        Assert.True(results[1].Success, $"0x{results[1].Status:X4} {results[1].ErrorComment}");
        var filed = Assert.Single(Directory.GetFiles(store.StudiesRoot, "*.dcm", SearchOption.AllDirectories));
        Assert.Equal(results[1].SopInstanceUid, Path.GetFileNameWithoutExtension(filed));
        Assert.Empty(Directory.GetFiles(store.IncomingRoot));
        // The journal stopped at the error: the second instance was flushed on its own (file and folder), not journaled.
        Assert.Equal(0, store.Journal!.Stats.Appended);
        Assert.Equal(1, store.List().Single().InstanceCount);
        store.Dispose();
    }

    [Fact]
    public async Task An_instance_larger_than_the_journal_takes_the_plain_path()
    {
        var store = new StudyStore(Options(TestData.TempDir("journal-large"), mib: 1));
        // One slice (532 KB) fits a 1 MiB journal; two records never do at once, so the second forces a checkpoint.
        var results = await ThroughScpAsync(store, Philips(1), Philips(2), Philips(3));
        Assert.All(results, r => Assert.True(r.Success, $"0x{r.Status:X4} {r.ErrorComment}"));
        Assert.Equal(3, store.Journal!.Stats.Appended);
        Assert.True(store.Journal.Stats.ForcedCheckpoints >= 2);
        store.Dispose();

        // Larger than the whole journal: a 2 MiB dataset.
        var big = DicomFile.Open(Philips(1));
        big.Dataset.SetBytes(DicomTags.PixelData, DicomVR.OW, new byte[512 * 512 * 2 * 4]);
        big.Dataset.Set<int>(DicomTags.NumberOfFrames, DicomVR.IS, 4);
        var path = Path.Combine(TestData.TempDir("journal-large-src"), "big.dcm");
        big.Save(path);
        var store2 = new StudyStore(Options(TestData.TempDir("journal-large2"), mib: 1));
        var r = Assert.Single(await ThroughScpAsync(store2, path));
        Assert.True(r.Success, $"0x{r.Status:X4} {r.ErrorComment}");
        Assert.Equal(0, store2.Journal!.Stats.Appended);
        Assert.Equal(1, store2.Journal.Stats.TooLarge);
        Assert.Single(Directory.GetFiles(store2.StudiesRoot, "*.dcm", SearchOption.AllDirectories));
        store2.Dispose();
    }

    /// <summary>The study store as the SCP's target, its in-memory limit overridden (0: every instance through a
    /// temporary file, as before), counting the temporary files the SCP creates.</summary>
    private sealed class CountingTarget(StudyStore store, int? bufferedLimit) : IDicomStoreTarget
    {
        private readonly IDicomStoreTarget _store = store;
        public int TempFiles;
        public string TempDirectory => _store.TempDirectory;
        public bool Fsync => _store.Fsync;
        public bool SyncsOnCommit => _store.SyncsOnCommit;
        public int BufferedCommitLimit => bufferedLimit ?? _store.BufferedCommitLimit;
        public string? CheckCapacity() => _store.CheckCapacity();
        public ValueTask<string> CommitAsync(ReceivedInstance instance, CancellationToken ct) => _store.CommitAsync(instance, ct);
        public ValueTask<BufferedCommit> CommitBufferedAsync(ReceivedInstance instance, PooledContent content, CancellationToken ct) =>
            _store.CommitBufferedAsync(instance, content, ct);

        public FileStream CreateTempFile(string path)
        {
            Interlocked.Increment(ref TempFiles);
            return _store.CreateTempFile(path);
        }
    }

    /// <summary>Sends the files through an SCP on <paramref name="target"/> (the study store, or a wrapper of it).</summary>
    private static async Task<List<StoreResult>> ThroughScpAsync(IDicomStoreTarget target, params string[] files)
    {
        await using var server = new DicomServer(new DicomServerOptions { AETitle = "MEDAI", BindAddress = "127.0.0.1", Port = 0 }, target);
        server.Start();
        var results = await SendAsync(server.Port, files);
        await server.StopAsync();
        return results;
    }

    /// <summary>With the journal on, an instance is held in memory, journaled and answered, and filed after its answer:
    /// no temporary file is created for it before the answer. What is filed is byte for byte what the temporary-file path
    /// files, also for an instance over the in-memory limit (it spills to a temporary file mid-stream), and every file
    /// is in place once the association has ended.</summary>
    [Fact]
    public async Task Instances_held_in_memory_are_filed_after_their_answer_byte_identical_to_the_temporary_file_path()
    {
        var files = Enumerable.Range(1, 6).Select(Philips).ToArray();
        var held = new StudyStore(Options(TestData.TempDir("journal-held")));
        var plain = new StudyStore(Options(TestData.TempDir("journal-held-plain")));
        var spilled = new StudyStore(Options(TestData.TempDir("journal-held-spill")));
        // Filed through the page cache: by choice (Store:UncachedFiling off), and because the file system refused O_DIRECT.
        var cachedOptions = Options(TestData.TempDir("journal-held-cached"));
        cachedOptions.UncachedFiling = false;
        var cached = new StudyStore(cachedOptions);
        var refusedLog = new StudyLifecycleTests.ListLogger();
        var refused = new StudyStore(Options(TestData.TempDir("journal-held-refused")), refusedLog) { Uncached = new UncachedFileWriter(0) };
        Assert.True(((IDicomStoreTarget)held).BufferedCommitLimit >= 1 << 20);
        var heldTarget = new CountingTarget(held, null);
        var plainTarget = new CountingTarget(plain, 0);
        // 64 KiB: above the File Meta and the header, below a 512 x 512 slice, so each spills while its pixels arrive.
        var spillTarget = new CountingTarget(spilled, 64 << 10);

        // Each filing after its answer made slow: the association's release must still be answered only once all are
        // filed, so they are all there when the sender is done, before the server stops.
        held.JournalFault = what => { if (what == "file") Thread.Sleep(100); };
        await using (var server = new DicomServer(new DicomServerOptions { AETitle = "MEDAI", BindAddress = "127.0.0.1", Port = 0 }, heldTarget))
        {
            server.Start();
            Assert.All(await SendAsync(server.Port, files), r => Assert.True(r.Success, $"held: 0x{r.Status:X4} {r.ErrorComment}"));
            Assert.Equal(6, Snapshot(held).Count);
            Assert.Equal(0, server.Store.HeldBytes); // every buffer given back once filed
        }
        foreach (var (target, name) in new[] { (plainTarget, "plain"), (spillTarget, "spilled"), (new CountingTarget(cached, null), "cached"), (new CountingTarget(refused, null), "refused") })
            Assert.All(await ThroughScpAsync(target, files), r => Assert.True(r.Success, $"{name}: 0x{r.Status:X4} {r.ErrorComment}"));

        // Held instances are filed around the page cache where the file system takes it (ext4 and tmpfs do on Linux).
        Assert.Equal(OperatingSystem.IsLinux() ? 6 : 0, held.UncachedFilings);
        Assert.Equal(0, cached.UncachedFilings);
        Assert.Equal(0, refused.UncachedFilings);
        Assert.Single(refusedLog.Lines, l => l.Text.Contains("does not take uncached (O_DIRECT) writes") && l.Text.Contains("Store:UncachedFiling"));
        Assert.Equal(0, heldTarget.TempFiles);
        Assert.Equal(6, plainTarget.TempFiles);
        Assert.Equal(6, spillTarget.TempFiles);
        static Dictionary<string, byte[]> Relative(StudyStore s) =>
            Snapshot(s).ToDictionary(kv => Path.GetRelativePath(s.StudiesRoot, kv.Key), kv => kv.Value, StringComparer.Ordinal);
        var expected = Relative(plain);
        Assert.Equal(6, expected.Count);
        foreach (var other in new[] { held, spilled, cached, refused })
        {
            var got = Relative(other);
            Assert.Equal(expected.Keys.Order(StringComparer.Ordinal), got.Keys.Order(StringComparer.Ordinal));
            foreach (var (p, bytes) in expected) Assert.True(bytes.AsSpan().SequenceEqual(got[p]), $"{p} differs");
            Assert.Equal(6, other.Journal!.Stats.Appended);
            Assert.Equal(6, other.List().Single().InstanceCount);
            Assert.Empty(Directory.GetFiles(other.IncomingRoot));
        }
        foreach (var s in new[] { held, plain, spilled, cached, refused }) s.Dispose();
    }

    /// <summary>A record kept after its filing failed is never waited for: a journal too small for the next record then
    /// sends it down the plain path at once (without the mark, each such instance would wait out the 10 s bound).</summary>
    [Fact]
    public async Task A_kept_record_is_not_waited_for_when_the_journal_needs_its_space()
    {
        var store = new StudyStore(Options(TestData.TempDir("journal-kept-full"), mib: 1));
        var faults = 0;
        store.JournalFault = what =>
        {
            if (what == "file" && Interlocked.Increment(ref faults) == 1) throw new IOException("simulated errno 28", 28);
        };
        var clock = System.Diagnostics.Stopwatch.StartNew();

        // One slice fits a 1 MiB journal; the first is kept (its filing failed), so the second finds no room.
        var results = await ThroughScpAsync(store, Philips(1), Philips(2));

        Assert.All(results, r => Assert.True(r.Success, $"0x{r.Status:X4} {r.ErrorComment}"));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(9), $"took {clock.Elapsed.TotalSeconds:0.0} s: waited for the kept record");
        Assert.Equal(1, store.Journal!.Stats.Appended);
        Assert.Equal(1, store.Journal.Stats.TooLarge);
        Assert.Equal(results[1].SopInstanceUid, Path.GetFileNameWithoutExtension(Assert.Single(Snapshot(store).Keys)));
        store.Dispose();
    }

    /// <summary>Four associations at once, each filing after its answers, through a 3 MiB journal (five slices a lap) that
    /// must checkpoint while other associations' records are still being filed: every instance answered Success is
    /// filed, no buffer is left held, and after a crash that loses every file not yet covered by a checkpoint, the
    /// restart brings each back byte for byte.</summary>
    [Fact]
    public async Task Concurrent_associations_filing_after_their_answers_through_a_small_journal_lose_nothing()
    {
        var root = TestData.TempDir("journal-concurrent");
        var src = TestData.TempDir("journal-concurrent-src");
        var senders = Enumerable.Range(0, 4).Select(a => Enumerable.Range(1, 6).Select(i =>
        {
            // Each association its own series of the same slices: new Series and SOP Instance UIDs, other content.
            var f = DicomFile.Open(Philips(i));
            f.Dataset.Set(DicomTags.SeriesInstanceUID, $"1.2.826.0.1.3680043.10.1099.{a + 1}");
            f.Dataset.Set(DicomTags.SOPInstanceUID, $"1.2.826.0.1.3680043.10.1099.{a + 1}.{i}");
            f.Dataset.Set(DicomTags.ImageComments, $"association {a + 1}");
            var path = Path.Combine(src, $"a{a + 1}-{i}.dcm");
            f.Save(path);
            return path;
        }).ToArray()).ToList();
        var store = new StudyStore(Options(root, mib: 3));
        List<StoreResult>[] results;
        await using (var server = new DicomServer(new DicomServerOptions { AETitle = "MEDAI", BindAddress = "127.0.0.1", Port = 0 }, store))
        {
            server.Start();
            results = await Task.WhenAll(senders.Select(files => SendAsync(server.Port, files)));
            Assert.Equal(0, server.Store.HeldBytes);
        }

        Assert.All(results.SelectMany(r => r), r => Assert.True(r.Success, $"0x{r.Status:X4} {r.ErrorComment}"));
        var filed = Snapshot(store);
        Assert.Equal(24, filed.Count);
        Assert.True(store.Journal!.Stats.ForcedCheckpoints >= 3, $"{store.Journal.Stats.ForcedCheckpoints} forced checkpoints");
        var uncovered = store.Journal.PendingPaths();
        Assert.NotEmpty(uncovered);
        store.SimulateCrash();
        foreach (var p in uncovered) File.Delete(p);

        var restarted = new StudyStore(Options(root, mib: 3));

        Assert.Equal(uncovered.Count, restarted.Replayed.Filed);
        foreach (var (p, bytes) in filed) Assert.True(bytes.AsSpan().SequenceEqual(File.ReadAllBytes(p)), $"{p} differs after the restart");
        Assert.Equal(24, restarted.List().Single().InstanceCount);
        restarted.Dispose();
    }

    /// <summary>The memory all associations may hold is bounded (StoreScp.HeldBytesLimit): past it an instance goes
    /// through a temporary file, filed the same. A temporary file that cannot be created when an instance spills (disk
    /// full) is answered 0xA700 and the association goes on.</summary>
    [Fact]
    public async Task Past_the_held_memory_limit_instances_take_temporary_files_and_a_failed_spill_is_a_failure_status()
    {
        var store = new StudyStore(Options(TestData.TempDir("journal-held-limit")));
        var target = new CountingTarget(store, null);
        await using (var server = new DicomServer(new DicomServerOptions { AETitle = "MEDAI", BindAddress = "127.0.0.1", Port = 0 }, target))
        {
            server.Store.HeldBytesLimit = 0;
            server.Start();
            Assert.All(await SendAsync(server.Port, Philips(1), Philips(2)), r => Assert.True(r.Success, $"0x{r.Status:X4} {r.ErrorComment}"));
            Assert.Equal(0, server.Store.HeldBytes);
        }
        Assert.Equal(2, target.TempFiles);
        Assert.Equal(2, Snapshot(store).Count);
        store.Dispose();

        var full = new StudyStore(Options(TestData.TempDir("journal-spill-full")));
        var failing = new FailingSpill(full, failFirst: true);
        var results = await ThroughScpAsync(failing, Philips(1), Philips(2));
        Assert.Equal(DimseStatus.OutOfResources, results[0].Status);
        Assert.True(results[1].Success, $"0x{results[1].Status:X4} {results[1].ErrorComment}");
        var filed = Assert.Single(Snapshot(full).Keys);
        Assert.Equal(results[1].SopInstanceUid, Path.GetFileNameWithoutExtension(filed));
        Assert.Empty(Directory.GetFiles(full.IncomingRoot));
        full.Dispose();
    }

    /// <summary>Spills every instance (64 KiB limit); the first temporary file cannot be created: ENOSPC.</summary>
    private sealed class FailingSpill(StudyStore store, bool failFirst) : IDicomStoreTarget
    {
        private readonly IDicomStoreTarget _store = store;
        private int _creates;
        public string TempDirectory => _store.TempDirectory;
        public bool Fsync => _store.Fsync;
        public bool SyncsOnCommit => _store.SyncsOnCommit;
        public int BufferedCommitLimit => 64 << 10;
        public string? CheckCapacity() => _store.CheckCapacity();
        public ValueTask<string> CommitAsync(ReceivedInstance instance, CancellationToken ct) => _store.CommitAsync(instance, ct);
        public ValueTask<BufferedCommit> CommitBufferedAsync(ReceivedInstance instance, PooledContent content, CancellationToken ct) =>
            _store.CommitBufferedAsync(instance, content, ct);

        public FileStream CreateTempFile(string path) =>
            Interlocked.Increment(ref _creates) == 1 && failFirst ? throw new IOException("No space left on device", 28) : _store.CreateTempFile(path);
    }

    /// <summary>An instance answered Success whose filing after the answer fails (disk full) is not lost: its record
    /// stays in the journal, no checkpoint of that run covers it, and the next start files it.</summary>
    [Fact]
    public async Task A_filing_that_fails_after_the_answer_keeps_the_record_and_the_next_start_files_it()
    {
        var root = TestData.TempDir("journal-file-fault");
        var log = new StudyLifecycleTests.ListLogger();
        var store = new StudyStore(Options(root), log);
        var faults = 0;
        store.JournalFault = what =>
        {
            if (what == "file" && Interlocked.Increment(ref faults) == 1) throw new IOException("simulated errno 28", 28);
        };

        var results = await ThroughScpAsync(store, Philips(1), Philips(2));

        Assert.All(results, r => Assert.True(r.Success, $"0x{r.Status:X4} {r.ErrorComment}"));
        var filed = Assert.Single(Directory.GetFiles(store.StudiesRoot, "*.dcm", SearchOption.AllDirectories));
        Assert.Equal(results[1].SopInstanceUid, Path.GetFileNameWithoutExtension(filed));
        Assert.Contains(log.Lines, l => l.Level == Microsoft.Extensions.Logging.LogLevel.Error && l.Text.Contains("could not be filed") && l.Text.Contains(results[0].SopInstanceUid));
        Assert.Empty(Directory.GetFiles(store.IncomingRoot));
        // The last checkpoint (at dispose) stops before the kept record; the one after it is covered only from there on.
        store.Dispose();
        Assert.Equal(0, store.Journal!.Stats.Checkpoints);

        var restarted = new StudyStore(Options(root));

        Assert.Equal((1, 1), restarted.Replayed);
        var study = restarted.List().Single();
        Assert.Equal(2, study.InstanceCount);
        var plain = new StudyStore(Options(TestData.TempDir("journal-file-fault-plain")));
        await ThroughScpAsync(new CountingTarget(plain, 0), Philips(1), Philips(2));
        foreach (var p in Directory.GetFiles(plain.StudiesRoot, "*.dcm", SearchOption.AllDirectories))
            Assert.Equal(File.ReadAllBytes(p), File.ReadAllBytes(Path.Combine(restarted.StudiesRoot, Path.GetRelativePath(plain.StudiesRoot, p))));
        restarted.Dispose();
        plain.Dispose();
    }

    [Fact]
    public void Turning_the_journal_off_replays_it_first_then_removes_it()
    {
        var root = TestData.TempDir("journal-off");
        new StudyStore(Options(root)).Dispose();
        Assert.True(File.Exists(Path.Combine(root, "journal", "intake.journal")));
        var off = new StudyStore(new StudyStoreOptions { Root = root, JournalSizeMiB = 0 });
        Assert.False(off.SyncsOnCommit);
        Assert.Null(off.Journal);
        Assert.False(File.Exists(Path.Combine(root, "journal", "intake.journal")));
    }
}
