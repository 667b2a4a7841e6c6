using MedAiNode.Dicom;
using MedAiNode.Dicom.IO;
using MedAiNode.Dicom.Network.Client;
using MedAiNode.Dicom.Network.Dimse;
using MedAiNode.Dicom.Network.Services;
using static MedAiNode.Store.Tests.StoreTestInput;

namespace MedAiNode.Store.Tests;

/// <summary>
/// The C-STORE SCP with the study store as its target, in process: each instance is parsed once (by the SCP), the
/// store files it from that parse, and the store's checks are the only ones (capacity with Store:MaxFillPercent, UIDs).
/// </summary>
public class ScpIntakeTests
{
    /// <summary>The study store's own target, except that the received file is overwritten with zeros just before the
    /// commit: whatever the store needs must come from the instance the SCP parsed, since the file no longer parses.</summary>
    private sealed class ZeroFileBeforeCommit(StudyStore store) : IDicomStoreTarget
    {
        private readonly IDicomStoreTarget _store = store;
        public int Commits;
        public string TempDirectory => _store.TempDirectory;
        public bool Fsync => _store.Fsync;
        public string? CheckCapacity() => _store.CheckCapacity();

        public ValueTask<string> CommitAsync(ReceivedInstance instance, CancellationToken ct)
        {
            Interlocked.Increment(ref Commits);
            File.WriteAllBytes(instance.TempPath, new byte[new FileInfo(instance.TempPath).Length]);
            return _store.CommitAsync(instance, ct);
        }
    }

    private static DicomServer Listen(IDicomStoreTarget target, Microsoft.Extensions.Logging.ILogger? log = null)
    {
        var server = new DicomServer(new DicomServerOptions { AETitle = "MEDAI", BindAddress = "127.0.0.1", Port = 0 }, target, log);
        server.Start();
        return server;
    }

    [Fact]
    public async Task The_store_files_what_the_scp_parsed_without_reading_the_file_again()
    {
        var store = new StudyStore(new StudyStoreOptions { JournalSizeMiB = 8, Root = TestData.TempDir("scp-store") });
        var target = new ZeroFileBeforeCommit(store);
        await using var server = Listen(target);
        // One routine slice and one whose StudyPriorityID makes the study "stat": the priority input must reach the store too.
        var urgent = DicomFile.Open(Philips(2));
        urgent.Dataset.Set(DicomTags.StudyPriorityID, "HIGH");
        var urgentPath = Path.Combine(TestData.TempDir("scp-store-src"), "urgent.dcm");
        urgent.Save(urgentPath);

        var results = await SendAsync(server.Port, Philips(1), urgentPath);

        Assert.All(results, r => Assert.True(r.Success, $"0x{r.Status:X4} {r.ErrorComment}"));
        Assert.Equal(2, target.Commits);
        var sent = DicomFile.Open(Philips(1)).Dataset;
        var record = store.Get(sent.GetString(DicomTags.StudyInstanceUID)!)!;
        Assert.Equal(2, record.InstanceCount);
        var series = record.Series[sent.GetString(DicomTags.SeriesInstanceUID)!];
        Assert.Equal("CT", series.Modality);
        Assert.Equal(2, series.InstanceCount);
        Assert.Equal("stat", record.Priority);
        Assert.Equal(["CT_SCANNER"], record.CallingAeTitles);
        // What was filed is the zeroed file: reading it back would have failed, so the store never did.
        var filed = store.InstancePaths(record.StudyInstanceUid).ToList();
        Assert.Equal(2, filed.Count);
        Assert.Contains(filed, p => Path.GetFileNameWithoutExtension(p) == sent.GetString(DicomTags.SOPInstanceUID));
        foreach (var p in filed)
        {
            Assert.All(File.ReadAllBytes(p), b => Assert.Equal(0, b));
            Assert.ThrowsAny<DicomFormatException>(() => ReceivedInstance.Read(p, "CT_SCANNER"));
        }
        Assert.Empty(Directory.GetFiles(store.IncomingRoot));
    }

    [Fact]
    public async Task A_full_store_is_refused_0xA700_by_its_own_check_naming_Store_MaxFillPercent()
    {
        var store = new StudyStore(new StudyStoreOptions { JournalSizeMiB = 8, Root = TestData.TempDir("scp-full"), MaxFillPercent = 90 });
        await using var server = Listen(store);
        store.FillPercentProbe = () => 91.5;

        var refused = Assert.Single(await SendAsync(server.Port, Philips(1)));

        Assert.Equal(DimseStatus.OutOfResources, refused.Status);
        Assert.Contains("Store:MaxFillPercent", refused.ErrorComment);
        Assert.Contains("91.5% full (limit 90%", refused.ErrorComment);
        Assert.Empty(Directory.GetFiles(store.StudiesRoot, "*.dcm", SearchOption.AllDirectories));
        Assert.Empty(Directory.GetFiles(store.IncomingRoot));

        // The same check lets the instance in once the store is below its limit again.
        store.FillPercentProbe = () => 89.5;
        var accepted = Assert.Single(await SendAsync(server.Port, Philips(1)));
        Assert.True(accepted.Success, $"0x{accepted.Status:X4} {accepted.ErrorComment}");
        Assert.Single(Directory.GetFiles(store.StudiesRoot, "*.dcm", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task An_instance_without_a_study_uid_is_quarantined_by_the_store_and_answered_0xC000()
    {
        var store = new StudyStore(new StudyStoreOptions { JournalSizeMiB = 8, Root = TestData.TempDir("scp-quarantine") });
        await using var server = Listen(store);
        var file = DicomFile.Open(Philips(1));
        file.Dataset.Remove(DicomTags.StudyInstanceUID);
        var bad = Path.Combine(TestData.TempDir("scp-quarantine-src"), "no-study.dcm");
        file.Save(bad);

        var r = Assert.Single(await SendAsync(server.Port, bad));

        Assert.Equal(DimseStatus.CannotUnderstand, r.Status);
        Assert.Contains("StudyInstanceUID", r.ErrorComment);
        Assert.Single(Directory.GetFiles(store.QuarantineRoot, "*.dcm"));
        Assert.Contains("StudyInstanceUID", File.ReadAllText(Assert.Single(Directory.GetFiles(store.QuarantineRoot, "*.reason.txt"))));
        Assert.Empty(store.List());
        Assert.Empty(Directory.GetFiles(store.IncomingRoot));
    }

    // Patient values a reader would recognise in a log line or an Error Comment.
    private const string Surname = "Quotable", Given = "Rosalind", PatientId = "PID8812734", BirthDate = "19230405";

    /// <summary>A slice with recognisable patient values, and <paramref name="edits"/> written as raw bytes (the data
    /// layer refuses to set invalid values, as a modality's software might not).</summary>
    private static string WithPatient(string name, params (DicomTag Tag, string Value)[] edits)
    {
        var file = DicomFile.Open(Philips(1));
        var ds = file.Dataset;
        (DicomTag, string)[] patient = [(DicomTags.PatientName, $"{Surname}^{Given}"), (DicomTags.PatientID, PatientId), (DicomTags.PatientBirthDate, BirthDate)];
        foreach (var (tag, value) in patient.Concat(edits))
        {
            var vr = DicomDictionary.GetVR(tag);
            var text = value.Length % 2 == 1 ? value + (vr == DicomVR.UI ? "\0" : " ") : value;
            ds.Add(new DicomElement(tag, vr, System.Text.Encoding.Latin1.GetBytes(text)));
        }
        var path = Path.Combine(TestData.TempDir("patient-values"), name + ".dcm");
        file.Save(path);
        return path;
    }

    private static void AssertNoPatientValue(string text, string where)
    {
        foreach (var v in new[] { Surname, Given, PatientId, BirthDate })
            Assert.False(text.Contains(v, StringComparison.OrdinalIgnoreCase), $"{where} quotes '{v}': {text}");
    }

    /// <summary>Issue 16 (F6 and DicomValueRules): on every path where an instance is refused or flagged, neither the
    /// Error Comment, the SCP's log, the store's log nor the quarantine note quotes a patient value; they name the
    /// attribute and the rule it breaks.</summary>
    [Fact]
    public async Task Refused_and_flagged_instances_never_quote_patient_values()
    {
        var storeLog = new StudyLifecycleTests.ListLogger();
        var store = new StudyStore(new StudyStoreOptions { JournalSizeMiB = 8, Root = TestData.TempDir("scp-phi") }, storeLog);
        var scpLog = new StudyLifecycleTests.ListLogger();
        await using var server = Listen(store, scpLog);
        var files = new[]
        {
            WithPatient("study-uid-leading-zero", (DicomTags.StudyInstanceUID, "1.2.0" + BirthDate)),
            WithPatient("series-uid-with-name", (DicomTags.SeriesInstanceUID, "1.2." + Given.ToUpperInvariant())),
            WithPatient("invalid-patient-values", (DicomTags.PatientBirthDate, Given + BirthDate), (DicomTags.PatientAge, Given),
                (DicomTags.PatientWeight, Given), (DicomTags.PatientID, PatientId + "\\" + Given), (DicomTags.StudyID, Surname + Given + PatientId)),
            WithPatient("invalid-technical-value", (DicomTags.SliceThickness, Given)),
        };

        var results = await SendAsync(server.Port, files);
        await server.StopAsync();

        Assert.Equal(DimseStatus.CannotUnderstand, results[0].Status);
        Assert.Contains("StudyInstanceUID", results[0].ErrorComment);
        Assert.Equal(DimseStatus.CannotUnderstand, results[1].Status);
        Assert.Contains("SeriesInstanceUID", results[1].ErrorComment);
        // Invalid values never lose the image: stored as received (conformance/network.md 2.3).
        Assert.True(results[2].Success, $"0x{results[2].Status:X4} {results[2].ErrorComment}");
        Assert.True(results[3].Success, $"0x{results[3].Status:X4} {results[3].ErrorComment}");
        foreach (var r in results) AssertNoPatientValue(r.ErrorComment ?? "", "an Error Comment");
        List<(Microsoft.Extensions.Logging.LogLevel Level, string Text)> lines;
        lock (scpLog.Lines) lines = [.. scpLog.Lines];
        lock (storeLog.Lines) lines.AddRange(storeLog.Lines);
        Assert.Contains(lines, l => l.Text.Contains("Quarantined"));
        Assert.Contains(lines, l => l.Text.Contains("(0010,0030) PatientBirthDate (DA)"));
        foreach (var l in lines) AssertNoPatientValue(l.Text, "the log");
        foreach (var reason in Directory.GetFiles(store.QuarantineRoot, "*.reason.txt")) AssertNoPatientValue(File.ReadAllText(reason), "a quarantine note");
        Assert.Equal(2, Directory.GetFiles(store.QuarantineRoot, "*.reason.txt").Length);
        var flagged = Assert.Single(store.List());
        Assert.NotEmpty(flagged.InvalidValues);
        foreach (var p in flagged.InvalidValues) AssertNoPatientValue(p, "the study's invalid-value list");
    }

    /// <summary>
    /// Issue 16, the policy for invalid patient values: an image whose patient or study attributes break their VR
    /// (a Person Name group over 64 characters, a date that is not YYYYMMDD, a Patient ID with a backslash, an age that
    /// is not nnnY) is stored as received and answered Success, byte for byte, never coerced or refused: a hospital must
    /// not lose an image over a registration typo. The study is flagged with the attributes (not their values), in its
    /// index and once in the log.
    /// </summary>
    [Fact]
    public async Task Storescu_images_with_invalid_patient_values_are_stored_as_received_and_the_study_is_flagged()
    {
        var storeLog = new StudyLifecycleTests.ListLogger();
        var store = new StudyStore(new StudyStoreOptions { JournalSizeMiB = 8, Root = TestData.TempDir("scp-invalid-patient") }, storeLog);
        await using var server = Listen(store);
        var longName = "Abcdefghijklmnopqrstuvwxyz-Abcdefghijklmnopqrstuvwxyz-Abcdefghijk^Abcdefghijklmnopqrst"; // 86 characters, one group
        Assert.Equal(86, longName.Length);
        (DicomTag, string)[] invalid =
            [(DicomTags.PatientName, longName), (DicomTags.PatientBirthDate, "03.02.1901"), (DicomTags.PatientID, "AB123\\CD456"), (DicomTags.PatientAge, "XYZ")];
        var first = WithPatient("invalid-1", invalid);
        var second = DicomFile.Open(first);
        second.Dataset.Set(DicomTags.SOPInstanceUID, second.Dataset.GetString(DicomTags.SOPInstanceUID) + ".2");
        var secondPath = Path.Combine(Path.GetDirectoryName(first)!, "invalid-2.dcm");
        second.Save(secondPath);

        var r = Tool.Run("storescu", ["-v", "-aet", "CT_SCANNER", "-aec", "MEDAI", "127.0.0.1", server.Port.ToString(), first, secondPath]);

        Assert.True(r.ExitCode == 0, r.StdErr + r.StdOut);
        Assert.Equal(2, System.Text.RegularExpressions.Regex.Matches(r.StdErr + r.StdOut, @"Received Store Response \(Success\)").Count);
        var sent = DicomFile.Open(first).Dataset;
        var record = Assert.Single(store.List());
        Assert.Equal(2, record.InstanceCount);
        var filed = DicomFile.Open(store.InstancePaths(record.StudyInstanceUid).First(p => Path.GetFileNameWithoutExtension(p) == sent.GetString(DicomTags.SOPInstanceUID))).Dataset;
        foreach (var (tag, _) in invalid)
            Assert.Equal(((DicomElement)sent[tag]!).Buffer.GetData().ToArray(), ((DicomElement)filed[tag]!).Buffer.GetData().ToArray());
        Assert.Equal(4, record.InvalidValues.Count);
        Assert.Contains(record.InvalidValues, p => p.StartsWith("(0010,0010) PatientName (PN): ") && p.Contains("64 characters"));
        Assert.Contains(record.InvalidValues, p => p.StartsWith("(0010,0030) PatientBirthDate (DA): ") && p.Contains("not a date"));
        Assert.Contains(record.InvalidValues, p => p.StartsWith("(0010,0020) PatientID (LO): ") && p.Contains("2 values"));
        Assert.Contains(record.InvalidValues, p => p.StartsWith("(0010,1010) PatientAge (AS): "));
        List<(Microsoft.Extensions.Logging.LogLevel Level, string Text)> lines;
        lock (storeLog.Lines) lines = [.. storeLog.Lines];
        var warning = Assert.Single(lines, l => l.Level == Microsoft.Extensions.Logging.LogLevel.Warning && l.Text.Contains("invalid patient or study values"));
        foreach (var v in new[] { "Abcdefghij", "03.02.1901", "AB123", "CD456", "XYZ" }) Assert.DoesNotContain(v, warning.Text);
        // The flag survives a restart (it is in study.json).
        Assert.Equal(record.InvalidValues, new StudyStore(new StudyStoreOptions { JournalSizeMiB = 8, Root = store.Root }).Get(record.StudyInstanceUid)!.InvalidValues);
    }

    /// <summary>The study store with its disk made to fail: the temporary file of the n-th request (from 1) is opened
    /// with <see cref="FailingFile"/>; every other request gets the real file.</summary>
    private sealed class FailingDisk(StudyStore store, int failRequest, Func<string, FileStream> failing) : IDicomStoreTarget
    {
        private readonly IDicomStoreTarget _store = store;
        private int _requests;
        public string TempDirectory => _store.TempDirectory;
        public bool Fsync => _store.Fsync;
        public string? CheckCapacity() => _store.CheckCapacity();
        public ValueTask<string> CommitAsync(ReceivedInstance instance, CancellationToken ct) => _store.CommitAsync(instance, ct);
        public FileStream CreateTempFile(string path) =>
            Interlocked.Increment(ref _requests) == failRequest ? failing(path) : _store.CreateTempFile(path);
    }

    /// <summary>A temporary file whose writes fail once <paramref name="room"/> bytes are written, and/or whose flush
    /// fails, with the errno .NET puts in the HResult of the IOException it throws on Linux.</summary>
    private sealed class FailingFile(string path, long room, int errno, bool failFlush = false)
        : FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 0, FileOptions.None)
    {
        // Each override checks, then calls its own base: FileStream's base methods may call one another virtually.
        public override void Write(ReadOnlySpan<byte> buffer)
        {
            Check(buffer.Length);
            base.Write(buffer);
        }

        public override void Write(byte[] buffer, int offset, int count)
        {
            Check(count);
            base.Write(buffer, offset, count);
        }

        public override void Flush(bool flushToDisk)
        {
            if (failFlush) throw new IOException($"simulated errno {errno} on flush : '{Name}'", errno);
            base.Flush(flushToDisk);
        }

        public override void Flush()
        {
            if (failFlush) throw new IOException($"simulated errno {errno} on flush : '{Name}'", errno);
            base.Flush();
        }

        private void Check(int count)
        {
            if (Position + count > room) throw new IOException($"simulated errno {errno} : '{Name}'", errno);
        }
    }

    private const int Enospc = 28, Eio = 5;

    [Fact]
    public async Task Disk_full_mid_file_is_answered_0xA700_and_the_association_goes_on()
    {
        var store = new StudyStore(new StudyStoreOptions { JournalSizeMiB = 8, Root = TestData.TempDir("scp-enospc") });
        // Room for the file meta and a few KiB of the dataset, then ENOSPC: the failure comes mid-file, between P-DATA fragments.
        var target = new FailingDisk(store, 1, path => new FailingFile(path, 8192, Enospc));
        var log = new StudyLifecycleTests.ListLogger();
        await using var server = Listen(target, log);

        var results = await SendAsync(server.Port, Philips(1), Philips(2));
        await server.StopAsync();

        Assert.Equal(DimseStatus.OutOfResources, results[0].Status);
        Assert.Contains("out of disk space", results[0].ErrorComment);
        // Same association: the next instance, with room again, is stored.
        Assert.True(results[1].Success, $"0x{results[1].Status:X4} {results[1].ErrorComment}");
        var filed = Assert.Single(Directory.GetFiles(store.StudiesRoot, "*.dcm", SearchOption.AllDirectories));
        Assert.Equal(DicomFile.Open(Philips(2)).Dataset.GetString(DicomTags.SOPInstanceUID), Path.GetFileNameWithoutExtension(filed));
        Assert.Empty(Directory.GetFiles(store.IncomingRoot));
        // Logged as the warning it is, not as a peer's disconnect.
        List<(Microsoft.Extensions.Logging.LogLevel Level, string Text)> lines;
        lock (log.Lines) lines = [.. log.Lines];
        Assert.Contains(lines, l => l.Level == Microsoft.Extensions.Logging.LogLevel.Warning && l.Text.Contains("out of disk space", StringComparison.Ordinal));
        Assert.DoesNotContain(lines, l => l.Text.StartsWith("Connection from", StringComparison.Ordinal) || l.Text.Contains("Abort", StringComparison.Ordinal) || l.Level >= Microsoft.Extensions.Logging.LogLevel.Error);
    }

    [Fact]
    public async Task A_write_error_that_is_not_disk_full_is_a_failure_0xC002_never_success()
    {
        var store = new StudyStore(new StudyStoreOptions { JournalSizeMiB = 8, Root = TestData.TempDir("scp-eio") });
        var target = new FailingDisk(store, 1, path => new FailingFile(path, 8192, Eio));
        await using var server = Listen(target);

        var results = await SendAsync(server.Port, Philips(1), Philips(2));

        Assert.Equal(DimseStatus.StorageIoError, results[0].Status);
        Assert.True(DimseStatus.IsFailure(results[0].Status));
        Assert.True(results[1].Success, $"0x{results[1].Status:X4} {results[1].ErrorComment}");
        Assert.Single(Directory.GetFiles(store.StudiesRoot, "*.dcm", SearchOption.AllDirectories));
        Assert.Empty(Directory.GetFiles(store.IncomingRoot));
    }

    [Fact]
    public async Task A_failed_flush_before_the_answer_is_never_success()
    {
        var store = new StudyStore(new StudyStoreOptions { JournalSizeMiB = 8, Root = TestData.TempDir("scp-flush"), Fsync = true });
        var target = new FailingDisk(store, 1, path => new FailingFile(path, long.MaxValue, Eio, failFlush: true));
        await using var server = Listen(target);

        var result = Assert.Single(await SendAsync(server.Port, Philips(1)));

        Assert.Equal(DimseStatus.StorageIoError, result.Status);
        Assert.Empty(Directory.GetFiles(store.StudiesRoot, "*.dcm", SearchOption.AllDirectories));
        Assert.Empty(Directory.GetFiles(store.IncomingRoot));
        Assert.Empty(store.List());
    }

    [Fact]
    public async Task A_failed_fdatasync_is_never_success()
    {
        if (!OperatingSystem.IsLinux()) return;
        var store = new StudyStore(new StudyStoreOptions { JournalSizeMiB = 8, Root = TestData.TempDir("scp-fdatasync"), Fsync = true });
        // Writes to /dev/null succeed; fdatasync on it fails (EINVAL) in the kernel, as it would on a failing disk.
        var target = new FailingDisk(store, 1, path =>
        {
            File.WriteAllBytes(path, []);
            return new FileStream("/dev/null", FileMode.Open, FileAccess.Write, FileShare.ReadWrite, 0);
        });
        await using var server = Listen(target);

        var result = Assert.Single(await SendAsync(server.Port, Philips(1)));

        Assert.Equal(DimseStatus.StorageIoError, result.Status);
        Assert.Contains("fdatasync", result.ErrorComment);
        Assert.Empty(Directory.GetFiles(store.StudiesRoot, "*.dcm", SearchOption.AllDirectories));
        Assert.Empty(Directory.GetFiles(store.IncomingRoot));
    }

    [Fact]
    public async Task A_temporary_file_that_cannot_be_created_is_refused_up_front()
    {
        var store = new StudyStore(new StudyStoreOptions { JournalSizeMiB = 8, Root = TestData.TempDir("scp-nocreate") });
        var target = new FailingDisk(store, 1, path => throw new IOException("simulated ENOSPC on create", Enospc));
        await using var server = Listen(target);

        var results = await SendAsync(server.Port, Philips(1), Philips(2));

        Assert.Equal(DimseStatus.OutOfResources, results[0].Status);
        Assert.True(results[1].Success, $"0x{results[1].Status:X4} {results[1].ErrorComment}");
    }
}
