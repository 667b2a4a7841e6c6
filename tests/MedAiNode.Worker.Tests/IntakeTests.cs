namespace MedAiNode.Worker.Tests;

/// <summary>The worker receiving from a real modality (DCMTK storescu) over DIMSE.</summary>
public class IntakeTests
{
    private static string[] PhilipsSeries() =>
        Directory.GetFiles(TestData.Path_("ct", "philips-phantom-5mm"), "*.dcm").OrderBy(f => f, StringComparer.Ordinal).ToArray();

    [Fact]
    public async Task A_series_sent_by_storescu_is_filed_and_the_study_completes_after_its_quiet_period()
    {
        var root = TestData.TempDir("worker");
        await using var worker = new WorkerProcess(root);
        await worker.StartAsync();
        var files = PhilipsSeries();
        var r = Tool.Run("storescu", new[] { "-aet", "CT_SCANNER", "-aec", "MEDAINODE", "127.0.0.1", worker.DicomPort.ToString() }.Concat(files));
        Assert.True(r.ExitCode == 0, r.StdErr + r.StdOut);

        var study = await worker.WaitForStudyAsync(s => s["state"]!.GetValue<string>() != "Receiving", TimeSpan.FromSeconds(30));
        Assert.Equal(files.Length, study["instanceCount"]!.GetValue<int>());
        var stored = Directory.GetFiles(Path.Combine(root, "studies"), "*.dcm", SearchOption.AllDirectories);
        Assert.Equal(files.Length, stored.Length);
        // What was filed is what was sent: same dataset, byte for byte after File Meta.
        var sent = MedAiNode.Dicom.IO.DicomFile.Open(files[0]).Dataset;
        var uid = sent.GetString(MedAiNode.Dicom.DicomTags.SOPInstanceUID)!;
        var filed = MedAiNode.Dicom.IO.DicomFile.Open(stored.Single(p => Path.GetFileNameWithoutExtension(p) == uid)).Dataset;
        Assert.Equal(sent.GetBytes(MedAiNode.Dicom.DicomTags.PixelData).ToArray(), filed.GetBytes(MedAiNode.Dicom.DicomTags.PixelData).ToArray());

        var metrics = await worker.Http.GetStringAsync($"http://127.0.0.1:{worker.HttpPort}/metrics");
        Assert.Contains($"medainode_instances_received_total{{otel_scope_name=\"MedAiNode\"}} {files.Length}", metrics);
        // Logs name UIDs, never the patient.
        var patient = sent.GetString(MedAiNode.Dicom.DicomTags.PatientName);
        if (!string.IsNullOrWhiteSpace(patient)) Assert.DoesNotContain(patient, worker.Log);
    }

    /// <summary>Issue 16: with scripts/run.sh the store landed under whatever folder the service ran from. Without
    /// Store:Root the node keeps its data in its data home (here ~/.local/share/medainode of a stand-in HOME), wherever
    /// it is started from, says so at start, and writes nothing in the working directory.</summary>
    [Fact]
    public async Task Without_Store_Root_the_store_is_in_the_data_home_whatever_the_working_directory()
    {
        var temp = TestData.TempDir("worker-datahome");
        var home = Path.Combine(temp, "home");
        var cwd = Path.Combine(temp, "somewhere-else");
        Directory.CreateDirectory(cwd);
        Directory.CreateDirectory(home);
        // The system folder wins over HOME when an installation made it writable; the test then pins the data home with
        // systemd's variable, the first in the documented order, instead of writing into the machine's real folder.
        var systemFolderUsable = Directory.Exists(MedAiNode.Store.NodeDataHome.SystemFolder);
        var expected = systemFolderUsable ? Path.Combine(temp, "state") : Path.Combine(home, ".local", "share", "medainode");
        await using var worker = new WorkerProcess(cwd, storeRootArgument: false);
        worker.Environment["HOME"] = home;
        worker.Environment["XDG_DATA_HOME"] = null;
        worker.Environment[MedAiNode.Store.NodeDataHome.StateDirectoryVariable] = systemFolderUsable ? expected : null;
        await worker.StartAsync();
        var file = PhilipsSeries()[0];
        var r = Tool.Run("storescu", ["-aet", "CT_SCANNER", "-aec", "MEDAINODE", "127.0.0.1", worker.DicomPort.ToString(), file]);
        Assert.True(r.ExitCode == 0, r.StdErr + r.StdOut);

        var sop = MedAiNode.Dicom.IO.DicomFile.Open(file).Dataset.GetString(MedAiNode.Dicom.DicomTags.SOPInstanceUID)!;
        Assert.Single(Directory.GetFiles(Path.Combine(expected, "studies"), sop + ".dcm", SearchOption.AllDirectories));
        Assert.Empty(Directory.EnumerateFileSystemEntries(cwd));
        Assert.Contains($"Study store in {expected}", worker.Log);
        Assert.Contains($"Results (SEG, SR, summary) are copied to {Path.Combine(expected, "results")}", worker.Log);
    }

    [Fact]
    public async Task Killed_during_intake_keeps_every_instance_that_got_success()
    {
        var root = TestData.TempDir("worker-kill");
        var files = PhilipsSeries();
        // The intake journal at its default size (the other worker tests use a small one): each Success is one journal
        // flush, the files are filed unsynced and synced by the checkpoint, and the restart replays what it had not covered.
        var worker = new WorkerProcess(root, "--Store:JournalSizeMiB=512");
        await worker.StartAsync();
        // storescu reports each success it got; kill the worker while the series is on its way.
        var psi = new System.Diagnostics.ProcessStartInfo("storescu") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "-v", "-aet", "CT_SCANNER", "-aec", "MEDAINODE", "127.0.0.1", worker.DicomPort.ToString() }.Concat(files)) psi.ArgumentList.Add(a);
        using var scu = System.Diagnostics.Process.Start(psi)!;
        var log = new System.Text.StringBuilder();
        scu.ErrorDataReceived += (_, e) => { lock (log) log.AppendLine(e.Data); };
        scu.OutputDataReceived += (_, e) => { lock (log) log.AppendLine(e.Data); };
        scu.BeginErrorReadLine();
        scu.BeginOutputReadLine();
        for (var i = 0; i < 200 && CountSuccess(log) < 5; i++) await Task.Delay(20);
        worker.Kill();
        await scu.WaitForExitAsync();
        var acknowledged = CountSuccess(log);
        Assert.True(acknowledged >= 1, log.ToString());

        await using var restarted = new WorkerProcess(root, "--Store:JournalSizeMiB=512");
        await restarted.StartAsync();
        var storedFiles = Directory.GetFiles(Path.Combine(root, "studies"), "*.dcm", SearchOption.AllDirectories);
        var stored = storedFiles.Length;
        Assert.True(stored >= acknowledged, $"{acknowledged} acknowledged, {stored} stored");
        // Every stored instance is whole: the dataset sent, pixel data included.
        var sentBySop = files.ToDictionary(f => MedAiNode.Dicom.IO.DicomFile.Open(f).Dataset.GetString(MedAiNode.Dicom.DicomTags.SOPInstanceUID)!);
        foreach (var p in storedFiles)
        {
            var sent = MedAiNode.Dicom.IO.DicomFile.Open(sentBySop[Path.GetFileNameWithoutExtension(p)]).Dataset;
            Assert.Equal(sent.GetBytes(MedAiNode.Dicom.DicomTags.PixelData).ToArray(), MedAiNode.Dicom.IO.DicomFile.Open(p).Dataset.GetBytes(MedAiNode.Dicom.DicomTags.PixelData).ToArray());
        }
        Assert.True(File.Exists(Path.Combine(root, "journal", "intake.journal")));
        var study = await restarted.WaitForStudyAsync(s => s["instanceCount"]!.GetValue<int>() == stored, TimeSpan.FromSeconds(10));
        Assert.NotNull(study);
        Assert.Empty(Directory.GetFiles(Path.Combine(root, "incoming")));
        await worker.DisposeAsync();
    }

    [Fact]
    public async Task An_instance_the_store_cannot_file_is_quarantined_and_answered_cannot_understand()
    {
        var root = TestData.TempDir("worker-quarantine");
        await using var worker = new WorkerProcess(root);
        await worker.StartAsync();
        var file = MedAiNode.Dicom.IO.DicomFile.Open(PhilipsSeries()[0]);
        file.Dataset.Remove(MedAiNode.Dicom.DicomTags.StudyInstanceUID);
        var bad = Path.Combine(TestData.TempDir("bad-instance"), "no-study-uid.dcm");
        file.Save(bad);
        var r = Tool.Run("storescu", ["-v", "-aet", "CT_SCANNER", "-aec", "MEDAINODE", "127.0.0.1", worker.DicomPort.ToString(), bad]);
        Assert.Contains("Received Store Response (Error: CannotUnderstand)", r.StdOut + r.StdErr); // 0xC000
        var reasons = Directory.GetFiles(Path.Combine(root, "quarantine"), "*.reason.txt");
        Assert.Contains("StudyInstanceUID", File.ReadAllText(Assert.Single(reasons)));
        Assert.Single(Directory.GetFiles(Path.Combine(root, "quarantine"), "*.dcm"));
        Assert.Empty(await worker.StudiesAsync());
        // The service keeps taking good instances.
        var good = Tool.Run("storescu", ["-aet", "CT_SCANNER", "-aec", "MEDAINODE", "127.0.0.1", worker.DicomPort.ToString(), PhilipsSeries()[0]]);
        Assert.True(good.ExitCode == 0, good.StdErr);
        Assert.Single(await worker.StudiesAsync());
    }

    private static int CountSuccess(System.Text.StringBuilder log)
    {
        lock (log) return System.Text.RegularExpressions.Regex.Matches(log.ToString(), @"Received Store Response \(Success\)").Count;
    }
}
