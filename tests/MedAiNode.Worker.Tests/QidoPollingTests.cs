using System.Text;
using MedAiNode.Dicom;
using MedAiNode.Dicom.IO;
using MedAiNode.DicomWeb;
using MedAiNode.DicomWeb.Configuration;
using MedAiNode.Store;
using MedAiNode.Worker.Intake;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Xunit.Abstractions;

namespace MedAiNode.Worker.Tests;

/// <summary>QIDO-RS polling (issue 16): a poisoned study does not stop the others (F5), a broken or short download is
/// retried, never recorded as fetched (F9), new series are fetched, late uploads with older dates are found by the
/// sweep, date windows follow the PACS's calendar, and the polling state grows by a line per change, pruned.</summary>
public sealed class QidoPollingTests(ITestOutputHelper output)
{
    private static readonly string[] Phantom = Enumerable.Range(1, 6).Select(i => TestData.Path_("ct", "philips-phantom-5mm", $"I{i * 10}.dcm")).ToArray();

    /// <summary>A poller wired as the service wires it, on its own store, against one PACS.</summary>
    private sealed class Rig : IDisposable
    {
        public Rig(string url, FakeTimeProvider clock, Action<IntakeOptions>? intake = null)
        {
            Root = TestData.TempDir("qido-poll");
            Store = new StudyStore(new StudyStoreOptions { JournalSizeMiB = 8, Root = Root }, null, clock);
            var services = new ServiceCollection();
            services.AddLogging();
            services.AddDicomWeb(new DicomWebPacsOptions
            {
                Name = "pacs", BaseUrl = url, MaxRetries = 1, RetryBaseDelay = TimeSpan.FromMilliseconds(50),
                AttemptTimeout = TimeSpan.FromSeconds(30), TotalTimeout = TimeSpan.FromSeconds(90), ReadIdleTimeout = TimeSpan.FromSeconds(10),
            });
            services.AddSingleton(Store);
            services.AddSingleton<StudyFetcher>();
            Provider = services.BuildServiceProvider();
            Options = new IntakeOptions { PollPacs = ["pacs"], Modalities = ["CT"], PacsTimeZone = "UTC", InitialLookbackDays = 1, SweepLookbackDays = 7, SweepInterval = TimeSpan.FromHours(1) };
            intake?.Invoke(Options);
            Assert.Empty(Options.Validate());
            Poller = new QidoPollingService(Microsoft.Extensions.Options.Options.Create(Options), Provider, Store, Provider.GetRequiredService<StudyFetcher>(),
                NullLogger<QidoPollingService>.Instance, clock);
        }

        public string Root { get; }
        public StudyStore Store { get; }
        public ServiceProvider Provider { get; }
        public IntakeOptions Options { get; }
        public QidoPollingService Poller { get; }
        public Task<PollResult> PollAsync() => Poller.PollAsync("pacs", CancellationToken.None);
        public int Instances(string uid) => Store.Get(uid)?.InstanceCount ?? 0;
        public void Dispose() => Provider.Dispose();
    }

    // ------------------------------------------------------------------ a scripted PACS

    private sealed record FakeStudy(string Uid, string Date, int Count, int Send, bool Break = false, string? RawJson = null);

    /// <summary>QIDO-RS and WADO-RS from a list of studies, each instance a real phantom slice re-labelled; a study can
    /// send fewer instances than it lists (Send), or break off (Break) with a resume listing of nothing.</summary>
    private static HostileHttpServer FakePacs(Func<List<FakeStudy>> studies, List<string> wadoCalls) => new(async (r, s, ct) =>
    {
        var path = r.Target.Split('?')[0];
        var parts = path.Split('/', StringSplitOptions.RemoveEmptyEntries); // dicom-web, studies, uid, ...
        if (parts.Length == 2)
        {
            var json = "[" + string.Join(",", studies().Select(st => st.RawJson ??
                $"{{\"0020000D\":{{\"vr\":\"UI\",\"Value\":[\"{st.Uid}\"]}},\"00080020\":{{\"vr\":\"DA\",\"Value\":[\"{st.Date}\"]}},\"00201208\":{{\"vr\":\"IS\",\"Value\":[{st.Count}]}}}}")) + "]";
            await HostileHttpServer.WriteJson(s, json, ct);
            return;
        }
        var study = studies().First(x => x.Uid == parts[2]);
        if (parts.Length > 3 && parts[3] == "instances")
        {
            await HostileHttpServer.WriteJson(s, "[]", ct); // the resume's listing: nothing
            return;
        }
        lock (wadoCalls) wadoCalls.Add(study.Uid);
        await HostileHttpServer.WriteHead(s, "200 OK", ct, "Content-Type: multipart/related; type=\"application/dicom\"; boundary=B");
        for (var i = 0; i < (study.Break ? 0 : study.Send); i++)
        {
            var f = DicomFile.Open(Phantom[i]);
            f.Dataset.Set(DicomTags.StudyInstanceUID, study.Uid);
            f.Dataset.Set(DicomTags.SOPInstanceUID, study.Uid + ".1." + (i + 1));
            var ms = new MemoryStream();
            f.Write(ms);
            await s.WriteAsync(Encoding.ASCII.GetBytes("--B\r\nContent-Type: application/dicom\r\n\r\n"), ct);
            await s.WriteAsync(ms.ToArray(), ct);
            await s.WriteAsync("\r\n"u8.ToArray(), ct);
        }
        if (study.Break) await s.WriteAsync(Encoding.ASCII.GetBytes("--B\r\nContent-Type: application/dicom\r\n\r\n\0\0\0"), ct); // and the connection drops
        else await s.WriteAsync("--B--\r\n"u8.ToArray(), ct);
    });

    private static FakeTimeProvider Clock() => new(new DateTimeOffset(2026, 11, 30, 12, 0, 0, TimeSpan.Zero));

    [Fact]
    public async Task F5_F9_a_poisoned_study_is_skipped_a_broken_or_short_one_retried_and_the_others_fetched()
    {
        var today = "20261130";
        var studies = new List<FakeStudy>
        {
            new("1.2.826.0.1.3680043.10.16.1", today, 2, 2),                       // fine
            new("bad-pn", today, 1, 1, RawJson: "{\"0020000D\":{\"vr\":\"UI\",\"Value\":[\"1.2.826.0.1.3680043.10.16.2\"]},\"00100010\":{\"vr\":\"PN\",\"Value\":[{\"Alphabetic\":\"" + new string('X', 80) + "\"}]}}"),
            new("../../etc", today, 1, 1, RawJson: "{\"0020000D\":{\"vr\":\"UI\",\"Value\":[\"../../etc\"]},\"00201208\":{\"vr\":\"IS\",\"Value\":[1]}}"),
            new("1.2.826.0.1.3680043.10.16.3", today, 3, 3, Break: true),          // breaks, resume lists nothing (F9)
            new("1.2.826.0.1.3680043.10.16.4", today, 3, 2),                       // sends 2 of its 3 (F9)
            new("1.2.826.0.1.3680043.10.16.5", today, 1, 1),                       // fine, after the bad ones
        };
        var wado = new List<string>();
        await using var pacs = FakePacs(() => studies, wado);
        var clock = Clock();
        using var rig = new Rig(pacs.BaseUrl, clock);

        var r = await rig.PollAsync();
        output.WriteLine(r.ToString());
        Assert.Equal((2, 2, 2), (r.Fetched, r.Failed, r.Skipped));
        Assert.Equal(2, rig.Instances("1.2.826.0.1.3680043.10.16.1"));
        Assert.Equal(1, rig.Instances("1.2.826.0.1.3680043.10.16.5"));
        // Neither the broken nor the short one is filed (an incomplete study must not be analysed) or recorded as fetched.
        Assert.Equal(0, rig.Instances("1.2.826.0.1.3680043.10.16.3"));
        Assert.Equal(0, rig.Instances("1.2.826.0.1.3680043.10.16.4"));
        Assert.False(Directory.Exists(Path.Combine(rig.Store.StudiesRoot, "..", "..", "etc", "1")));

        // The PACS recovers: the next poll fetches exactly the two that failed, not the others again.
        studies[3] = studies[3] with { Break = false };
        studies[4] = studies[4] with { Send = 3 };
        wado.Clear();
        clock.Advance(TimeSpan.FromMinutes(1));
        r = await rig.PollAsync();
        Assert.Equal((2, 0), (r.Fetched, r.Failed));
        Assert.Equal(["1.2.826.0.1.3680043.10.16.3", "1.2.826.0.1.3680043.10.16.4"], wado.Order());
        Assert.Equal(3, rig.Instances("1.2.826.0.1.3680043.10.16.3"));
        Assert.Equal(3, rig.Instances("1.2.826.0.1.3680043.10.16.4"));

        wado.Clear();
        clock.Advance(TimeSpan.FromMinutes(1));
        Assert.Equal(0, (await rig.PollAsync()).Fetched);
        Assert.Empty(wado);
    }

    [Fact]
    public async Task F9_a_study_that_never_arrives_whole_is_filed_with_a_warning_after_the_last_attempt_then_left_alone()
    {
        var studies = new List<FakeStudy> { new("1.2.826.0.1.3680043.10.16.7", "20261130", 3, 2) };
        var wado = new List<string>();
        await using var pacs = FakePacs(() => studies, wado);
        var clock = Clock();
        using var rig = new Rig(pacs.BaseUrl, clock, o => o.MaxFetchAttempts = 3);
        for (var i = 0; i < 5; i++)
        {
            await rig.PollAsync();
            clock.Advance(TimeSpan.FromMinutes(1));
        }
        Assert.Equal(3, wado.Count); // two refused as incomplete, the third filed what came
        Assert.Equal(2, rig.Instances("1.2.826.0.1.3680043.10.16.7"));
    }

    [Fact]
    public async Task Date_windows_are_the_PACS_calendar_days_not_UTC()
    {
        var studies = new List<FakeStudy>();
        await using var pacs = FakePacs(() => studies, []);
        // 05:00 UTC on 1 December is 19:00 on 30 November in Honolulu (UTC-10).
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 12, 1, 5, 0, 0, TimeSpan.Zero));
        using var rig = new Rig(pacs.BaseUrl, clock, o => { o.PacsTimeZone = "Pacific/Honolulu"; o.SweepLookbackDays = 7; });
        Assert.Equal(new DateOnly(2026, 11, 30), rig.Poller.PacsToday());
        await rig.PollAsync(); // first poll: a sweep, 7 PACS days back
        clock.Advance(TimeSpan.FromMinutes(1));
        await rig.PollAsync(); // an ordinary poll: PACS yesterday onwards
        var queries = pacs.Requests.Select(q => Uri.UnescapeDataString(q.Target)).ToList();
        output.WriteLine(string.Join("\n", queries));
        Assert.Contains("StudyDate=20261123-", queries[0].Replace("00080020", "StudyDate"));
        Assert.Contains("StudyDate=20261129-", queries[1].Replace("00080020", "StudyDate")); // UTC would have said 20261130-
    }

    [Fact]
    public async Task The_polling_state_grows_by_a_line_per_change_and_is_pruned_past_the_sweep_window()
    {
        var studies = Enumerable.Range(1, 30).Select(i => new FakeStudy($"1.2.826.0.1.3680043.10.17.{i}", "20261130", 1, 1)).ToList();
        var wado = new List<string>();
        await using var pacs = FakePacs(() => studies, wado);
        var clock = Clock();
        using var rig = new Rig(pacs.BaseUrl, clock, o => o.SweepLookbackDays = 2);
        var r = await rig.PollAsync();
        Assert.Equal(30, r.Fetched);
        var ledger = rig.Poller.LedgerPath("pacs");
        var lines = File.ReadAllLines(ledger).Length;
        output.WriteLine($"{lines} lines after 30 fetches");
        Assert.InRange(lines, 30, 31); // one line per study (and the sweep's mark), not 30 rewrites of a growing set

        // Four days later they are dated before every query window: the next sweep forgets them.
        clock.Advance(TimeSpan.FromDays(4));
        r = await rig.PollAsync();
        Assert.True(r.Sweep);
        Assert.Equal(30, r.Pruned);
        Assert.True(File.ReadAllLines(ledger).Length <= 2, "pruned entries must leave the file");
        Assert.Equal(0, r.Fetched);
    }

    // ------------------------------------------------------------------ a real PACS

    [Fact]
    public async Task Against_Orthanc_new_series_are_fetched_again_and_an_old_dated_late_upload_is_found_by_the_sweep()
    {
        using var orthanc = new OrthancServer();
        var now = DateTimeOffset.UtcNow;
        var clock = new FakeTimeProvider(now);
        var today = DateOnly.FromDateTime(now.UtcDateTime);
        using var rig = new Rig(orthanc.DicomWebUrl, clock);
        var dir = TestData.TempDir("qido-orthanc");

        async Task Upload(string study, string series, int from, int n, DateOnly date, string modality = "CT")
        {
            for (var i = from; i < from + n; i++)
            {
                var f = DicomFile.Open(Phantom[i]);
                f.Dataset.Set(DicomTags.StudyInstanceUID, study);
                f.Dataset.Set(DicomTags.SeriesInstanceUID, series);
                f.Dataset.Set(DicomTags.SOPInstanceUID, series + "." + (i + 1));
                f.Dataset.Set(DicomTags.StudyDate, date.ToString("yyyyMMdd"));
                f.Dataset.Set(DicomTags.Modality, modality);
                var p = Path.Combine(dir, Guid.NewGuid().ToString("N") + ".dcm");
                f.Save(p);
                await orthanc.UploadAsync(p);
            }
        }

        const string a = "1.2.826.0.1.3680043.10.18.1";
        await Upload(a, a + ".1", 0, 2, today);
        var r = await rig.PollAsync();
        Assert.Equal(1, r.Fetched);
        Assert.Equal(2, rig.Instances(a));

        // A new series arrives on the PACS for a study already fetched: the count grew, it is fetched again.
        await Upload(a, a + ".2", 2, 2, today);
        clock.Advance(TimeSpan.FromMinutes(1));
        r = await rig.PollAsync();
        Assert.False(r.Sweep);
        Assert.Equal(1, r.Fetched);
        Assert.Equal(4, rig.Instances(a));
        Assert.Equal(2, rig.Store.Get(a)!.Series.Count);

        // Our own results sent back to the PACS (a SEG here) grow the study too: not a reason to fetch anything.
        await Upload(a, a + ".3", 4, 1, today, modality: "SEG");
        clock.Advance(TimeSpan.FromMinutes(1));
        r = await rig.PollAsync();
        Assert.Equal(0, r.Fetched);
        Assert.Equal(4, rig.Instances(a));

        // A study dated four days ago is uploaded now: ordinary polls (today and yesterday) cannot see it, the sweep does.
        const string b = "1.2.826.0.1.3680043.10.18.2";
        await Upload(b, b + ".1", 0, 1, today.AddDays(-4));
        clock.Advance(TimeSpan.FromMinutes(1));
        Assert.Equal(0, (await rig.PollAsync()).Fetched);
        clock.Advance(rig.Options.SweepInterval);
        r = await rig.PollAsync();
        Assert.True(r.Sweep);
        Assert.Equal(1, r.Fetched);
        Assert.Equal(1, rig.Instances(b));

        clock.Advance(TimeSpan.FromMinutes(1));
        Assert.Equal(0, (await rig.PollAsync()).Fetched); // nothing new: nothing fetched
    }
}
