using MedAiNode.Dicom;
using MedAiNode.Dicom.IO;
using MedAiNode.Results.Summary;
using MedAiNode.Store;
using MedAiNode.Worker.Jobs;
using Microsoft.Extensions.Time.Testing;
using Xunit.Abstractions;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace MedAiNode.Worker.Tests;

/// <summary>Results:Summary is bound once by the host, on by default, and a bad value stops the start naming its key.</summary>
public class SummaryOptionsTests
{
    private sealed class RegistrationsTaken : Exception;

    /// <summary>The host's registrations (the real ServiceHost.Build), stopped before anything starts.</summary>
    internal static ServiceProvider Provider(params string[] args)
    {
        IServiceCollection? captured = null;
        Assert.Throws<RegistrationsTaken>(() => ServiceHost.Build(args, services =>
        {
            captured = services;
            throw new RegistrationsTaken();
        }));
        return captured!.BuildServiceProvider();
    }

    [Fact]
    public void The_summary_is_on_by_default_and_can_be_turned_off_or_changed()
    {
        using (var p = Provider())
        {
            var o = p.GetRequiredService<IOptions<SummaryOptions>>().Value;
            Assert.True(o.Enabled);
            Assert.True(o.NotAnalysed);
            Assert.False(o.Pdf);
            Assert.Equal(SummaryWindow.Auto, o.Window);
            Assert.Equal("AI summary", o.SeriesDescription);
        }
        using (var p = Provider("--Results:Summary:Enabled=false", "--Results:Summary:Window=Lung", "--Results:Summary:SeriesNumber=42", "--Results:Summary:NotAnalysed=false", "--Results:Summary:Pdf=true"))
        {
            var o = p.GetRequiredService<IOptions<SummaryOptions>>().Value;
            Assert.False(o.Enabled);
            Assert.False(o.NotAnalysed);
            Assert.True(o.Pdf);
            Assert.Equal(SummaryWindow.Lung, o.Window);
            Assert.Equal(42, o.SeriesNumber);
        }
    }

    [Theory]
    [InlineData("--Results:Summary:MaxKeySlices=100", "Results:Summary:MaxKeySlices")]
    [InlineData("--Results:Summary:Window=Sagittal", "Results:Summary:Window")]
    [InlineData("--Results:Summary:FontFile=/nonexistent/font.ttf", "Results:Summary:FontFile")]
    public void A_bad_value_is_a_start_up_error_naming_the_key(string arg, string key)
    {
        using var p = Provider(arg);
        var e = Assert.Throws<OptionsValidationException>(() => p.GetRequiredService<IOptions<SummaryOptions>>().Value);
        Assert.Contains(key, e.Message);
    }
}

/// <summary>`medainode analyze` writes the summary beside seg.dcm and sr.dcm, a "not analysed" page when the model refuses
/// the study, and none with --no-summary.</summary>
public class AnalyzeSummaryTests
{
    private static ToolResult Analyze(string series, string output, params string[] extra) =>
        Tool.Run("dotnet", [Path.Combine(AppContext.BaseDirectory, "medainode.dll"), "analyze", TestData.Path_("ct", series), "--out", output, .. extra]);

    [Fact]
    public void A_refused_study_gets_a_not_analysed_page_and_no_summary_means_none()
    {
        var output = TestData.TempDir("analyze-refused");
        var r = Analyze("ge-head-tilt-varspacing", output, "--model", "ct-lung-quant");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("body part HEAD", r.StdErr);
        var page = Assert.Single(Directory.GetFiles(output, "summary_*.dcm"));
        var v = Tool.Run("dciodvfy", [page]);
        Assert.DoesNotContain("Error", v.StdOut + v.StdErr);
        var ds = MedAiNode.Dicom.IO.DicomFile.Open(page).Dataset;
        Assert.StartsWith("Not for diagnostic use", ds.GetString(MedAiNode.Dicom.DicomTags.ImageComments));
        Assert.Contains("not analysed: ", ds.GetString(MedAiNode.Dicom.DicomTags.ImageComments));

        var off = TestData.TempDir("analyze-no-summary");
        Assert.Equal(2, Analyze("ge-head-tilt-varspacing", off, "--model", "ct-lung-quant", "--no-summary").ExitCode);
        Assert.Empty(Directory.GetFiles(off, "summary_*.dcm"));
    }

    [Fact]
    public void Without_a_model_named_a_CT_is_routed_as_the_service_does_and_each_refusal_is_said()
    {
        // The J2K abdomen (Body Part Examined PARTIALBODY): neither the chest nor the head model takes it.
        var output = TestData.TempDir("analyze-routed");
        var r = Analyze("totalseg-abdomen-j2k", output);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("model ct-lung-quant not run", r.StdErr);
        Assert.Contains("model blast-ct-v1 not run", r.StdErr);
        Assert.Contains("body part PARTIALBODY", r.StdErr);
        // No summary page here: this series' datasets carry no Study Instance UID to file one under (the quirk it was kept for).
        Assert.Empty(Directory.GetFiles(output, "seg.dcm"));
    }
}

/// <summary>
/// The service sends the "not analysed: why" page too: a study every enabled model refuses ends Failed with the reason,
/// and its one summary page goes to the destinations (here the results folder) like any result.
/// </summary>
[Collection(InProcessNodes.Name)]
public class NotAnalysedServiceTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(120);
    // ct-body wants at least 20 slices: five of the Philips phantom are refused on their headers.
    private static string[] FiveSlices => Directory.GetFiles(TestData.Path_("ct", "philips-phantom-5mm"), "*.dcm").Order().Take(5).ToArray();
    private static string NewStudyUid() => $"1.2.826.0.1.3680043.10.79.{Environment.ProcessId}.{Guid.NewGuid().GetHashCode() & 0x7fffffff}";
    private static FakeTimeProvider NewClock() => new(new DateTimeOffset(2026, 11, 30, 8, 0, 0, TimeSpan.Zero));

    private static string[] Delivered(string root, string studyUid)
    {
        var dir = Path.Combine(root, "results", studyUid);
        return Directory.Exists(dir) ? Directory.GetFiles(dir, "*.dcm") : [];
    }

    private static async Task<string[]> WaitForDeliveredAsync(string root, string studyUid, Func<string> log)
    {
        var sw = System.Diagnostics.Stopwatch.StartNew();
        while (Delivered(root, studyUid).Length == 0)
        {
            if (sw.Elapsed > Timeout) throw new TimeoutException("no 'not analysed' page in the results folder:\n" + log());
            await Task.Delay(250);
        }
        return Delivered(root, studyUid);
    }

    [Fact]
    public async Task A_refused_study_sent_by_c_store_ends_failed_and_its_not_analysed_page_arrives_once()
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var root = TestData.TempDir("not-analysed-e2e");
        await using var worker = new WorkerProcess(root);
        await worker.StartAsync();
        var files = FiveSlices;
        var source = DicomFile.Open(files[0]).Dataset;
        var studyUid = source.GetString(DicomTags.StudyInstanceUID)!;
        var send = Tool.Run("storescu", new[] { "-aet", "CT_SCANNER", "-aec", "MEDAINODE", "127.0.0.1", worker.DicomPort.ToString() }.Concat(files));
        Assert.True(send.ExitCode == 0, send.StdErr);

        var failed = await worker.WaitForStudyAsync(s => s["state"]!.GetValue<string>() == "Failed", Timeout);
        var reason = failed["reason"]!.GetValue<string>();
        Assert.StartsWith("ct-body: ", reason);
        var page = Assert.Single(await WaitForDeliveredAsync(root, studyUid, () => worker.Log));
        var ds = DicomFile.Open(page).Dataset;
        Assert.Equal((DicomUids.SecondaryCaptureImageStorage, "OT", studyUid), (ds.GetString(DicomTags.SOPClassUID), ds.GetString(DicomTags.Modality), ds.GetString(DicomTags.StudyInstanceUID)));
        Assert.StartsWith("Not for diagnostic use. AI result (", ds.GetString(DicomTags.ImageComments));
        Assert.EndsWith($"Outcome: not analysed: {reason}", ds.GetString(DicomTags.ImageComments));
        // The patient and study as the source has them, as every summary page carries them; nothing more of the patient.
        foreach (var tag in new[] { DicomTags.PatientName, DicomTags.PatientID, DicomTags.PatientBirthDate, DicomTags.AccessionNumber })
            Assert.Equal(source.GetString(tag), ds.GetString(tag));
        var v = Tool.Run("dciodvfy", [page]);
        Assert.DoesNotContain("Error", v.StdOut + v.StdErr);
        var png = Path.ChangeExtension(page, ".png");
        Assert.True(Tool.Run("dcm2pnm", ["--write-png", page, png]).ExitCode == 0 && new FileInfo(png).Length > 1000);
        output.WriteLine($"page: {page}, as PNG: {png}");
        // Delivered, and the study still says why it was not analysed.
        var after = (await worker.StudiesAsync()).Single()!;
        Assert.Equal(("Failed", reason), (after["state"]!.GetValue<string>(), after["reason"]!.GetValue<string>()));
        Assert.Contains("not analysed; a summary page saying why goes to the destinations", worker.Log);

        // The PACS routes our page back into the study: the study is looked at again (new content), our page is no input,
        // so the reason is the same, and the page sent is the same instance (UIDs from the study's other instances).
        var back = Tool.Run("storescu", ["-aet", "PACS", "-aec", "MEDAINODE", "-R", "127.0.0.1", worker.DicomPort.ToString(), page]);
        Assert.True(back.ExitCode == 0, back.StdErr);
        var again = await worker.WaitForStudyAsync(s => s["state"]!.GetValue<string>() == "Failed" && s["attempts"]!.GetValue<int>() >= 2, Timeout);
        Assert.Equal(reason, again["reason"]!.GetValue<string>());
        var sw = System.Diagnostics.Stopwatch.StartNew();
        while (System.Text.RegularExpressions.Regex.Matches(worker.Log, "Delivered 1/1 results of study " + System.Text.RegularExpressions.Regex.Escape(studyUid)).Count < 2 && sw.Elapsed < Timeout)
            await Task.Delay(250);
        Assert.Equal([Path.GetFileName(page)], Delivered(root, studyUid).Select(Path.GetFileName));
        output.WriteLine($"wall time {clock.Elapsed.TotalSeconds:F0} s");
    }

    [Fact]
    public async Task Switched_off_nothing_is_sent_and_a_page_a_restart_finds_undelivered_is_delivered()
    {
        var root = TestData.TempDir("not-analysed-inproc");
        string off, on;
        await using (var node = await InProcessNode.StartAsync(root, NewClock(), (IStudyAnalyzer?)null, "--Results:Summary:NotAnalysed=false"))
        {
            off = node.Receive(NewStudyUid(), FiveSlices);
            node.EndQuietPeriod();
            var study = await node.WaitForStateAsync(off, s => s.State == StudyState.Failed, Timeout);
            Assert.StartsWith("ct-body: ", study.Reason);
            Assert.False(Directory.Exists(Path.Combine(root, "outbox", off)));
            await node.AssertJobStatesAsync("Succeeded"); // the analysis only: nothing to deliver
        }
        // On, with no destination configured: the page waits in the outbox, its delivery job finds nowhere to send it.
        await using (var node = await InProcessNode.StartAsync(root, NewClock(), (IStudyAnalyzer?)null))
        {
            on = node.Receive(NewStudyUid(), FiveSlices);
            node.EndQuietPeriod();
            await node.WaitForStateAsync(on, s => s.State == StudyState.Failed, Timeout);
            Assert.Single(Directory.GetFiles(Path.Combine(root, "outbox", on), "*.dcm"));
        }
        // Restarted with the results folder as a destination: the Failed study is not analysed again, but the page some
        // destination lacks is delivered.
        await using (var node = await InProcessNode.StartAsync(root, NewClock(), (IStudyAnalyzer?)null, "--Outbox:ResultsFolder=results"))
        {
            var page = await WaitForDeliveredAsync(root, on, () => "");
            Assert.Single(page);
            Assert.Equal(StudyState.Failed, node.Store.Get(on)!.State);
            Assert.Empty(Delivered(root, off));
            // The page is visible in the folder before the outbox marks it delivered: wait for the job to end first.
            await node.AssertJobStatesAsync("Succeeded");
            Assert.Equal(0, node.Monitor.Recover()); // delivered now: nothing left to re-queue
        }
    }
}
