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
