using System.Buffers;
using System.Buffers.Binary;
using System.IO.Hashing;
using System.Text;
using MedAiNode.Dicom.IO;
using Microsoft.Extensions.Logging;
using Microsoft.Win32.SafeHandles;

namespace MedAiNode.Store;

/// <summary>
/// The intake journal (issue 16): one preallocated file (<c>journal/intake.journal</c> under the store root, written with
/// zeros once so a later write never allocates and its flush needs no file-system journal commit). A C-STORE instance is
/// appended here as one record and the journal is flushed once (fdatasync); that flush is what makes the instance
/// durable before Success. The instance is then renamed into the study tree with no flush of its own; a background
/// checkpoint later syncs the filed files and their folders and records, durably, that the records before it are no
/// longer needed, so the space is reused (circularly). At start, records after the last checkpoint are filed again
/// from the journal (<see cref="Open"/>).
/// </summary>
/// <remarks>
/// Layout: two checkpoint blocks (4 KiB each, written alternately, each with its own hash, so a torn write of one leaves
/// the other), then the data area. A record starts on a 4 KiB boundary (a flush never rewrites a page of an earlier,
/// acknowledged record): a 512-byte header (magic, sequence number, payload length, XxHash3 of the payload, the Study,
/// Series and SOP Instance UIDs and calling AE title it is filed by, and a hash of the header), then the payload: the
/// whole Part 10 file as received. A record never wraps: one that does not fit before the end goes to the start of the
/// data area. Recovery reads from the checkpoint's offset and sequence number: a record is taken only with a valid
/// header hash, the expected sequence number and a valid payload hash, at the expected offset or, failing that, at the
/// start of the data area; the first one that is not ends the scan. Sequence numbers are never reused (after a recovery
/// the next one skips past every number the journal could still hold), so a stale record of an earlier lap never matches.
/// Appends are ordered: a record's payload and header are written under one lock, the flush after it (group commit: one
/// flush covers every record written before it started) under another; a failed flush stops the journal for the rest of
/// the run (later instances take the plain path: their own file and folder flushes), so no record is ever reported
/// durable after a flush error another thread saw.
/// </remarks>
public sealed class IntakeJournal : IDisposable
{
    public const int Block = 4096;
    public const int HeaderSize = 512;
    private const long DataStart = 2 * Block;
    private static ReadOnlySpan<byte> RecordMagic => "MEDAIJR1"u8;
    private static ReadOnlySpan<byte> CheckpointMagic => "MEDAIJC1"u8;

    private readonly SafeFileHandle _file;
    private readonly ILogger _log;
    private readonly Action<string>? _fault;
    private readonly Action<IReadOnlyCollection<string>> _syncFiled;
    private readonly long _end;

    // Writer state (under _writeLock): where the next record goes and its sequence number.
    private readonly object _writeLock = new();
    private long _head;
    private ulong _nextSeq;
    // The last sequence number whose bytes are written (page cache) and the last one known flushed (under _syncLock).
    private long _written;
    private readonly object _syncLock = new();
    private long _synced;
    private volatile Exception? _failed;

    // Records appended and not yet covered by a checkpoint, in sequence order (under _stateLock).
    private readonly object _stateLock = new();
    private readonly LinkedList<Entry> _pending = new();
    private readonly object _checkpointLock = new();
    private ulong _checkpointCounter;

    private readonly SemaphoreSlim _wake = new(0);
    private bool _urgent; // a threshold was crossed: checkpoint without waiting for a pause
    private bool _loopIdle; // the loop waits with nothing pending, no timeout: the next filed record wakes it (_stateLock)
    private Task? _checkpointer;
    private volatile bool _disposed;

    /// <summary>A record appended and flushed; <see cref="Filed"/> tells the journal where its file went.</summary>
    public sealed class Entry
    {
        internal ulong Seq;
        internal long Offset, End;
        internal string? Path;
        internal volatile bool Done;
        // Its filing after the answer failed: it stays in the journal, uncovered, and the next start files it.
        internal volatile bool Kept;
        internal DateTime AppendedAt;
    }

    /// <summary>A record found after the checkpoint at start.</summary>
    public sealed record Record(ulong Seq, string StudyUid, string SeriesUid, string SopUid, string CallingAE, long Length, ulong PayloadHash);

    /// <summary>What the journal did since it was opened (tests, the benchmark).</summary>
    public sealed class Counters
    {
        public long Appended, TooLarge, ForcedCheckpoints, Checkpoints, Wraps;
        /// <summary>Flushes of the journal for appends (fewer than appends when one covered several), and the time spent
        /// writing records, flushing, and in checkpoints (Stopwatch ticks).</summary>
        public long Flushes, WriteTicks, FlushTicks, CheckpointTicks;
        // The last 4096 flush times (ticks), for a median: a mean hides whether a few long stalls or every flush is slow.
        internal readonly long[] RecentFlushes = new long[4096];

        /// <summary>Median, 10th and 90th percentile of the last 4096 journal flushes, in ms.</summary>
        public (double P10, double Median, double P90) FlushMillis()
        {
            var n = (int)Math.Min(Flushes, RecentFlushes.Length);
            if (n == 0) return (0, 0, 0);
            var t = RecentFlushes.Take(n).Order().ToArray();
            double Ms(long ticks) => ticks * 1000.0 / System.Diagnostics.Stopwatch.Frequency;
            return (Ms(t[n / 10]), Ms(t[n / 2]), Ms(t[n * 9 / 10]));
        }
    }

    public Counters Stats { get; } = new();
    /// <summary>Checkpoint at once after this many records not yet covered (or with the journal half full) ...</summary>
    public int CheckpointInstances { get; private set; } = 1024;
    /// <summary>... else once no record came for <see cref="CheckpointQuiet"/>, the intake having paused: a checkpoint's
    /// syncfs writes back every filed file, and the journal flushes of instances still arriving would wait behind it ...</summary>
    public TimeSpan CheckpointQuiet { get; private set; } = TimeSpan.FromMilliseconds(100);
    /// <summary>... and at the latest this long after the oldest record not yet covered, for an intake that never pauses.</summary>
    public TimeSpan CheckpointInterval { get; private set; } = TimeSpan.FromSeconds(10);
    /// <summary>False: no background checkpoints, only forced ones and the last at dispose (tests).</summary>
    public bool Background { get; private set; } = true;
    public string Path { get; }
    public long Size => _end;
    /// <summary>The largest payload a record can hold (the whole data area).</summary>
    public long MaxPayload => (_end - DataStart) / Block * Block - HeaderSize;

    private IntakeJournal(string path, SafeFileHandle file, long size, ulong nextSeq, long head, ulong checkpointCounter,
        ILogger log, Action<string>? fault, Action<IReadOnlyCollection<string>> syncFiled)
    {
        Path = path;
        _file = file;
        _end = size;
        _nextSeq = nextSeq;
        _head = head;
        _written = _synced = (long)nextSeq - 1;
        _checkpointCounter = checkpointCounter;
        _log = log;
        _fault = fault;
        _syncFiled = syncFiled;
    }

    /// <summary>How many bytes a record of a payload this long takes (header, payload, padding to a block).</summary>
    public static long RecordSize(long payload) => (HeaderSize + payload + Block - 1) / Block * Block;

    /// <summary>
    /// Opens the journal at <paramref name="path"/>, creating it (<paramref name="size"/> bytes of zeros, synced) when
    /// missing. Records an earlier run left after its last checkpoint are handed to <paramref name="replay"/> in order
    /// (with a stream over the payload) before this returns; the paths it returns are synced with
    /// <paramref name="syncFiled"/> and then a checkpoint is written, so they are never replayed again. An existing
    /// journal of another size is replayed, then replaced. <paramref name="size"/> 0: an existing journal is replayed
    /// and deleted, and null is returned.
    /// </summary>
    public static IntakeJournal? Open(string path, long size, ILogger log, Func<Record, Stream, string?> replay,
        Action<IReadOnlyCollection<string>> syncFiled, Action<string>? fault = null,
        int? checkpointInstances = null, TimeSpan? checkpointInterval = null, bool background = true, TimeSpan? checkpointQuiet = null)
    {
        if (size != 0 && size < DataStart + Block) throw new ArgumentOutOfRangeException(nameof(size));
        var dir = System.IO.Path.GetDirectoryName(path)!;
        Directory.CreateDirectory(dir);
        IntakeJournal? journal = null;
        if (File.Exists(path))
        {
            var handle = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite, FileShare.Read);
            try
            {
                journal = Recover(path, handle, log, replay, syncFiled, fault);
            }
            catch
            {
                handle.Dispose();
                throw;
            }
            if (journal is not null && journal._end == size) return Configure(journal);
            // Replayed and checkpointed: its content is in the study tree. Replaced by one of the configured size (or none).
            // One whose checkpoint blocks are both unreadable (never seen: they are written alternately) is kept aside for
            // a person, not deleted.
            journal?.Dispose();
            if (journal is null) handle.Dispose();
            var aside = journal is null ? $"{path}.unreadable-{DateTime.UtcNow:yyyyMMddTHHmmss}" : path + ".old";
            File.Move(path, aside, overwrite: true);
            DurableFile.FsyncDirectory(dir);
            if (journal is not null) File.Delete(aside);
        }
        if (size == 0) return null;
        var tmp = path + ".tmp";
        using (var h = File.OpenHandle(tmp, FileMode.Create, FileAccess.ReadWrite, FileShare.None))
        {
            // Written, not just allocated (fallocate): an unwritten extent's first write is a metadata change, and the
            // flush after it would wait for a file-system journal commit.
            var zeros = new byte[1 << 20];
            for (long at = 0; at < size; at += zeros.Length)
                RandomAccess.Write(h, zeros.AsSpan(0, (int)Math.Min(zeros.Length, size - at)), at);
            WriteCheckpoint(h, 1, 1, DataStart, size);
            DurableFile.DataSync(h, "the intake journal");
        }
        File.Move(tmp, path, overwrite: true);
        DurableFile.FsyncDirectory(dir);
        var file = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite, FileShare.Read);
        log.LogInformation("Intake journal created: {Size} MiB", size >> 20);
        return Configure(new IntakeJournal(path, file, size, 1, DataStart, 1, log, fault, syncFiled));

        IntakeJournal Configure(IntakeJournal j)
        {
            j.CheckpointInstances = checkpointInstances ?? j.CheckpointInstances;
            j.CheckpointInterval = checkpointInterval ?? j.CheckpointInterval;
            j.CheckpointQuiet = checkpointQuiet ?? j.CheckpointQuiet;
            j.Background = background;
            return j;
        }
    }

    private static IntakeJournal? Recover(string path, SafeFileHandle handle, ILogger log, Func<Record, Stream, string?> replay,
        Action<IReadOnlyCollection<string>> syncFiled, Action<string>? fault)
    {
        var length = RandomAccess.GetLength(handle);
        var checkpoint = ReadCheckpoint(handle, length);
        if (checkpoint is not { } cp)
        {
            log.LogWarning("Intake journal {Path} has no readable checkpoint block; nothing replayed, it is kept beside a new one (.unreadable-*)", path);
            return null;
        }
        var (counter, seq, offset, size) = cp;
        var end = Math.Min(size, length);
        var paths = new HashSet<string>(StringComparer.Ordinal);
        var header = new byte[HeaderSize];
        var replayed = 0;
        var expected = seq;
        var at = offset;
        var head = offset;
        var buffer = ArrayPool<byte>.Shared.Rent(1 << 20);
        try
        {
            // Bounded by the most records the file can hold: a sequence number is written once, so the scan cannot come back
            // to a record it took; the bound only guards that reasoning.
            for (var left = end / Block; left > 0; left--)
            {
                var found = TryRecord(handle, at, expected, end, header, buffer);
                if (found is null && at != DataStart)
                {
                    at = DataStart;
                    found = TryRecord(handle, at, expected, end, header, buffer);
                }
                if (found is not { } rec) break;
                using (var payload = new JournalPayloadStream(handle, at + HeaderSize, rec.Length))
                {
                    if (replay(rec, payload) is { } filed) paths.Add(filed);
                }
                replayed++;
                expected++;
                at += RecordSize(rec.Length);
                head = at;
            }
        }
        finally { ArrayPool<byte>.Shared.Return(buffer); }
        // Every replayed file (and one found intact, which after kill -9 may still be only in the page cache) is synced
        // with its folders before the checkpoint says the records are no longer needed.
        syncFiled(paths);
        // Never reuse a sequence number a record still in the file could carry: records an interrupted run wrote after
        // the last valid one (never acknowledged) have numbers up to expected + (records that fit) at most.
        var next = expected + (ulong)(end / Block) + 1;
        var journal = new IntakeJournal(path, handle, end, next, head >= end ? DataStart : head, counter, log, fault, syncFiled);
        journal.WriteCheckpointDurably(next, journal._head);
        if (replayed > 0 || seq != 1)
            log.LogInformation("Intake journal: {Records} records after the last checkpoint read at start, {Files} instances checked or filed again", replayed, paths.Count);
        return journal;
    }

    /// <summary>The record at <paramref name="at"/> when it is complete and is the one expected, else null.</summary>
    private static Record? TryRecord(SafeFileHandle h, long at, ulong expected, long end, byte[] header, byte[] buffer)
    {
        if (at < DataStart || at + HeaderSize > end) return null;
        if (RandomAccess.Read(h, header, at) != HeaderSize) return null;
        var s = header.AsSpan();
        if (!s[..8].SequenceEqual(RecordMagic)) return null;
        if (BinaryPrimitives.ReadUInt64LittleEndian(s[(HeaderSize - 8)..]) != XxHash3.HashToUInt64(s[..(HeaderSize - 8)])) return null;
        var seq = BinaryPrimitives.ReadUInt64LittleEndian(s[8..]);
        var len = BinaryPrimitives.ReadInt64LittleEndian(s[16..]);
        var hash = BinaryPrimitives.ReadUInt64LittleEndian(s[24..]);
        if (seq != expected || len < 0 || at + RecordSize(len) > end) return null;
        var p = 32;
        string Next(ReadOnlySpan<byte> b)
        {
            var n = b[p];
            var v = Encoding.UTF8.GetString(b.Slice(p + 1, n));
            p += 1 + n;
            return v;
        }
        var study = Next(s);
        var series = Next(s);
        var sop = Next(s);
        var ae = Next(s);
        return PayloadHash(h, at + HeaderSize, len, buffer) == hash ? new Record(seq, study, series, sop, ae, len, hash) : null;
    }

    /// <summary>
    /// Appends the complete file <paramref name="tempPath"/> as one record and flushes the journal: the instance is
    /// durable when this returns. Null when it cannot take it (larger than the journal, no room even after a checkpoint,
    /// or the journal stopped after an earlier error): the caller makes the file durable itself. Throws an
    /// <see cref="IOException"/> when writing or flushing failed (the instance must not be answered Success).
    /// </summary>
    public Entry? Append(string tempPath, string studyUid, string seriesUid, string sopUid, string callingAE)
    {
        if (_failed is not null || _disposed) return null;
        using var src = File.OpenHandle(tempPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        return Append(new Payload(src, default, RandomAccess.GetLength(src)), studyUid, seriesUid, sopUid, callingAE);
    }

    /// <summary>As <see cref="Append(string,string,string,string,string)"/>, for a whole Part 10 file held in memory (the
    /// SCP's in-memory intake: no temporary file before the answer).</summary>
    public Entry? Append(ReadOnlyMemory<byte> content, string studyUid, string seriesUid, string sopUid, string callingAE)
    {
        if (_failed is not null || _disposed) return null;
        return Append(new Payload(null, content, content.Length), studyUid, seriesUid, sopUid, callingAE);
    }

    /// <summary>A record's payload: a file read at offsets, or bytes in memory.</summary>
    private readonly struct Payload(SafeFileHandle? file, ReadOnlyMemory<byte> memory, long length)
    {
        public long Length => length;

        public int Read(Span<byte> into, long at)
        {
            if (file is not null) return RandomAccess.Read(file, into, at);
            var n = (int)Math.Min(into.Length, memory.Length - at);
            if (n <= 0) return 0;
            memory.Span.Slice((int)at, n).CopyTo(into);
            return n;
        }
    }

    private Entry? Append(Payload src, string studyUid, string seriesUid, string sopUid, string callingAE)
    {
        var length = src.Length;
        var need = RecordSize(length);
        if (need > _end - DataStart)
        {
            Interlocked.Increment(ref Stats.TooLarge);
            return null;
        }
        var header = new byte[HeaderSize];
        if (!FillHeader(header, studyUid, seriesUid, sopUid, callingAE)) return null;
        Entry entry;
        lock (_writeLock)
        {
            if (_failed is not null) return null;
            var at = FindSpace(need);
            if (at < 0)
            {
                // The writer caught up with records not yet covered: checkpoint now, on this thread (rare: the background
                // checkpoint normally keeps well ahead).
                Interlocked.Increment(ref Stats.ForcedCheckpoints);
                Checkpoint();
                at = FindSpace(need);
                if (at < 0 && WaitForOldestFiling())
                {
                    Checkpoint();
                    at = FindSpace(need);
                }
                if (at < 0)
                {
                    Interlocked.Increment(ref Stats.TooLarge);
                    return null;
                }
            }
            if (at == DataStart && _head != DataStart) Interlocked.Increment(ref Stats.Wraps);
            var seq = _nextSeq;
            // The record is written as whole pages (header, payload, zeros to the next 4 KiB), in chunks of up to 1 MiB:
            // a partial page would make the kernel read it first. The first chunk, holding the header, is written last,
            // once the payload's hash is known; one flush follows for all of it.
            var first = ArrayPool<byte>.Shared.Rent(Chunk);
            var buffer = need > Chunk ? ArrayPool<byte>.Shared.Rent(Chunk) : null;
            var started = System.Diagnostics.Stopwatch.GetTimestamp();
            try
            {
                _fault?.Invoke("write");
                var firstLength = (int)Math.Min(need, Chunk);
                var hash = Fill(src, 0, first, HeaderSize, firstLength, 0, length);
                for (long chunk = Chunk; chunk < need; chunk += Chunk)
                {
                    var n = (int)Math.Min(Chunk, need - chunk);
                    hash = Fill(src, hash, buffer!, 0, n, chunk - HeaderSize, length);
                    RandomAccess.Write(_file, buffer.AsSpan(0, n), at + chunk);
                }
                header.AsSpan(0, HeaderSize).CopyTo(first);
                BinaryPrimitives.WriteUInt64LittleEndian(first.AsSpan(8), seq);
                BinaryPrimitives.WriteInt64LittleEndian(first.AsSpan(16), length);
                BinaryPrimitives.WriteUInt64LittleEndian(first.AsSpan(24), hash);
                BinaryPrimitives.WriteUInt64LittleEndian(first.AsSpan(HeaderSize - 8), XxHash3.HashToUInt64(first.AsSpan(0, HeaderSize - 8)));
                RandomAccess.Write(_file, first.AsSpan(0, firstLength), at);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                Fail(e);
                throw;
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(first);
                if (buffer is not null) ArrayPool<byte>.Shared.Return(buffer);
            }
            Interlocked.Add(ref Stats.WriteTicks, System.Diagnostics.Stopwatch.GetTimestamp() - started);
            _nextSeq = seq + 1;
            _head = at + need;
            entry = new Entry { Seq = seq, Offset = at, End = at + need, AppendedAt = DateTime.UtcNow };
            lock (_stateLock) _pending.AddLast(entry);
            Volatile.Write(ref _written, (long)seq);
        }
        try
        {
            Sync(entry.Seq);
        }
        catch
        {
            // Not durable: nothing to file from it; it must not hold back later checkpoints.
            entry.Done = true;
            throw;
        }
        Interlocked.Increment(ref Stats.Appended);
        return entry;
    }

    /// <summary>Fills <paramref name="into"/>[<paramref name="from"/>..<paramref name="to"/>) with the payload from
    /// <paramref name="payloadAt"/> on, and zeros past the payload's end; returns the hash chained over that piece.</summary>
    private static ulong Fill(in Payload src, ulong hash, byte[] into, int from, int to, long payloadAt, long length)
    {
        var pos = from;
        while (pos < to && payloadAt < length)
        {
            var n = src.Read(into.AsSpan(pos, (int)Math.Min(to - pos, length - payloadAt)), payloadAt);
            if (n <= 0) throw new IOException("the received file became shorter while it was being journaled");
            pos += n;
            payloadAt += n;
        }
        into.AsSpan(pos, to - pos).Clear();
        return pos > from ? Chain(hash, into.AsSpan(from, pos - from)) : hash;
    }

    // The payload's hash: XxHash3 of each piece (the first Chunk - HeaderSize bytes, then Chunk bytes at a time), each
    // seeded with the hash so far. Pieces hashed in one call: the streaming XxHash3 is several times slower.
    private const int Chunk = 1 << 20;
    private static ulong Chain(ulong hash, ReadOnlySpan<byte> piece) => XxHash3.HashToUInt64(piece, unchecked((long)hash));

    /// <summary>The payload hash of <paramref name="length"/> bytes at <paramref name="start"/> in a file; null when it
    /// is shorter.</summary>
    public static ulong? PayloadHash(SafeFileHandle h, long start, long length, byte[] buffer)
    {
        ulong hash = 0;
        for (long done = 0; done < length;)
        {
            var piece = (int)Math.Min(done == 0 ? Chunk - HeaderSize : Chunk, length - done);
            for (var got = 0; got < piece;)
            {
                var n = RandomAccess.Read(h, buffer.AsSpan(got, piece - got), start + done + got);
                if (n <= 0) return null;
                got += n;
            }
            hash = Chain(hash, buffer.AsSpan(0, piece));
            done += piece;
        }
        return hash;
    }

    /// <summary>Group commit: one flush covers every record written before it started; a thread whose record an
    /// earlier flush covered returns at once. A flush error stops the journal (see the class remarks).</summary>
    private void Sync(ulong seq)
    {
        lock (_syncLock)
        {
            if (_failed is { } failed) throw new IOException("the intake journal stopped after an earlier error: " + failed.Message, failed);
            if (_synced >= (long)seq) return;
            var target = Volatile.Read(ref _written);
            var started = System.Diagnostics.Stopwatch.GetTimestamp();
            try
            {
                _fault?.Invoke("sync");
                DurableFile.DataSync(_file, "the intake journal");
                var took = System.Diagnostics.Stopwatch.GetTimestamp() - started;
                Stats.RecentFlushes[Stats.Flushes % Stats.RecentFlushes.Length] = took;
                Stats.Flushes++;
                Stats.FlushTicks += took;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                Fail(e);
                throw;
            }
            _synced = target;
        }
    }

    private void Fail(Exception e)
    {
        if (_failed is not null) return;
        _failed = e;
        _log.LogError("Intake journal stopped after a write or flush error ({Error}); instances now take the plain path (their own file and folder flushes) until restart", e.Message);
    }

    /// <summary>The oldest record not yet covered is still being filed (an instance filed after its answer, while the
    /// next arrived): waits for it, bounded, so a full journal frees its space rather than sending the next instance down
    /// the plain path. True when it was filed.</summary>
    private bool WaitForOldestFiling()
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        lock (_stateLock)
        {
            while (_pending.First?.Value is { Done: false, Kept: false } && deadline - DateTime.UtcNow is var left && left > TimeSpan.Zero)
                Monitor.Wait(_stateLock, left);
            return _pending.First?.Value is { Done: true };
        }
    }

    /// <summary>The record's filing after its answer failed: it stays in the journal, never covered by a checkpoint in
    /// this run, and is filed from it at the next start.</summary>
    public void Keep(Entry entry)
    {
        lock (_stateLock)
        {
            entry.Kept = true;
            Monitor.PulseAll(_stateLock);
        }
    }

    /// <summary>Says where the record's file was filed (null: it was not, the commit failed), so the checkpoint syncs it.</summary>
    public void Filed(Entry entry, string? path)
    {
        entry.Path = path;
        lock (_stateLock)
        {
            entry.Done = true;
            Monitor.PulseAll(_stateLock); // a forced checkpoint may wait for it (WaitForOldestFiling)
        }
        if (!Background) return;
        int count;
        bool wake;
        lock (_stateLock)
        {
            count = _pending.Count;
            _checkpointer ??= Task.Run(CheckpointLoop);
            // A loop waiting with nothing pending has no due time and must be woken (it once slept until a threshold:
            // after the first checkpoint emptied the list, small studies were covered only once 256 records had piled
            // up). A loop with a due time finds a newer record when it looks again: no wake-up per instance.
            wake = _loopIdle;
            _loopIdle = false;
        }
        if (count >= CheckpointInstances || Used() > (_end - DataStart) / 2)
        {
            Volatile.Write(ref _urgent, true);
            wake = true;
        }
        if (wake) _wake.Release();
    }

    private long Used()
    {
        lock (_stateLock)
        {
            if (_pending.Count == 0) return 0;
            var tail = _pending.First!.Value.Offset;
            return _head > tail ? _head - tail : _end - tail + (_head - DataStart);
        }
    }

    /// <summary>Where a record of <paramref name="need"/> bytes can go without touching a record not yet covered by a
    /// checkpoint; -1 when nowhere. Called under <see cref="_writeLock"/>.</summary>
    private long FindSpace(long need)
    {
        lock (_stateLock)
        {
            if (_pending.Count == 0) return _head + need <= _end ? _head : DataStart;
            var tail = _pending.First!.Value.Offset;
            if (_head > tail) return _head + need <= _end ? _head : DataStart + need <= tail ? DataStart : -1;
            return _head + need <= tail ? _head : -1;
        }
    }

    private async Task CheckpointLoop()
    {
        while (!_disposed)
        {
            if (!Volatile.Read(ref _urgent))
            {
                DateTime? oldest, newest;
                lock (_stateLock)
                {
                    (oldest, newest) = (_pending.First?.Value.AppendedAt, _pending.Last?.Value.AppendedAt);
                    _loopIdle = oldest is null;
                }
                if (oldest is null)
                {
                    await _wake.WaitAsync().ConfigureAwait(false);
                    continue;
                }
                var due = oldest.Value + CheckpointInterval < newest!.Value + CheckpointQuiet ? oldest.Value + CheckpointInterval : newest.Value + CheckpointQuiet;
                if (due - DateTime.UtcNow is var wait && wait > TimeSpan.Zero)
                {
                    // Due, or woken by a threshold: look again (a newer record then moves the pause's end).
                    await _wake.WaitAsync(wait).ConfigureAwait(false);
                    continue;
                }
            }
            if (_disposed) break;
            Volatile.Write(ref _urgent, false);
            while (_wake.Wait(0)) { } // wake-ups that asked for this same checkpoint
            try
            {
                // Nothing covered: the oldest record's commit is still running; look again shortly. A record kept (its
                // filing after the answer failed; filed from here at the next start) blocks every later checkpoint of
                // this run: looked at again only at the interval, not every 5 ms.
                if (Checkpoint() == 0)
                {
                    bool kept;
                    lock (_stateLock) kept = _pending.First?.Value.Kept == true;
                    await _wake.WaitAsync(kept ? CheckpointInterval : TimeSpan.FromMilliseconds(5)).ConfigureAwait(false);
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                _log.LogWarning("Intake journal checkpoint failed ({Error}); the records stay in the journal and are tried again", e.Message);
                await Task.Delay(CheckpointInterval).ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// Syncs the files of the records appended so far that are filed (each file and folder once), then records durably
    /// that they are covered, freeing their space. Records whose commit is still running are left for the next one.
    /// </summary>
    public int Checkpoint()
    {
        lock (_checkpointLock)
        {
            var covered = new List<Entry>();
            lock (_stateLock)
            {
                foreach (var e in _pending)
                {
                    if (!e.Done) break;
                    covered.Add(e);
                }
            }
            if (covered.Count == 0) return 0;
            var started = System.Diagnostics.Stopwatch.GetTimestamp();
            _syncFiled(covered.Where(e => e.Path is not null).Select(e => e.Path!).ToHashSet(StringComparer.Ordinal));
            var last = covered[^1];
            if (_failed is null)
            {
                lock (_syncLock)
                {
                    if (_failed is null)
                    {
                        try
                        {
                            _fault?.Invoke("checkpoint");
                            WriteCheckpointDurably(last.Seq + 1, last.End >= _end ? DataStart : last.End);
                        }
                        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                        {
                            Fail(e);
                            throw;
                        }
                    }
                }
            }
            // Counted before the records leave the pending list, so whoever sees them covered sees the checkpoint too.
            Interlocked.Increment(ref Stats.Checkpoints);
            Interlocked.Add(ref Stats.CheckpointTicks, System.Diagnostics.Stopwatch.GetTimestamp() - started);
            lock (_stateLock)
            {
                for (var i = 0; i < covered.Count; i++) _pending.RemoveFirst();
            }
            return covered.Count;
        }
    }

    private void WriteCheckpointDurably(ulong nextSeq, long offset)
    {
        _checkpointCounter++;
        WriteCheckpoint(_file, _checkpointCounter, nextSeq, offset, _end);
        DurableFile.DataSync(_file, "the intake journal");
    }

    private static void WriteCheckpoint(SafeFileHandle h, ulong counter, ulong nextSeq, long offset, long size)
    {
        var b = new byte[64];
        CheckpointMagic.CopyTo(b);
        BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(8), counter);
        BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(16), nextSeq);
        BinaryPrimitives.WriteInt64LittleEndian(b.AsSpan(24), offset);
        BinaryPrimitives.WriteInt64LittleEndian(b.AsSpan(32), size);
        BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(56), XxHash3.HashToUInt64(b.AsSpan(0, 56)));
        RandomAccess.Write(h, b, (long)(counter % 2) * Block);
    }

    private static (ulong Counter, ulong NextSeq, long Offset, long Size)? ReadCheckpoint(SafeFileHandle h, long length)
    {
        (ulong, ulong, long, long)? best = null;
        var b = new byte[64];
        for (var slot = 0; slot < 2; slot++)
        {
            if (RandomAccess.Read(h, b, slot * Block) != b.Length) continue;
            if (!b.AsSpan(0, 8).SequenceEqual(CheckpointMagic)) continue;
            if (BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(56)) != XxHash3.HashToUInt64(b.AsSpan(0, 56))) continue;
            var counter = BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(8));
            var offset = BinaryPrimitives.ReadInt64LittleEndian(b.AsSpan(24));
            var size = BinaryPrimitives.ReadInt64LittleEndian(b.AsSpan(32));
            if (offset < DataStart || size < DataStart + Block || offset > size) continue;
            if (best is null || counter > best.Value.Item1)
                best = (counter, BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(16)), offset, size);
        }
        return best;
    }

    private static bool FillHeader(byte[] header, params string[] values)
    {
        RecordMagic.CopyTo(header);
        var p = 32;
        foreach (var v in values)
        {
            var bytes = Encoding.UTF8.GetBytes(v);
            if (bytes.Length > 255 || p + 1 + bytes.Length > HeaderSize - 8) return false;
            header[p] = (byte)bytes.Length;
            bytes.CopyTo(header, p + 1);
            p += 1 + bytes.Length;
        }
        return true;
    }

    /// <summary>The files of the records not yet covered by a checkpoint (tests).</summary>
    internal IReadOnlyList<string> PendingPaths()
    {
        lock (_stateLock) return _pending.Where(e => e.Path is not null).Select(e => e.Path!).Distinct().ToList();
    }

    /// <summary>Closes the journal without a checkpoint, as a crash would leave it (tests).</summary>
    internal void Abandon()
    {
        _disposed = true;
        _wake.Release();
        _file.Dispose();
    }

    /// <summary>Takes a last checkpoint (the records' files synced) and closes the file.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        try { Checkpoint(); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _log.LogWarning("Intake journal: last checkpoint failed ({Error}); its records are replayed at the next start", e.Message);
        }
        _disposed = true;
        _wake.Release();
        _file.Dispose();
    }

    /// <summary>Reads a record's payload from the journal file.</summary>
    private sealed class JournalPayloadStream(SafeFileHandle h, long start, long length) : Stream
    {
        private long _pos;
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => length;
        public override long Position { get => _pos; set => throw new NotSupportedException(); }
        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            var n = (int)Math.Min(buffer.Length, length - _pos);
            if (n <= 0) return 0;
            n = RandomAccess.Read(h, buffer[..n], start + _pos);
            _pos += n;
            return n;
        }

        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
