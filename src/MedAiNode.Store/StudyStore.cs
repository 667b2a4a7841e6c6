using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using MedAiNode.Dicom;
using MedAiNode.Dicom.IO;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace MedAiNode.Store;

/// <summary>
/// The local study store: one folder per study and series, one Part 10 file per instance, and a study.json index
/// beside them. It is the intake's store target: the SCP and the WADO-RS fetch hand it instances they parsed, complete
/// in its incoming folder, and it moves them into place from what was parsed, without reading the file again. The one
/// capacity check (Store:MaxFillPercent), UID check and fsync policy of intake are here. Anything it cannot file is
/// quarantined with its reason, never deleted.
/// </summary>
public sealed class StudyStore : IDicomStoreTarget, IDisposable
{
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, Converters = { new JsonStringEnumConverter() } };
    private readonly StudyStoreOptions _options;
    private readonly ILogger _log;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<string, StudyRecord> _studies = new(StringComparer.Ordinal);
    // Per-study locks, striped: a fixed set of lock objects chosen by the UID's hash, so the set never grows with the
    // studies ever seen (a dictionary of one lock per UID was never pruned) and a study can never have two locks at once,
    // which removing an entry while another thread still held it would allow. Two studies sharing a stripe only wait for
    // each other; no code holds two study locks at a time, so this cannot deadlock.
    private const int LockStripes = 256;
    private readonly object[] _locks = Enumerable.Range(0, LockStripes).Select(_ => new object()).ToArray();

    public StudyStore(StudyStoreOptions options, ILogger<StudyStore>? log = null, TimeProvider? time = null)
    {
        _options = options;
        _log = (ILogger?)log ?? NullLogger.Instance;
        _time = time ?? TimeProvider.System;
        Root = options.ResolveRoot();
        StudiesRoot = Path.Combine(Root, "studies");
        QuarantineRoot = Path.Combine(Root, "quarantine");
        IncomingRoot = Path.Combine(Root, "incoming");
        Directory.CreateDirectory(StudiesRoot);
        Directory.CreateDirectory(QuarantineRoot);
        Directory.CreateDirectory(IncomingRoot);
        TrashRoot = Path.Combine(Root, "trash");
        EmptyTrash();
        Load();
        _log.LogInformation("Study store in {Root} ({Studies} studies)", Root, _studies.Count);
        JournalPath = Path.Combine(Root, "journal", "intake.journal");
        if (OperatingSystem.IsLinux() && (options.Fsync && options.JournalSizeMiB > 0 || File.Exists(JournalPath))) _fsSync = new DurableFile.FileSystemSync(StudiesRoot);
        _journal = OpenJournal();
        if (_journal is not null && options.UncachedFiling) _uncached = new UncachedFileWriter();
    }

    private UncachedFileWriter? _uncached;
    private int _uncachedFilings;

    /// <summary>The writer of instances filed around the page cache (null with Store:UncachedFiling off or without the
    /// journal); tests swap in one that refuses.</summary>
    internal UncachedFileWriter? Uncached { get => _uncached; set => _uncached = value; }
    /// <summary>Instances filed around the page cache since start.</summary>
    internal int UncachedFilings => Volatile.Read(ref _uncachedFilings);

    private readonly DurableFile.FileSystemSync? _fsSync;

    private readonly IntakeJournal? _journal;
    private int _replayedFiled, _replayedIntact;

    /// <summary>The intake journal (Store:JournalSizeMiB), null when off: with Store:Fsync off, a size of 0, or when it
    /// could not be created for lack of space (then every instance takes the plain path).</summary>
    public IntakeJournal? Journal => _journal;
    public string JournalPath { get; }
    /// <summary>At start: records filed again from the journal, and records whose file was found intact.</summary>
    public (int Filed, int Intact) Replayed => (_replayedFiled, _replayedIntact);

    /// <summary>Called with "write", "sync" or "checkpoint" just before the journal does it, and "file" before an instance
    /// held in memory is filed after its answer; a test throws here to inject an I/O error.</summary>
    public Action<string>? JournalFault { get; set; }

    /// <summary>Opens the intake journal before anything is received: records a previous run acknowledged but had not
    /// yet checkpointed are filed again (through <see cref="Store"/>, so counts and the index follow), and a journal of
    /// the configured size is created when there is none.</summary>
    private IntakeJournal? OpenJournal()
    {
        var size = _options.Fsync ? (long)_options.JournalSizeMiB << 20 : 0;
        try
        {
            return IntakeJournal.Open(JournalPath, size, _log, Replay, SyncFiled, what => JournalFault?.Invoke(what),
                _options.JournalCheckpointInstances, _options.JournalCheckpointInterval, _options.JournalBackgroundCheckpoints, _options.JournalCheckpointQuiet);
        }
        catch (IOException e) when (DurableFile.IsOutOfSpace(e))
        {
            try { File.Delete(JournalPath + ".tmp"); } catch (IOException) { }
            _log.LogWarning("Intake journal not opened ({Error}): each instance's file and folder are flushed before Success; a journal left by the last run is replayed at the next start", e.Message);
            return null;
        }
    }

    /// <summary>Files one journal record found at start again, unless its file is already there intact; returns the
    /// path to sync before the checkpoint. The log says how many, never what (no UIDs of patients' studies either).</summary>
    private string? Replay(IntakeJournal.Record r, Stream payload)
    {
        if (!ReceivedInstance.IsValidUid(r.StudyUid) || !ReceivedInstance.IsValidUid(r.SeriesUid) || !ReceivedInstance.IsValidUid(r.SopUid)) return null;
        var target = Path.Combine(StudiesRoot, r.StudyUid, r.SeriesUid, r.SopUid + ".dcm");
        if (IsIntact(target, r))
        {
            _replayedIntact++;
            return target;
        }
        var part = WriteIncoming(fs => payload.CopyTo(fs, 1 << 20), sync: true);
        ReceivedInstance instance;
        try { instance = ReceivedInstance.Read(part, r.CallingAE); }
        catch (DicomFormatException)
        {
            Quarantine(part, "an intake journal record could not be parsed again at start");
            return null;
        }
        Store(instance);
        _replayedFiled++;
        return target;
    }

    private static bool IsIntact(string path, IntakeJournal.Record r)
    {
        try
        {
            using var h = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            if (RandomAccess.GetLength(h) != r.Length) return false;
            var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(1 << 20);
            try { return IntakeJournal.PayloadHash(h, 0, r.Length, buffer) == r.PayloadHash; }
            finally { System.Buffers.ArrayPool<byte>.Shared.Return(buffer); }
        }
        catch (FileNotFoundException) { return false; }
        catch (DirectoryNotFoundException) { return false; }
    }

    /// <summary>The journal's checkpoint: each filed file's data, then its series and study folders and the studies
    /// folder, each synced once. A file gone since (a study removed) needs nothing.</summary>
    private void SyncFiled(IReadOnlyCollection<string> paths)
    {
        if (paths.Count == 0) return;
        if (_fsSync is not null)
        {
            // One syncfs: all those files' data and every folder entry, one file-system journal commit and one device flush,
            // where a flush per file and per folder would cost a commit and a flush each.
            _fsSync.Sync();
            return;
        }
        var series = new HashSet<string>(StringComparer.Ordinal);
        foreach (var p in paths)
        {
            try { DurableFile.DataSync(p); }
            catch (FileNotFoundException) { continue; }
            catch (DirectoryNotFoundException) { continue; }
            series.Add(Path.GetDirectoryName(p)!);
        }
        var studies = new HashSet<string>(StringComparer.Ordinal);
        foreach (var d in series)
        {
            if (SyncFolder(d)) studies.Add(Path.GetDirectoryName(d)!);
        }
        foreach (var d in studies) SyncFolder(d);
        DurableFile.FsyncDirectory(StudiesRoot);
    }

    /// <summary>Syncs a folder; false when it is gone (a study removed meanwhile), any other error throws.</summary>
    private static bool SyncFolder(string dir)
    {
        try
        {
            DurableFile.FsyncDirectory(dir);
            return true;
        }
        catch (IOException) when (!Directory.Exists(dir)) { return false; }
    }

    /// <summary>Closes the journal as a crash would (no checkpoint): tests of recovery.</summary>
    internal void SimulateCrash() => _journal?.Abandon();

    /// <summary>Takes the journal's last checkpoint and closes it.</summary>
    public void Dispose()
    {
        _journal?.Dispose();
        _fsSync?.Dispose();
        _uncached?.Dispose();
    }

    public string Root { get; }
    public string StudiesRoot { get; }
    public string QuarantineRoot { get; }
    /// <summary>Where writers put partial files; same file system as the store, so the final move is a rename.</summary>
    public string IncomingRoot { get; }
    /// <summary>Studies being deleted are renamed here first, so a crash mid-delete never leaves half a study behind.</summary>
    public string TrashRoot { get; }

    /// <summary>Raised after an instance is filed (used for metrics and for re-analysis of late arrivals).</summary>
    public event Action<StoredInstance>? InstanceStored;

    private object LockFor(string studyUid) => _locks[(uint)StringComparer.Ordinal.GetHashCode(studyUid) % LockStripes];

    /// <summary>Overrides the measured fill level of the store's file system, in percent (tests).</summary>
    public Func<double>? FillPercentProbe { get; set; }

    string IDicomStoreTarget.TempDirectory => IncomingRoot;

    /// <summary>Store:Fsync: writers sync a received file's data before it is committed.</summary>
    public bool Fsync => _options.Fsync;

    /// <summary>With the intake journal on, the commit makes a received file durable (one journal flush) and the SCP
    /// does not sync it.</summary>
    public bool SyncsOnCommit => _journal is not null;

    /// <summary>With the intake journal on, the SCP holds an instance of up to this size in memory (no temporary file
    /// before its answer): one journal flush makes it durable and it is filed after the answer. Larger ones take the
    /// temporary file. 8 MiB covers CT, MR and most radiographs; an association holds at most two (one being filed).</summary>
    int IDicomStoreTarget.BufferedCommitLimit => _journal is null ? 0 : (int)Math.Min(8 << 20, _journal.MaxPayload);

    /// <summary>An instance received into memory: quarantined (from memory) when its UIDs cannot file it; else appended
    /// to the intake journal and flushed, and filed by the returned action after the answer. Without room in the journal
    /// (or with it stopped), written to a temporary file and filed now, its file and folder flushed as before.</summary>
    ValueTask<BufferedCommit> IDicomStoreTarget.CommitBufferedAsync(ReceivedInstance instance, PooledContent content, CancellationToken ct)
    {
        if (instance.IdentityProblem() is { } reason)
        {
            var part = WriteIncoming(content, sync: false);
            Quarantine(part, reason);
            throw new InvalidDataException("instance refused by the store: " + reason);
        }
        var journaled = _journal?.Append(content.Memory, instance.StudyInstanceUid, instance.SeriesInstanceUid, instance.SopInstanceUid, instance.CallingAE);
        if (journaled is null)
        {
            var part = WriteIncoming(content, sync: _options.Fsync);
            try { return ValueTask.FromResult(new BufferedCommit(Store(instance with { TempPath = part, SyncLeftToTarget = false }).Path, null)); }
            catch (StoreRejectedException e) { throw new InvalidDataException("instance refused by the store: " + e.Message, e); }
        }
        var target = Path.Combine(StudiesRoot, instance.StudyInstanceUid, instance.SeriesInstanceUid, instance.SopInstanceUid + ".dcm");
        return ValueTask.FromResult(new BufferedCommit(target, () => FileJournaled(instance, content, journaled)));
    }

    /// <summary>Files an instance whose journal record is durable, after its answer. A failure (disk full) leaves the
    /// record in the journal, not covered by any checkpoint, so the next start files it from there.</summary>
    private void FileJournaled(ReceivedInstance instance, PooledContent content, IntakeJournal.Entry journaled)
    {
        string? part = null;
        try
        {
            part = WriteFiled(content);
            FileInto(instance with { TempPath = part }, journaled, keepRecordOnFailure: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            DurableFile.TryDelete(part);
            _journal!.Keep(journaled);
            _log.LogError("Instance {SopInstanceUid} of study {StudyInstanceUid} is durable in the intake journal but could not be filed ({Error}); it is filed from the journal at the next start",
                instance.SopInstanceUid, instance.StudyInstanceUid, e.Message);
        }
    }

    /// <summary>The file of an instance already durable in the journal, in the incoming folder: written around the page
    /// cache (Store:UncachedFiling) where the file system takes it, else through it.</summary>
    private string WriteFiled(PooledContent content)
    {
        if (_uncached is { } uncached)
        {
            var part = NewIncomingPath();
            if (uncached.TryWriteNew(part, content.Memory.Span))
            {
                Interlocked.Increment(ref _uncachedFilings);
                return part;
            }
            // Refused by the file system: through the page cache from now on, said once (by whoever drops the writer).
            if (Interlocked.CompareExchange(ref _uncached, null, uncached) == uncached)
                _log.LogInformation("The store's file system does not take uncached (O_DIRECT) writes: instances are filed through the page cache ({Key})",
                    $"{StudyStoreOptions.Section}:{nameof(StudyStoreOptions.UncachedFiling)}");
        }
        return WriteIncoming(content, sync: false);
    }

    private string NewIncomingPath() => Path.Combine(IncomingRoot, Guid.NewGuid().ToString("N") + ".part");

    private string WriteIncoming(PooledContent content, bool sync) => WriteIncoming(fs => fs.Write(content.Memory.Span), sync);

    /// <summary>A new file in the incoming folder written by <paramref name="write"/>, synced when asked; removed again
    /// when writing fails.</summary>
    private string WriteIncoming(Action<FileStream> write, bool sync)
    {
        var part = NewIncomingPath();
        try
        {
            using var fs = new FileStream(part, FileMode.CreateNew, FileAccess.Write, FileShare.None, 0, FileOptions.None);
            write(fs);
            if (sync) DurableFile.DataSync(fs);
        }
        catch
        {
            DurableFile.TryDelete(part);
            throw;
        }
        return part;
    }

    /// <summary>Null while the store's file system is at most Store:MaxFillPercent full; else why not (C-STORE 0xA700).</summary>
    public string? CheckCapacity()
    {
        var fill = FillPercentProbe?.Invoke() ?? DurableFile.FillPercent(Root);
        return fill > _options.MaxFillPercent
            ? $"storage is {fill:0.#}% full (limit {_options.MaxFillPercent:0.#}%, {StudyStoreOptions.Section}:{nameof(StudyStoreOptions.MaxFillPercent)})"
            : null;
    }

    ValueTask<string> IDicomStoreTarget.CommitAsync(ReceivedInstance instance, CancellationToken ct)
    {
        try
        {
            return ValueTask.FromResult(Store(instance).Path);
        }
        catch (StoreRejectedException e)
        {
            // Quarantined with its reason; the sender gets 0xC000 (cannot understand) rather than Success.
            throw new InvalidDataException("instance refused by the store: " + e.Message, e);
        }
    }

    /// <summary>Files a received instance (its temporary file is moved, not copied) from the dataset its receiver
    /// parsed; the file is not opened. An instance without the UIDs a store needs is quarantined and the exception
    /// says why.</summary>
    public StoredInstance Store(ReceivedInstance instance)
    {
        var partFile = instance.TempPath;
        if (instance.IdentityProblem() is { } reason)
        {
            Quarantine(partFile, reason);
            throw new StoreRejectedException(reason);
        }
        // Left to the store by the SCP: one journal flush makes the content durable (the file and its name are synced by
        // the checkpoint later, and filed again from the journal after a crash); without room in the journal, the file's
        // own flush, and its folder's below, as before.
        IntakeJournal.Entry? journaled = null;
        if (instance.SyncLeftToTarget)
        {
            journaled = _journal?.Append(partFile, instance.StudyInstanceUid, instance.SeriesInstanceUid, instance.SopInstanceUid, instance.CallingAE);
            if (journaled is null) DurableFile.DataSync(partFile);
        }
        return FileInto(instance, journaled, keepRecordOnFailure: false);
    }

    /// <summary>Moves the instance's file into the study tree and updates the study's record. With a journal record:
    /// tells the journal where it went; when filing fails, the record is released (the sender was answered a failure)
    /// or, with <paramref name="keepRecordOnFailure"/> (it was answered Success), kept for the next start.</summary>
    private StoredInstance FileInto(ReceivedInstance instance, IntakeJournal.Entry? journaled, bool keepRecordOnFailure)
    {
        var partFile = instance.TempPath;
        var study = instance.StudyInstanceUid;
        var series = instance.SeriesInstanceUid;
        var sop = instance.SopInstanceUid;
        var callingAeTitle = instance.CallingAE;
        // Invalid patient or study values do not stop an image (a hospital never wants one lost): it is stored as
        // received and the study is flagged, naming the attributes, never their values.
        var invalid = instance.InvalidPatientValues();

        var dir = Path.Combine(StudiesRoot, study!, series!);
        var target = Path.Combine(dir, sop + ".dcm");
        var now = _time.GetUtcNow();
        string? filedPath = null;
        StoredInstance stored;
        try
        {
        lock (LockFor(study!))
        {
            if (keepRecordOnFailure) JournalFault?.Invoke("file");
            var replaced = File.Exists(target);
            // A duplicate SOP Instance UID replaces the earlier copy; the folder is synced so the name survives a power cut
            // (by the journal's checkpoint when the instance is in the journal).
            DurableFile.MoveInto(partFile, dir, sop + ".dcm", journaled is null && _options.Fsync && _options.FsyncDirectory);
            filedPath = target;
            var isNew = false;
            var record = _studies.GetOrAdd(study!, uid =>
            {
                isNew = true;
                return new StudyRecord { StudyInstanceUid = uid, FirstArrival = now };
            });
            var priorityBefore = record.Priority;
            var aesBefore = record.CallingAeTitles.Count;
            if (!replaced)
            {
                record.InstanceCount++;
                if (!record.Series.TryGetValue(series!, out var s))
                    record.Series[series!] = s = new SeriesRecord { SeriesInstanceUid = series!, Modality = instance.Modality };
                s.InstanceCount++;
            }
            record.LastArrival = now;
            if (!record.CallingAeTitles.Contains(callingAeTitle)) record.CallingAeTitles.Add(callingAeTitle);
            var newlyInvalid = invalid.Where(p => !record.InvalidValues.Contains(p)).ToList();
            if (newlyInvalid.Count > 0)
            {
                record.InvalidValues.AddRange(newlyInvalid);
                _log.LogWarning("Study {StudyInstanceUid}: instance {SopInstanceUid} from {CallingAE} has invalid patient or study values, stored as received and copied unchanged into the results: {Problems}",
                    study, sop, callingAeTitle, string.Join("; ", newlyInvalid));
            }
            if (IsStat(instance)) record.Priority = "stat";
            var reopened = false;
            if (record.State is not StudyState.Receiving)
            {
                // A late arrival: analyse again only if it can change what was analysed (the job compares fingerprints).
                if (StudyLifecycle.Allows(record.State, StudyState.Receiving))
                {
                    _log.LogInformation("Late instance {SopInstanceUid} for study {StudyInstanceUid} in state {State}: study reopened", sop, study, record.State);
                    record.State = StudyState.Receiving;
                    reopened = true;
                }
            }
            // The index is written only when it learns something the files cannot tell at start: a new study, a new
            // calling AE title (its quiet period), the stat priority, an invalid value, or a state change (synced). Counts
            // and the last arrival are recomputed from the files and their folders' times (Load), so an ordinary arrival
            // costs no second file write and rename next to the instance it files.
            if (isNew || reopened || newlyInvalid.Count > 0 || record.Priority != priorityBefore || record.CallingAeTitles.Count != aesBefore)
                Save(record, durable: reopened);
            stored = new StoredInstance(study!, series!, sop!, target, replaced);
        }
        }
        finally
        {
            if (journaled is not null && (filedPath is not null || !keepRecordOnFailure)) _journal!.Filed(journaled, filedPath);
        }
        InstanceStored?.Invoke(stored);
        return stored;
    }

    private bool IsStat(ReceivedInstance instance) =>
        _options.StatCallingAeTitles.Contains(instance.CallingAE, StringComparer.Ordinal)
        || instance.StudyPriorityId is { Length: > 0 } p && _options.StatStudyPriorities.Contains(p, StringComparer.OrdinalIgnoreCase);

    /// <summary>Moves a file aside with a text file that says why; the data is kept for a person to look at.</summary>
    public string Quarantine(string file, string reason)
    {
        var name = $"{_time.GetUtcNow():yyyyMMddTHHmmssfff}-{Guid.NewGuid():N}";
        var target = Path.Combine(QuarantineRoot, name + ".dcm");
        File.Move(file, target);
        File.WriteAllText(Path.Combine(QuarantineRoot, name + ".reason.txt"), reason + Environment.NewLine);
        _log.LogWarning("Quarantined {File}: {Reason}", Path.GetFileName(target), reason);
        return target;
    }

    public StudyRecord? Get(string studyUid) => _studies.TryGetValue(studyUid, out var r) ? Snapshot(r) : null;

    public IReadOnlyList<StudyRecord> List() => _studies.Values.Select(Snapshot).OrderBy(r => r.FirstArrival).ToList();

    private StudyRecord Snapshot(StudyRecord r)
    {
        lock (LockFor(r.StudyInstanceUid)) return r.Copy();
    }

    /// <summary>
    /// Studies whose quiet period has passed are marked Complete and returned, once each. The move is made only if its
    /// index is saved: a save that fails (disk full) leaves the study Receiving, on disk and in memory, with no stray
    /// temporary file, and it is tried again on the next call; the other studies go on.
    /// </summary>
    public IReadOnlyList<StudyRecord> TakeCompleted()
    {
        var now = _time.GetUtcNow();
        var result = new List<StudyRecord>();
        foreach (var r in _studies.Values)
        {
            lock (LockFor(r.StudyInstanceUid))
            {
                if (r.State != StudyState.Receiving) continue;
                var quiet = r.CallingAeTitles.Select(ae => _options.QuietPeriodByCallingAe.TryGetValue(ae, out var q) ? q : _options.QuietPeriod)
                    .DefaultIfEmpty(_options.QuietPeriod).Max();
                if (now - r.LastArrival < quiet) continue;
                if (!TrySaveAs(r, rec => rec.State = StudyState.Complete, out var error))
                {
                    _log.LogWarning("Study {StudyInstanceUid} stays Receiving: its index could not be saved ({Error}); tried again at the next check",
                        r.StudyInstanceUid, error!.Message);
                    continue;
                }
                result.Add(r.Copy());
            }
        }
        return result;
    }

    /// <summary>Applies <paramref name="change"/> to the record and saves it; if the save fails, the record is put back as
    /// it was (the in-memory state never runs ahead of the index on disk) and false is returned with the error.</summary>
    private bool TrySaveAs(StudyRecord r, Action<StudyRecord> change, out Exception? error)
    {
        var before = r.Copy();
        change(r);
        try
        {
            Save(r);
            error = null;
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Restore(r, before);
            error = e;
            return false;
        }
    }

    private static void Restore(StudyRecord r, StudyRecord from)
    {
        r.State = from.State;
        r.Reason = from.Reason;
        r.Attempts = from.Attempts;
        r.Priority = from.Priority;
        r.AnalysedSeriesUid = from.AnalysedSeriesUid;
        r.AnalysedFingerprint = from.AnalysedFingerprint;
        r.Triage = from.Triage;
        r.UpdatedAt = from.UpdatedAt;
        r.FirstArrival = from.FirstArrival;
        r.LastArrival = from.LastArrival;
        r.InstanceCount = from.InstanceCount;
        r.CallingAeTitles = from.CallingAeTitles;
        r.InvalidValues = from.InvalidValues;
        r.Series = from.Series;
    }

    /// <summary>
    /// The one way a study changes state. The move must be in <see cref="StudyLifecycle.Table"/>; a caller that only
    /// expects some starting states (e.g. "Analysing", not a study a late arrival reopened meanwhile) names them in
    /// <paramref name="onlyFrom"/>. <paramref name="reason"/> replaces the record's Reason (null clears it);
    /// <paramref name="mutate"/> changes the record under the same lock. A refused move is logged with why.
    /// </summary>
    public TransitionResult Transition(string studyUid, StudyState to, string? reason = null, Action<StudyRecord>? mutate = null,
        IReadOnlyCollection<StudyState>? onlyFrom = null)
    {
        if (!_studies.TryGetValue(studyUid, out var r))
        {
            var missing = TransitionResult.Refused(null, to, "study is not in the store");
            _log.NotMoved(studyUid, to, missing.Refusal!);
            return missing;
        }
        lock (LockFor(studyUid))
        {
            var from = r.State;
            // A study that moved on meanwhile (a late arrival, another job) is a race the caller expects: logged as
            // information. A move the table does not list is a caller's mistake: logged as a warning.
            if (onlyFrom is not null && !onlyFrom.Contains(from))
            {
                var unexpected = TransitionResult.Refused(from, to, $"study is {from}, expected {string.Join(" or ", onlyFrom)}");
                _log.NotMoved(studyUid, to, unexpected.Refusal!);
                return unexpected;
            }
            if (!StudyLifecycle.Allows(from, to))
            {
                var illegal = TransitionResult.Refused(from, to, $"{from} -> {to} is not in the lifecycle table");
                _log.Illegal(studyUid, from, to, illegal.Refusal!);
                return illegal;
            }
            // Made only if saved: a failed save (disk full) puts the record back and throws, so the caller sees the
            // move did not happen and the study is not left in a state its index on disk does not have.
            if (!TrySaveAs(r, rec =>
                {
                    rec.State = to;
                    rec.Reason = reason;
                    if (to == StudyState.Analysing) rec.Attempts++;
                    mutate?.Invoke(rec);
                }, out var error))
                throw new IOException($"study {studyUid}: {from} -> {to} not made, its index could not be saved: {error!.Message}", error);
            _log.Moved(studyUid, from, to, reason ?? StudyLifecycle.Table[from][to]);
            return TransitionResult.Done(from, to);
        }
    }

    /// <summary>How many studies are in each state now (for the metrics gauge).</summary>
    public IReadOnlyDictionary<StudyState, int> CountByState()
    {
        var counts = Enum.GetValues<StudyState>().ToDictionary(s => s, _ => 0);
        foreach (var r in _studies.Values) counts[r.State]++;
        return counts;
    }

    /// <summary>Deletes studies that finished (Delivered or Failed) and saw no arrival for <paramref name="olderThan"/>; returns their UIDs.
    /// <paramref name="beforeRemoving"/> runs for each first (the caller's own files of the study, e.g. its results): a
    /// crash or an error after it leaves the study in the store, so the next retention finds it again; done the other way
    /// round, a crash in between left those files with no study to be found by.</summary>
    public IReadOnlyList<string> RemoveFinished(TimeSpan olderThan, Action<string>? beforeRemoving = null)
    {
        var cutoff = _time.GetUtcNow() - olderThan;
        var removed = new List<string>();
        foreach (var r in _studies.Values)
        {
            lock (LockFor(r.StudyInstanceUid))
            {
                if (!StudyLifecycle.IsFinal(r.State) || r.UpdatedAt > cutoff || r.LastArrival > cutoff) continue;
                beforeRemoving?.Invoke(r.StudyInstanceUid);
                Directory.CreateDirectory(TrashRoot);
                // One rename takes the whole study out of the store atomically; the delete that follows may be interrupted.
                Directory.Move(Path.Combine(StudiesRoot, r.StudyInstanceUid), Path.Combine(TrashRoot, r.StudyInstanceUid + "-" + Guid.NewGuid().ToString("N")));
                _studies.TryRemove(r.StudyInstanceUid, out _);
                removed.Add(r.StudyInstanceUid);
                // The study is out of the store either way; an unsynced rename can at worst bring a finished study back after a crash.
                try { DurableFile.FsyncDirectory(StudiesRoot); }
                catch (IOException e) { _log.LogWarning("Removal of study {StudyInstanceUid} not yet durable: {Error}", r.StudyInstanceUid, e.Message); }
            }
        }
        EmptyTrash();
        return removed;
    }

    private void EmptyTrash()
    {
        if (!Directory.Exists(TrashRoot)) return;
        foreach (var dir in Directory.EnumerateDirectories(TrashRoot))
        {
            try { Directory.Delete(dir, recursive: true); }
            catch (IOException e) { _log.LogWarning("Could not delete {Folder} yet: {Error}", Path.GetFileName(dir), e.Message); }
        }
    }

    /// <summary>Studies a previous run left unfinished (queued, analysing, or analysed but not delivered): re-enqueued
    /// at start. Failed studies are final and never among them.</summary>
    public IReadOnlyList<StudyRecord> Unfinished() => List().Where(r => StudyLifecycle.IsUnfinished(r.State)).ToList();

    public IEnumerable<string> InstancePaths(string studyUid, string? seriesUid = null)
    {
        var dir = Path.Combine(StudiesRoot, studyUid);
        if (!Directory.Exists(dir)) return [];
        var dirs = seriesUid is null ? Directory.GetDirectories(dir) : [Path.Combine(dir, seriesUid)];
        return dirs.Where(Directory.Exists).SelectMany(d => Directory.EnumerateFiles(d, "*.dcm")).OrderBy(p => p, StringComparer.Ordinal).ToList();
    }

    /// <summary>SHA-256 over the sorted SOP Instance UIDs of a series: equal fingerprints mean the same input.</summary>
    public string Fingerprint(string studyUid, string seriesUid) => Hash(InstancePaths(studyUid, seriesUid));

    /// <summary>The same over the whole study: the content a job was queued for, compared across nodes.</summary>
    public string StudyFingerprint(string studyUid) => Hash(InstancePaths(studyUid));

    private static string Hash(IEnumerable<string> paths)
    {
        var names = paths.Select(Path.GetFileNameWithoutExtension).OrderBy(n => n, StringComparer.Ordinal);
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.ASCII.GetBytes(string.Join("\n", names))));
    }

    private void Save(StudyRecord r, bool durable = true)
    {
        r.UpdatedAt = _time.GetUtcNow();
        var dir = Path.Combine(StudiesRoot, r.StudyInstanceUid);
        Directory.CreateDirectory(dir);
        var path = Path.Combine(dir, "study.json");
        var tmp = path + ".tmp";
        try
        {
            using (var fs = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None))
            {
                JsonSerializer.Serialize(fs, r, Json);
                if (durable) DurableFile.DataSync(fs);
            }
            IndexWriteFault?.Invoke(tmp);
            File.Move(tmp, path, overwrite: true);
        }
        catch
        {
            // A half-written index (disk full) must not be left beside the real one.
            try { File.Delete(tmp); } catch (IOException) { }
            throw;
        }
        if (durable) DurableFile.FsyncDirectory(dir);
    }

    /// <summary>Called with the temporary index file just before it replaces study.json; a test throws here to inject a
    /// write failure (disk full) at that moment.</summary>
    public Action<string>? IndexWriteFault { get; set; }

    /// <summary>Rebuilds the index at start: from each study.json, or from the files when a crash left none.</summary>
    private void Load()
    {
        foreach (var dir in Directory.EnumerateDirectories(StudiesRoot))
        {
            var uid = Path.GetFileName(dir);
            StudyRecord? record = null;
            var path = Path.Combine(dir, "study.json");
            if (File.Exists(path))
            {
                try { record = JsonSerializer.Deserialize<StudyRecord>(File.ReadAllText(path), Json); }
                catch (JsonException e) { _log.LogWarning("Index of study {StudyInstanceUid} unreadable ({Error}); rebuilt from its files", uid, e.Message); }
            }
            record ??= new StudyRecord { StudyInstanceUid = uid, FirstArrival = _time.GetUtcNow(), LastArrival = _time.GetUtcNow() };
            // The files are the truth: counts are recomputed, so an instance filed just before a crash is never lost.
            record.Series.Clear();
            record.InstanceCount = 0;
            foreach (var seriesDir in Directory.EnumerateDirectories(dir))
            {
                var files = Directory.GetFiles(seriesDir, "*.dcm");
                if (files.Length == 0) continue;
                // A series folder's modification time is its last filed instance's rename: arrivals after the index was
                // last written count for the quiet period too.
                var filedAt = new DateTimeOffset(Directory.GetLastWriteTimeUtc(seriesDir), TimeSpan.Zero);
                if (filedAt > record.LastArrival && filedAt <= _time.GetUtcNow()) record.LastArrival = filedAt;
                // From the first file that reads: after a power cut a file renamed just before it may be empty or cut short
                // (the intake journal files it again right after this).
                string modality = "";
                foreach (var f in files)
                {
                    try
                    {
                        modality = DicomFile.Open(f, new DicomReadOptions { StopBeforePixelData = true }).Dataset.GetString(DicomTags.Modality) ?? "";
                        break;
                    }
                    catch (Exception e) when (e is DicomFormatException or EndOfStreamException or InvalidDataException or IOException) { }
                }
                record.Series[Path.GetFileName(seriesDir)] = new SeriesRecord { SeriesInstanceUid = Path.GetFileName(seriesDir), Modality = modality, InstanceCount = files.Length };
                record.InstanceCount += files.Length;
            }
            _studies[uid] = record;
        }
        foreach (var stale in Directory.EnumerateFiles(IncomingRoot))
        {
            // Partial files of associations that ended mid-transfer: their senders never got Success.
            try { File.Delete(stale); } catch (IOException) { }
        }
    }
}

/// <summary>The store refused an instance and quarantined it.</summary>
public sealed class StoreRejectedException : Exception
{
    public StoreRejectedException(string message, Exception? inner = null) : base(message, inner) { }
}
