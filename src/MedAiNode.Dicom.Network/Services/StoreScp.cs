using MedAiNode.Dicom.IO;
using MedAiNode.Dicom.Network.Dimse;
using MedAiNode.Dicom.Network.UpperLayer;

namespace MedAiNode.Dicom.Network.Services;

/// <summary>
/// Where one incoming C-STORE dataset goes: straight into a temporary Part 10 file (File Meta first, then each P-DATA
/// fragment as it arrives); or, when the target makes held instances durable itself (<see
/// cref="IDicomStoreTarget.BufferedCommitLimit"/>), into a pooled buffer, spilling to a temporary file past the limit;
/// or nowhere when the request is already refused (its status decided up front).
/// </summary>
internal sealed class StoreSink : IDatasetSink
{
    private FileStream? _file;
    private readonly IDicomStoreTarget? _target;
    private readonly HeldMemory? _held;
    private byte[]? _buffer; // rented (its length counted in _held); the whole Part 10 file so far while it fits
    private int _used;
    private readonly int _limit;
    public string? TempPath { get; private set; }
    /// <summary>A status decided before the data arrived (refusal); null while the data is being written.</summary>
    public ushort? PresetStatus { get; }
    public string? PresetComment { get; }
    public long DatasetBytes { get; private set; }
    /// <summary>The error that stopped writing the data (disk full, I/O error): the file is gone, the rest of the data
    /// is read and dropped, and the request is answered with a failure once the last fragment arrived.</summary>
    public Exception? WriteFailure { get; private set; }
    /// <summary>True while the instance is held in memory (no temporary file).</summary>
    public bool IsBuffered => _buffer is not null;

    private StoreSink(ushort status, string comment)
    {
        PresetStatus = status;
        PresetComment = comment;
    }

    private StoreSink(string tempPath, FileStream file)
    {
        TempPath = tempPath;
        _file = file;
    }

    private StoreSink(IDicomStoreTarget target, HeldMemory held, byte[] buffer, int used, int limit)
    {
        _target = target;
        _held = held;
        _buffer = buffer;
        _used = used;
        _limit = limit;
    }

    public static StoreSink Refuse(ushort status, string comment) => new(status, comment);

    public static async ValueTask<StoreSink> CreateAsync(IDicomStoreTarget target, HeldMemory held, DimseCommand cmd, DicomTransferSyntax ts, string callingAE, CancellationToken ct)
    {
        var meta = new DicomDataset();
        meta.SetBytes(DicomTags.FileMetaInformationVersion, DicomVR.OB, new byte[] { 0, 1 });
        meta.Set(DicomTags.MediaStorageSOPClassUID, cmd.AffectedSopClassUid);
        meta.Set(DicomTags.MediaStorageSOPInstanceUID, cmd.AffectedSopInstanceUid);
        meta.Set(DicomTags.TransferSyntaxUID, ts.Uid);
        meta.Set(DicomTags.ImplementationClassUID, DicomFile.ImplementationClassUid);
        meta.Set(DicomTags.ImplementationVersionName, DicomFile.ImplementationVersionName);
        if (callingAE.Length > 0) meta.Set(DicomTags.SourceApplicationEntityTitle, callingAE);
        using var head = new MemoryStream(512);
        head.Write(new byte[128]);
        head.Write("DICM"u8);
        DicomWriter.WriteFileMeta(head, meta);
        var initial = Math.Min(InitialBuffer, target.BufferedCommitLimit);
        if (target.Fsync && target.SyncsOnCommit && target.BufferedCommitLimit > head.Length && held.TryTake(initial))
        {
            // Held in memory: no file is created before the answer (creating one is most of what storing costs on a
            // busy file system); the target makes it durable in one journal flush and files it after the answer.
            var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(initial);
            held.Adjust(buffer.Length - initial);
            head.GetBuffer().AsSpan(0, (int)head.Length).CopyTo(buffer);
            return new StoreSink(target, held, buffer, (int)head.Length, target.BufferedCommitLimit);
        }
        var path = Path.Combine(target.TempDirectory, Guid.NewGuid().ToString("N") + ".part");
        // Unbuffered: P-DATA fragments are already large, and the fsync below must see every byte. Synchronous: a write
        // into the page cache takes microseconds, less than the thread-pool hop an async file write costs on Linux.
        var fs = target.CreateTempFile(path);
        try
        {
            fs.Write(head.GetBuffer().AsSpan(0, (int)head.Length));
            return new StoreSink(path, fs);
        }
        catch
        {
            await fs.DisposeAsync();
            DurableFile.TryDelete(path);
            throw;
        }
    }

    // A CT or MR image with its header fits: one rent for most instances.
    private const int InitialBuffer = 1 << 20;

    public ValueTask WriteAsync(ReadOnlyMemory<byte> fragment, CancellationToken ct)
    {
        // Refused, or writing failed: the peer still sends the data, which is dropped, and gets its answer at the end.
        if (WriteFailure is not null || _file is null && _buffer is null) return ValueTask.CompletedTask;
        try
        {
            if (_buffer is not null && !Hold(fragment.Span)) Spill();
            if (_buffer is null) _file!.Write(fragment.Span);
            DatasetBytes += fragment.Length;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Disk full mid-file must not end the association: keep reading, answer a failure status for this request.
            WriteFailure = e;
            Discard();
        }
        return ValueTask.CompletedTask;
    }

    /// <summary>Appends to the buffer, growing it; false when the instance would pass the target's limit or the
    /// memory all associations may hold.</summary>
    private bool Hold(ReadOnlySpan<byte> fragment)
    {
        if ((long)_used + fragment.Length > _limit) return false;
        if (_used + fragment.Length > _buffer!.Length)
        {
            var size = (int)Math.Min(_limit, Math.Max((long)_buffer.Length * 2, _used + fragment.Length));
            if (!_held!.TryTake(size)) return false;
            var bigger = System.Buffers.ArrayPool<byte>.Shared.Rent(size);
            _held.Adjust(bigger.Length - size - _buffer.Length);
            _buffer.AsSpan(0, _used).CopyTo(bigger);
            System.Buffers.ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = bigger;
        }
        fragment.CopyTo(_buffer.AsSpan(_used));
        _used += fragment.Length;
        return true;
    }

    /// <summary>Too large to hold: what arrived so far goes to a temporary file, and the rest follows it there.</summary>
    private void Spill()
    {
        var path = Path.Combine(_target!.TempDirectory, Guid.NewGuid().ToString("N") + ".part");
        var fs = _target.CreateTempFile(path);
        TempPath = path;
        _file = fs;
        var held = _buffer!;
        _buffer = null;
        try { fs.Write(held.AsSpan(0, _used)); }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(held);
            _held!.Adjust(-held.Length);
        }
    }

    /// <summary>The instance held in memory, handed over (the sink no longer owns it).</summary>
    public PooledContent TakeContent()
    {
        var buffer = _buffer ?? throw new InvalidOperationException("not held in memory");
        var held = _held!;
        _buffer = null;
        return new PooledContent(buffer, _used, () => held.Adjust(-buffer.Length));
    }

    /// <summary>Closes the file, fsynced when asked; the data is on disk when this returns. A write or sync error
    /// throws (an earlier write error again), so the caller never answers Success for data that may not be on disk.</summary>
    public async ValueTask CloseAsync(bool fsync)
    {
        if (WriteFailure is { } failed) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failed);
        if (_file is null) return;
        try
        {
            if (fsync) DurableFile.DataSync(_file);
        }
        finally { await _file.DisposeAsync(); }
    }

    public void Discard()
    {
        if (_buffer is { } buffer)
        {
            _buffer = null;
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
            _held!.Adjust(-buffer.Length);
        }
        if (_file is null) return;
        try { _file.Dispose(); } catch (IOException) { }
        DurableFile.TryDelete(TempPath);
    }

}

/// <summary>The bytes of instances held in memory by all of an SCP's associations, against a limit: past it, an
/// instance goes through a temporary file instead (so many associations sending large instances cannot take the
/// node's memory).</summary>
internal sealed class HeldMemory
{
    private long _used;
    public long Limit { get; set; }
    public long Used => Interlocked.Read(ref _used);

    public HeldMemory(long limit) => Limit = limit;

    public bool TryTake(long bytes)
    {
        if (Interlocked.Add(ref _used, bytes) <= Limit) return true;
        Interlocked.Add(ref _used, -bytes);
        return false;
    }

    public void Adjust(long bytes) => Interlocked.Add(ref _used, bytes);
}

/// <summary>The C-STORE SCP: checks each request, streams its dataset to disk, validates and commits it, then answers.</summary>
public sealed class StoreScp
{
    private readonly IDicomStoreTarget _target;
    private readonly Microsoft.Extensions.Logging.ILogger _log;
    private readonly HeldMemory _held = new(64L << 20);

    /// <summary>How much memory (bytes of buffers) all associations together may use for instances held before they are
    /// filed (see <see cref="IDicomStoreTarget.BufferedCommitLimit"/>); past it instances go through temporary files.
    /// 64 MiB: two 512 x 512 CT slices (1 MiB buffers) for each of 32 associations.</summary>
    public long HeldBytesLimit { get => _held.Limit; set => _held.Limit = value; }
    /// <summary>The bytes held now (0 once every association's filings are done).</summary>
    public long HeldBytes => _held.Used;

    /// <summary>Capacity, UIDs and durability are the target's: the SCP asks it, it has no limits or fsync switch of its own.</summary>
    public StoreScp(IDicomStoreTarget target, Microsoft.Extensions.Logging.ILogger? logger = null)
    {
        _target = target;
        _log = logger ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
    }

    /// <summary>Raised after an instance is committed (the worker queues studies from it). A failing handler is logged;
    /// the instance is stored and answered Success regardless.</summary>
    public event Action<ReceivedInstance, string>? Stored;

    internal async ValueTask<IDatasetSink> BeginAsync(DimseCommand cmd, PresentationContext pc, string callingAE, CancellationToken ct)
    {
        var sopClass = cmd.AffectedSopClassUid;
        var sop = cmd.AffectedSopInstanceUid;
        if (sopClass != pc.AbstractSyntax)
            return StoreSink.Refuse(DimseStatus.SopClassNotSupported, $"SOP class {Quotable(sopClass)} sent on a {pc.AbstractSyntax} context");
        if (!ReceivedInstance.IsValidUid(sop))
            return StoreSink.Refuse(DimseStatus.CannotUnderstand, "Affected SOP Instance UID is missing or not a UID");
        if (_target.CheckCapacity() is { } full) return StoreSink.Refuse(DimseStatus.OutOfResources, full);
        try
        {
            return await StoreSink.CreateAsync(_target, _held, cmd, DicomTransferSyntax.Get(pc.AcceptedTransferSyntax!), callingAE, ct);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            var (status, comment) = WriteFailed("cannot write", e);
            return StoreSink.Refuse(status, comment);
        }
        catch (ArgumentException)
        {
            // The File Meta Information cannot be built from this request (a value its VR refuses): answer this request
            // with a failure, keep the association for the next one. The value is not quoted: it came from the peer.
            return StoreSink.Refuse(DimseStatus.CannotUnderstand, "the request's UIDs or calling AE title cannot form File Meta Information");
        }
    }

    /// <summary>A UID as it may appear in a log or an Error Comment: only when it is a valid UID (digits and dots, at most
    /// 64), since a malformed element's value can run over the elements after it, patient name included.</summary>
    internal static string Quotable(string? uid) => ReceivedInstance.IsValidUid(uid) ? uid! : "(not a valid UID)";

    /// <summary>Called when the last fragment arrived: returns the status to answer, the stored path on success, and,
    /// for an instance held in memory, its filing, which the caller runs after answering (see
    /// <see cref="IDicomStoreTarget.CommitBufferedAsync"/>).</summary>
    internal async ValueTask<(ushort Status, string? Comment, ReceivedInstance? Instance, string? Path, Action? AfterAnswer)> CompleteAsync(
        StoreSink sink, DimseCommand cmd, PresentationContext pc, string callingAE, string calledAE, CancellationToken ct)
    {
        if (sink.PresetStatus is { } preset) return (preset, sink.PresetComment, null, null, null);
        if (sink.IsBuffered) return await CompleteBufferedAsync(sink, cmd, pc, callingAE, calledAE, ct);
        var (status, comment, instance, path) = await CompleteFileAsync(sink, cmd, pc, callingAE, calledAE, ct);
        return (status, comment, instance, path, null);
    }

    private async ValueTask<(ushort Status, string? Comment, ReceivedInstance? Instance, string? Path, Action? AfterAnswer)> CompleteBufferedAsync(
        StoreSink sink, DimseCommand cmd, PresentationContext pc, string callingAE, string calledAE, CancellationToken ct)
    {
        var content = sink.TakeContent();
        var handedOver = false;
        try
        {
            DicomFile file;
            try
            {
                // The one parse, from memory; pixel data and other large values are slices of the buffer, not copies.
                file = DicomFile.Read(new MemoryStream(content.Array, 0, content.Length, writable: false, publiclyVisible: true), SliceLarge);
            }
            catch (Exception e) when (e is DicomFormatException or InvalidDataException or EndOfStreamException)
            {
                return (DimseStatus.CannotUnderstand, "dataset cannot be decoded: " + e.Message, null, null, null);
            }
            catch (ArgumentException e)
            {
                return (DimseStatus.CannotUnderstand, "dataset cannot be decoded: " + (e is DicomValidationException v ? $"{v.Tag} has a value its VR ({v.VR}) does not allow" : "a value is invalid"), null, null, null);
            }
            var instance = new ReceivedInstance("", file.Dataset, DicomTransferSyntax.Get(pc.AcceptedTransferSyntax!), callingAE, calledAE, sink.DatasetBytes)
            {
                SyncLeftToTarget = true,
            };
            if (Mismatch(instance, cmd) is { } mismatch) return (mismatch.Status, mismatch.Comment, null, null, null);
            BufferedCommit commit;
            try
            {
                commit = await _target.CommitBufferedAsync(instance, content, ct);
            }
            catch (InvalidDataException e)
            {
                return (DimseStatus.CannotUnderstand, e.Message, null, null, null);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                var (status, comment) = WriteFailed("cannot store", e);
                return (status, comment, null, null, null);
            }
            handedOver = true;
            // Durable now (answered Success); filed after the answer. The buffer lives until the filing is done.
            void FileIt()
            {
                try
                {
                    commit.File?.Invoke();
                    RaiseStored(instance, commit.Path);
                }
                finally { content.Dispose(); }
            }
            if (commit.File is null)
            {
                FileIt();
                return (DimseStatus.Success, null, instance, commit.Path, null);
            }
            return (DimseStatus.Success, null, instance, commit.Path, FileIt);
        }
        finally
        {
            if (!handedOver) content.Dispose();
        }
    }

    private static readonly DicomReadOptions SliceLarge = new() { SliceMemoryStreams = true };

    /// <summary>The dataset's SOP class or instance differs from the request's: the status and comment; else null.</summary>
    private static (ushort Status, string Comment)? Mismatch(ReceivedInstance instance, DimseCommand cmd)
    {
        var sopClass = instance.SopClassUid;
        var sop = instance.SopInstanceUid;
        if (sopClass.Length > 0 && sopClass != cmd.AffectedSopClassUid)
            return (DimseStatus.DataSetDoesNotMatchSopClass, $"dataset SOP class {Quotable(sopClass)} differs from the request's {Quotable(cmd.AffectedSopClassUid)}");
        if (sop.Length > 0 && sop != cmd.AffectedSopInstanceUid)
            return ((ushort)(DimseStatus.CannotUnderstand + 1), $"dataset SOP instance {Quotable(sop)} differs from the request's {Quotable(cmd.AffectedSopInstanceUid)}");
        return null;
    }

    private void RaiseStored(ReceivedInstance instance, string path)
    {
        try { Stored?.Invoke(instance, path); }
        catch (Exception e) { Microsoft.Extensions.Logging.LoggerExtensions.LogError(_log, e, "Stored handler failed for {Sop}", Quotable(instance.SopInstanceUid)); }
    }

    private async ValueTask<(ushort Status, string? Comment, ReceivedInstance? Instance, string? Path)> CompleteFileAsync(
        StoreSink sink, DimseCommand cmd, PresentationContext pc, string callingAE, string calledAE, CancellationToken ct)
    {
        var temp = sink.TempPath!;
        try
        {
            // With a target that makes the content durable in its commit (the study store's intake journal: one flush for
            // the instance instead of the file's and its folder's), the file is closed unsynced and the commit syncs it.
            var leftToTarget = _target.Fsync && _target.SyncsOnCommit;
            await sink.CloseAsync(_target.Fsync && !leftToTarget);
            DicomFile file;
            try
            {
                // The one parse of this instance: every element (large values stay in the file), so undecodable data is
                // refused, not stored. The target files it from this dataset and does not read the file again.
                file = DicomFile.Open(temp);
            }
            catch (Exception e) when (e is DicomFormatException or InvalidDataException or EndOfStreamException)
            {
                // The parser's messages name tags, lengths and offsets, never values.
                DurableFile.TryDelete(temp);
                return (DimseStatus.CannotUnderstand, "dataset cannot be decoded: " + e.Message, null, null);
            }
            catch (ArgumentException e)
            {
                // A value its VR refuses: the message would quote the value, so only the element is named.
                DurableFile.TryDelete(temp);
                return (DimseStatus.CannotUnderstand, "dataset cannot be decoded: " + (e is DicomValidationException v ? $"{v.Tag} has a value its VR ({v.VR}) does not allow" : "a value is invalid"), null, null);
            }
            var instance = new ReceivedInstance(temp, file.Dataset, DicomTransferSyntax.Get(pc.AcceptedTransferSyntax!), callingAE, calledAE, sink.DatasetBytes)
            {
                SyncLeftToTarget = leftToTarget,
            };
            if (Mismatch(instance, cmd) is { } mismatch)
            {
                DurableFile.TryDelete(temp);
                return (mismatch.Status, mismatch.Comment, null, null);
            }
            var path = await _target.CommitAsync(instance, ct);
            RaiseStored(instance, path);
            return (DimseStatus.Success, null, instance, path);
        }
        catch (InvalidDataException e)
        {
            // The target refused the content itself (the study store has quarantined it: no valid Study UID, ...).
            DurableFile.TryDelete(temp);
            return (DimseStatus.CannotUnderstand, e.Message, null, null);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Writing, syncing or filing failed: the data may not be on disk, so never Success.
            DurableFile.TryDelete(temp);
            var (status, comment) = WriteFailed("cannot store", e);
            return (status, comment, null, null);
        }
    }

    /// <summary>The answer to a request whose data could not be made durable: 0xA700 (out of resources) when the file
    /// system is out of space or quota, 0xC002 (storage I/O error) for any other error (read-only, I/O, permissions).</summary>
    internal static (ushort Status, string Comment) WriteFailed(string what, Exception e) =>
        DurableFile.IsOutOfSpace(e)
            ? (DimseStatus.OutOfResources, what + ": out of disk space")
            : (DimseStatus.StorageIoError, what + ": " + e.Message);
}
