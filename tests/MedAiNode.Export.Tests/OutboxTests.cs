using MedAiNode.Dicom;
using MedAiNode.Dicom.IO;

namespace MedAiNode.Export.Tests;

public class OutboxTests
{
    private sealed class FlakyDestination(string name, int failFirst) : IResultDestination
    {
        public int Calls;
        public List<string> Received { get; } = new();
        public string Name { get; } = name;
        public Task<IReadOnlyCollection<string>> DeliverAsync(IReadOnlyList<OutboxItem> items, CancellationToken ct)
        {
            if (Calls++ < failFirst) throw new HttpRequestException("PACS down");
            Received.AddRange(items.Select(i => i.SopInstanceUid));
            return Task.FromResult<IReadOnlyCollection<string>>(items.Select(i => i.SopInstanceUid).ToList());
        }
    }

    private static DicomFile Result(string study, string sop) => new(new DicomDataset()
        .Set(DicomTags.SOPClassUID, DicomUids.SegmentationStorage)
        .Set(DicomTags.SOPInstanceUID, sop)
        .Set(DicomTags.StudyInstanceUID, study));

    [Fact]
    public async Task An_outage_delays_delivery_and_each_result_arrives_once_per_destination()
    {
        var outbox = new Outbox(TestData.TempDir("outbox"));
        outbox.Put(Result("1.2.3", "1.2.3.1"));
        outbox.Put(Result("1.2.3", "1.2.3.2"));
        var pacs = new FlakyDestination("pacs", failFirst: 2);
        var folder = TestData.TempDir("results");
        var local = new FolderDestination("folder", folder);

        await Assert.ThrowsAsync<AggregateException>(() => outbox.DeliverAsync("1.2.3", [local, pacs], default));
        Assert.Equal(2, Directory.GetFiles(Path.Combine(folder, "1.2.3")).Length); // the healthy destination got them already
        await Assert.ThrowsAsync<AggregateException>(() => outbox.DeliverAsync("1.2.3", [local, pacs], default));
        Assert.True(await outbox.DeliverAsync("1.2.3", [local, pacs], default));
        Assert.True(await outbox.DeliverAsync("1.2.3", [local, pacs], default)); // nothing left to send
        Assert.Equal(new[] { "1.2.3.1", "1.2.3.2" }, pacs.Received.OrderBy(x => x));
        Assert.Equal(3, pacs.Calls);
    }

    [Fact]
    public async Task A_failed_folder_delivery_leaves_no_partial_file_and_is_tried_again()
    {
        // The rename fails (the final name is taken by a folder, as a disk-full copy fails): the error reaches the
        // outbox, nothing half-written stays beside the results, and the item is delivered once the cause is gone.
        var outbox = new Outbox(TestData.TempDir("outbox-folder-fail"));
        outbox.Put(Result("1.2.4", "1.2.4.1"));
        var folder = TestData.TempDir("results-fail");
        var blocked = Path.Combine(folder, "1.2.4", "1.2.4.1.dcm");
        Directory.CreateDirectory(blocked);
        var destination = new FolderDestination("folder", folder);

        await Assert.ThrowsAsync<AggregateException>(() => outbox.DeliverAsync("1.2.4", [destination], default));
        Assert.Equal([blocked], Directory.GetFileSystemEntries(Path.Combine(folder, "1.2.4")));

        Directory.Delete(blocked);
        Assert.True(await outbox.DeliverAsync("1.2.4", [destination], default));
        Assert.Equal(["1.2.4.1.dcm"], Directory.GetFiles(Path.Combine(folder, "1.2.4")).Select(Path.GetFileName));
    }

    [Fact]
    public async Task A_folder_destination_shows_a_reader_whole_files_only()
    {
        // A 32 MiB result delivered again and again (a re-analysis replaces it) while a reader opens every *.dcm it
        // sees, as a folder watcher would: each must be complete and readable. Copied straight to its final name, the reader
        // found it shorter than the source or locked by the copy.
        var source = Path.Combine(TestData.TempDir("folder-source"), "big.dcm");
        var bytes = new byte[32 << 20];
        new Random(3).NextBytes(bytes);
        await File.WriteAllBytesAsync(source, bytes);
        var folder = TestData.TempDir("folder-results");
        var destination = new FolderDestination("folder", folder);
        var item = new OutboxItem("1.2.3", "1.2.3.9", DicomUids.SegmentationStorage, source);
        using var stop = new CancellationTokenSource();
        var seen = 0;
        var reader = Task.Factory.StartNew(() =>
        {
            var dir = Path.Combine(folder, "1.2.3");
            while (!stop.IsCancellationRequested)
            {
                if (!Directory.Exists(dir)) continue;
                foreach (var f in Directory.GetFiles(dir, "*.dcm"))
                {
                    long length;
                    try
                    {
                        using var s = new FileStream(f, FileMode.Open, FileAccess.Read, FileShare.Read);
                        length = s.Length;
                    }
                    catch (FileNotFoundException) { continue; } // replaced between the listing and the open
                    Assert.Equal(bytes.Length, length);
                    Interlocked.Increment(ref seen);
                }
            }
        }, TaskCreationOptions.LongRunning);
        // Deliveries go on until the reader has looked at the file 20 times while they ran (at least 5 deliveries;
        // a cap of two minutes, not a fixed count, so a loaded machine still overlaps the two).
        var clock = System.Diagnostics.Stopwatch.StartNew();
        for (var i = 0; (i < 5 || Volatile.Read(ref seen) < 20) && !reader.IsCompleted && clock.Elapsed < TimeSpan.FromMinutes(2); i++)
            await destination.DeliverAsync([item], default);
        stop.Cancel();
        await reader;
        Assert.True(seen >= 20, $"the reader saw the file {seen} times during the deliveries");
        Assert.Equal(["1.2.3.9.dcm"], Directory.GetFiles(Path.Combine(folder, "1.2.3")).Select(Path.GetFileName));
        Assert.Equal(bytes, await File.ReadAllBytesAsync(Path.Combine(folder, "1.2.3", "1.2.3.9.dcm")));
    }

    [Fact]
    public void Outbox_survives_a_restart_and_a_reanalysis_replaces_results()
    {
        var root = TestData.TempDir("outbox");
        new Outbox(root).Put(Result("1.2.3", "1.2.3.1"));
        var again = new Outbox(root);
        var item = Assert.Single(again.Items("1.2.3"));
        Assert.Equal(DicomUids.SegmentationStorage, item.SopClassUid);
        Assert.Equal(new[] { "1.2.3" }, again.Studies());
        again.Clear("1.2.3");
        Assert.Empty(again.Items("1.2.3"));
    }
}
