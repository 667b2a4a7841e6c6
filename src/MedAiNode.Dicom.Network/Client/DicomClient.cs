using MedAiNode.Dicom.Network.Services;

namespace MedAiNode.Dicom.Network.Client;

public sealed class DicomClientOptions
{
    public string Host { get; set; } = "127.0.0.1";
    public int Port { get; set; } = 104;
    public string CalledAE { get; set; } = "ANY-SCP";
    public string CallingAE { get; set; } = "MEDAINODE";
    public uint MaxPduLength { get; set; } = 256 * 1024;
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(15);
    public TimeSpan ArtimTimeout { get; set; } = TimeSpan.FromSeconds(30);
    /// <summary>How long to wait for each response (C-MOVE: between pending responses).</summary>
    public TimeSpan DimseTimeout { get; set; } = TimeSpan.FromSeconds(120);
    public UserIdentity? UserIdentity { get; set; }
    public bool UseTls { get; set; }
    /// <summary>CA that must have issued the SCP's certificate; null = the system trust store.</summary>
    public X509Certificate2Collection? TlsTrustedCa { get; set; }
    public X509Certificate2? TlsClientCertificate { get; set; }
    public bool TlsCheckHostName { get; set; } = true;

    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(Host)) throw new NetworkOptionsException("host", "is required");
        if (Port is < 1 or > 65535) throw new NetworkOptionsException("port", $"{Port} is not a TCP port");
        foreach (var (k, v) in new[] { ("called", CalledAE), ("calling", CallingAE) })
            if (string.IsNullOrWhiteSpace(v) || v.Length > 16 || v.Any(c => c < 0x20 || c > 0x7E || c == '\\'))
                throw new NetworkOptionsException(k, $"'{v}' is not an AE title (1-16 printable ASCII characters)");
    }
}

/// <summary>The SCP refused the association (A-ASSOCIATE-RJ).</summary>
public sealed class AssociationRejectedException : Exception
{
    public AssociationRejectedException(AssociateReject reject) : base($"Association rejected: {reject}") => Reject = reject;
    public AssociateReject Reject { get; }
}

/// <summary>The association was aborted (A-ABORT received or the peer broke the protocol).</summary>
public sealed class AssociationAbortedException : Exception
{
    public AssociationAbortedException(string message) : base(message) { }
}

/// <summary>Opens associations as SCU.</summary>
public static class DicomClient
{
    public static async Task<DicomClientAssociation> ConnectAsync(DicomClientOptions options, IEnumerable<PresentationContext> proposals, CancellationToken ct = default)
    {
        options.Validate();
        var rq = new AssociationParameters
        {
            CalledAE = options.CalledAE,
            CallingAE = options.CallingAE,
            MaxPduLength = options.MaxPduLength,
            ImplementationClassUid = DicomFile.ImplementationClassUid,
            ImplementationVersionName = DicomFile.ImplementationVersionName,
            UserIdentity = options.UserIdentity,
        };
        rq.PresentationContexts.AddRange(proposals);
        if (rq.PresentationContexts.Count is 0 or > 128) throw new ArgumentException($"{rq.PresentationContexts.Count} presentation contexts proposed; 1 to 128 are allowed");

        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        Stream stream;
        try
        {
            using (var cts = CancellationTokenSource.CreateLinkedTokenSource(ct))
            {
                cts.CancelAfter(options.ConnectTimeout);
                try { await socket.ConnectAsync(options.Host, options.Port, cts.Token); }
                catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                {
                    throw new TimeoutException($"No TCP connection to {options.Host}:{options.Port} within {options.ConnectTimeout.TotalSeconds:0} s");
                }
            }
            stream = new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        if (options.UseTls)
        {
            var ssl = new SslStream(stream, false);
            try
            {
                await ssl.AuthenticateAsClientAsync(TlsSupport.ClientOptions(options.Host, options.TlsClientCertificate, options.TlsTrustedCa, options.TlsCheckHostName), ct);
            }
            catch
            {
                await ssl.DisposeAsync();
                throw;
            }
            stream = ssl;
        }
        var conn = new UpperLayerConnection(stream);
        try
        {
            await conn.SendAsync(PduCodec.EncodeAssociateRequest(rq), ct);
            var pdu = await conn.ReadAsync(16, options.ArtimTimeout, ct); // Sta5: ARTIM until the answer
            switch (pdu.Type)
            {
                case PduType.AssociateAccept:
                    var ac = PduCodec.DecodeAssociate(pdu.Body.Span, request: false);
                    foreach (var pc in ac.PresentationContexts)
                        if (rq.FindContext(pc.Id) is null) throw new PduException($"A-ASSOCIATE-AC answers presentation context {pc.Id}, which was not proposed", 6);
                    return new DicomClientAssociation(new DicomAssociation(conn, rq, ac, isRequestor: true, options.ArtimTimeout), options);
                case PduType.AssociateReject:
                    var rj = PduCodec.DecodeReject(pdu.Body.Span);
                    await conn.DisposeAsync();
                    throw new AssociationRejectedException(rj);
                case PduType.Abort:
                    var ab = PduCodec.DecodeAbort(pdu.Body.Span);
                    await conn.DisposeAsync();
                    throw new AssociationAbortedException($"Association {ab}");
                default:
                    throw new PduException($"{pdu.Type} in answer to A-ASSOCIATE-RQ", 2);
            }
        }
        catch (PduException e)
        {
            await conn.TrySendAbortAsync(2, e.AbortReason);
            await conn.DisposeAsync();
            throw new AssociationAbortedException("The SCP broke the protocol: " + e.Message);
        }
        catch (Exception e) when (e is not AssociationRejectedException and not AssociationAbortedException)
        {
            await conn.DisposeAsync();
            throw;
        }
    }


    /// <summary>Contexts to send these files: each file's own syntax, plus an uncompressed fallback per SOP class.</summary>
    public static List<PresentationContext> StorageProposals(IEnumerable<(string SopClassUid, string TransferSyntaxUid)> instances)
    {
        var list = new List<PresentationContext>();
        byte id = 1;
        var uncompressed = new[] { DicomUids.ExplicitVRLittleEndian, DicomUids.ImplicitVRLittleEndian };
        foreach (var g in instances.GroupBy(i => i.SopClassUid))
        {
            foreach (var ts in g.Select(i => i.TransferSyntaxUid).Distinct().Where(t => !uncompressed.Contains(t)))
            {
                list.Add(new PresentationContext(id, g.Key, [ts]));
                id += 2;
            }
            list.Add(new PresentationContext(id, g.Key, uncompressed));
            id += 2;
            if (id > 255 || list.Count > 128) throw new ArgumentException("More SOP class / transfer syntax combinations than one association can propose (128)");
        }
        return list;
    }

    public static PresentationContext Context(byte id, string abstractSyntax, params string[] transferSyntaxes) =>
        new(id, abstractSyntax, transferSyntaxes.Length > 0 ? transferSyntaxes : [DicomUids.ExplicitVRLittleEndian, DicomUids.ImplicitVRLittleEndian]);
}

public sealed record StoreResult(string SopInstanceUid, ushort Status, string? ErrorComment, DicomTransferSyntax? SentAs)
{
    public bool Success => DimseStatus.IsSuccess(Status) || DimseStatus.IsWarning(Status);
}

public sealed record MoveResult(ushort Status, int Completed, int Failed, int Warning, string? ErrorComment)
{
    public bool Success => Status == DimseStatus.Success;
}

/// <summary>An association opened by this node as SCU: C-ECHO, C-STORE, C-FIND and C-MOVE, one operation at a time.</summary>
public sealed class DicomClientAssociation : IAsyncDisposable
{
    private readonly DicomAssociation _assoc;
    private readonly DicomClientOptions _options;

    internal DicomClientAssociation(DicomAssociation assoc, DicomClientOptions options)
    {
        _assoc = assoc;
        _options = options;
    }

    public DicomAssociation Association => _assoc;
    public IReadOnlyList<PresentationContext> PresentationContexts => _assoc.PresentationContexts;

    /// <summary>Converts a file to a syntax the SCP accepted (the codecs layer plugs in here); null = no transcoding available.</summary>
    public Func<DicomFile, DicomTransferSyntax, DicomFile>? Transcoder { get; set; }

    private PresentationContext RequireContext(string abstractSyntax) =>
        _assoc.FindAcceptedContext(abstractSyntax) ?? throw new InvalidOperationException($"The SCP accepted no presentation context for {DicomUids.NameOf(abstractSyntax)}");

    public async Task<ushort> EchoAsync(CancellationToken ct = default)
    {
        var pc = RequireContext(DicomUids.Verification);
        var rq = DimseCommand.Request(CommandField.CEchoRequest, _assoc.NextMessageId(), DicomUids.Verification, false);
        await _assoc.SendMessageAsync(pc, rq, ReadOnlyMemory<byte>.Empty, ct);
        var (rsp, _) = await ReceiveResponseAsync(rq, ct);
        return rsp.Status;
    }

    /// <summary>Sends a Part 10 file. Uses the file's own syntax when accepted (streaming its bytes from disk), else an accepted
    /// uncompressed one, re-encoding (and transcoding through <see cref="Transcoder"/> when the pixel data is compressed).</summary>
    public async Task<StoreResult> StoreAsync(string path, CancellationToken ct = default)
    {
        var file = DicomFile.Open(path);
        return await StoreAsync(file, ct);
    }

    public async Task<StoreResult> StoreAsync(DicomFile file, CancellationToken ct = default)
    {
        var sopClass = file.Dataset.GetString(DicomTags.SOPClassUID) is { Length: > 0 } c ? c : file.FileMetaInfo.GetStringOrDefault(DicomTags.MediaStorageSOPClassUID);
        var sop = file.Dataset.GetString(DicomTags.SOPInstanceUID) is { Length: > 0 } s ? s : file.FileMetaInfo.GetStringOrDefault(DicomTags.MediaStorageSOPInstanceUID);
        if (sopClass.Length == 0 || sop.Length == 0) throw new InvalidDataException("The file has no SOP Class / SOP Instance UID, neither in its dataset nor its File Meta");
        var candidates = _assoc.PresentationContexts.Where(p => p.IsAccepted && p.AbstractSyntax == sopClass).ToList();
        if (candidates.Count == 0)
            return new StoreResult(sop, DimseStatus.SopClassNotSupported, $"The SCP accepted no context for {DicomUids.NameOf(sopClass)}", null);
        var own = candidates.FirstOrDefault(p => p.AcceptedTransferSyntax == file.TransferSyntax.Uid);
        PresentationContext pc;
        DicomFile toSend = file;
        if (own is not null) pc = own;
        else
        {
            pc = candidates.FirstOrDefault(p => p.AcceptedTransferSyntax == DicomUids.ExplicitVRLittleEndian) ?? candidates[0];
            var target = DicomTransferSyntax.Get(pc.AcceptedTransferSyntax!);
            var needsPixelConversion = file.Dataset.Contains(DicomTags.PixelData) && (file.TransferSyntax.IsEncapsulated || target.IsEncapsulated);
            if (needsPixelConversion)
            {
                if (Transcoder is null)
                    return new StoreResult(sop, DimseStatus.CannotUnderstand,
                        $"The SCP accepts {DicomUids.NameOf(sopClass)} only as {target.Name}; the file is {file.TransferSyntax.Name} and no transcoder is configured", null);
                toSend = Transcoder(file, target);
            }
        }
        var ts = DicomTransferSyntax.Get(pc.AcceptedTransferSyntax!);
        var rq = DimseCommand.Request(CommandField.CStoreRequest, _assoc.NextMessageId(), sopClass, true);
        rq.Dataset.Set(DicomTags.AffectedSOPInstanceUID, sop);
        if (toSend == file && file.Path is not null && file.TransferSyntax == ts && DatasetOffset(file.Path) is { } offset)
            await _assoc.SendMessageAsync(pc, rq, w => StreamFileAsync(file.Path, offset, w, ct), ct);
        else
            await _assoc.SendMessageAsync(pc, rq, DatasetCodec.Encode(toSend.Dataset, ts), ct);
        var (rsp, _) = await ReceiveResponseAsync(rq, ct);
        return new StoreResult(sop, rsp.Status, rsp.ErrorComment, ts);
    }

    /// <summary>Where the dataset starts in a standard Part 10 file (preamble, DICM, File Meta with its group length).</summary>
    internal static long? DatasetOffset(string path)
    {
        Span<byte> head = stackalloc byte[144];
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1);
        if (fs.ReadAtLeast(head, head.Length, throwOnEndOfStream: false) < head.Length) return null;
        if (!head.Slice(128, 4).SequenceEqual("DICM"u8)) return null;
        // (0002,0000) UL 4 <length>
        if (head[132] != 2 || head[133] != 0 || head[134] != 0 || head[135] != 0 || head[136] != (byte)'U' || head[137] != (byte)'L') return null;
        var len = BinaryPrimitives.ReadUInt32LittleEndian(head[140..]);
        var offset = 144L + len;
        return offset <= fs.Length ? offset : null;
    }

    private static async ValueTask StreamFileAsync(string path, long offset, PDataWriter w, CancellationToken ct)
    {
        await using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 0, FileOptions.Asynchronous | FileOptions.SequentialScan);
        fs.Position = offset;
        var buf = ArrayPool<byte>.Shared.Rent(256 * 1024);
        try
        {
            int n;
            while ((n = await fs.ReadAsync(buf, ct)) > 0) await w.WriteAsync(buf.AsMemory(0, n), ct);
        }
        finally { ArrayPool<byte>.Shared.Return(buf); }
    }

    /// <summary>C-FIND, Study Root. Returns each pending identifier; throws when the final status is a failure.</summary>
    public async Task<List<DicomDataset>> FindAsync(DicomDataset identifier, CancellationToken ct = default)
    {
        var pc = RequireContext(DicomUids.StudyRootQueryRetrieveInformationModelFind);
        var ts = DicomTransferSyntax.Get(pc.AcceptedTransferSyntax!);
        var rq = DimseCommand.Request(CommandField.CFindRequest, _assoc.NextMessageId(), DicomUids.StudyRootQueryRetrieveInformationModelFind, true);
        await _assoc.SendMessageAsync(pc, rq, DatasetCodec.Encode(identifier, ts), ct);
        var results = new List<DicomDataset>();
        while (true)
        {
            var (rsp, data) = await ReceiveResponseAsync(rq, ct);
            if (DimseStatus.IsPending(rsp.Status))
            {
                if (data is not null) results.Add(data.ToDataset(ts));
                continue;
            }
            if (rsp.Status != DimseStatus.Success && rsp.Status != DimseStatus.Cancel)
                throw new DimseFailureException(rsp.Status, rsp.ErrorComment);
            return results;
        }
    }

    /// <summary>A Study Root identifier for STUDY or SERIES level with the usual return keys.</summary>
    public static DicomDataset StudyRootQuery(string level, string? studyInstanceUid = null, string? patientId = null)
    {
        var q = new DicomDataset();
        q.Set(DicomTags.QueryRetrieveLevel, level);
        q.Set(DicomTags.StudyInstanceUID, studyInstanceUid is null ? [] : [studyInstanceUid]);
        if (level == "STUDY")
        {
            q.SetEmpty(DicomTags.PatientID);
            if (patientId is not null) q.Set(DicomTags.PatientID, patientId);
            q.SetEmpty(DicomTags.PatientName);
            q.SetEmpty(DicomTags.StudyDate);
            q.SetEmpty(DicomTags.StudyDescription);
            q.SetEmpty(DicomTags.AccessionNumber);
            q.SetEmpty(DicomTags.ModalitiesInStudy);
            q.SetEmpty(DicomTags.NumberOfStudyRelatedInstances);
        }
        else if (level == "SERIES")
        {
            q.SetEmpty(DicomTags.SeriesInstanceUID);
            q.SetEmpty(DicomTags.Modality);
            q.SetEmpty(DicomTags.SeriesNumber);
            q.SetEmpty(DicomTags.SeriesDescription);
            q.SetEmpty(DicomTags.NumberOfSeriesRelatedInstances);
        }
        else throw new ArgumentException($"Query level '{level}' is not STUDY or SERIES", nameof(level));
        return q;
    }

    /// <summary>C-MOVE, Study Root, of a study (or one series of it) to <paramref name="destinationAE"/> (usually this node).</summary>
    public async Task<MoveResult> MoveAsync(string destinationAE, string studyInstanceUid, string? seriesInstanceUid = null, IProgress<MoveResult>? progress = null, CancellationToken ct = default)
    {
        var pc = RequireContext(DicomUids.StudyRootQueryRetrieveInformationModelMove);
        var ts = DicomTransferSyntax.Get(pc.AcceptedTransferSyntax!);
        var rq = DimseCommand.Request(CommandField.CMoveRequest, _assoc.NextMessageId(), DicomUids.StudyRootQueryRetrieveInformationModelMove, true);
        rq.Dataset.Set(DicomTags.MoveDestination, destinationAE);
        var id = new DicomDataset();
        id.Set(DicomTags.QueryRetrieveLevel, seriesInstanceUid is null ? "STUDY" : "SERIES");
        id.Set(DicomTags.StudyInstanceUID, studyInstanceUid);
        if (seriesInstanceUid is not null) id.Set(DicomTags.SeriesInstanceUID, seriesInstanceUid);
        await _assoc.SendMessageAsync(pc, rq, DatasetCodec.Encode(id, ts), ct);
        while (true)
        {
            var (rsp, _) = await ReceiveResponseAsync(rq, ct);
            var d = rsp.Dataset;
            var r = new MoveResult(rsp.Status,
                d.GetValueOrDefault<int>(DicomTags.NumberOfCompletedSuboperations, 0),
                d.GetValueOrDefault<int>(DicomTags.NumberOfFailedSuboperations, 0),
                d.GetValueOrDefault<int>(DicomTags.NumberOfWarningSuboperations, 0), rsp.ErrorComment);
            if (DimseStatus.IsPending(rsp.Status))
            {
                progress?.Report(r);
                continue;
            }
            return r;
        }
    }

    private async Task<(DimseCommand Response, MemoryDatasetSink? Data)> ReceiveResponseAsync(DimseCommand request, CancellationToken ct)
    {
        while (true)
        {
            AssociationEvent ev;
            try { ev = await _assoc.ReceiveAsync(null, _options.DimseTimeout, ct); }
            catch (PduException e)
            {
                await _assoc.AbortAsync(e.AbortReason, provider: true);
                throw new AssociationAbortedException("The SCP broke the protocol: " + e.Message);
            }
            catch (TimeoutException)
            {
                await _assoc.AbortAsync();
                throw;
            }
            switch (ev)
            {
                case AbortedEvent a:
                    throw new AssociationAbortedException($"Association {a.Abort}");
                case ReleaseRequestedEvent:
                    await _assoc.AnswerReleaseAsync(ct);
                    throw new AssociationAbortedException("The SCP released the association before answering");
                case DimseMessageEvent m when !m.Command.IsRequest && m.Command.MessageIdBeingRespondedTo == request.MessageId:
                    return (m.Command, m.Data as MemoryDatasetSink);
                case DimseMessageEvent:
                    continue; // e.g. a request from the SCP on this association: not supported here
            }
        }
    }

    public ValueTask ReleaseAsync(CancellationToken ct = default) => _assoc.ReleaseAsync(ct);
    public ValueTask AbortAsync() => _assoc.AbortAsync();

    public async ValueTask DisposeAsync()
    {
        if (_assoc.State == AssociationState.Established)
        {
            try { await _assoc.ReleaseAsync(); }
            catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException) { }
        }
        await _assoc.DisposeAsync();
    }
}

/// <summary>A DIMSE operation ended in a failure status.</summary>
public sealed class DimseFailureException : Exception
{
    public DimseFailureException(ushort status, string? comment)
        : base($"{DimseStatus.Describe(status)}{(string.IsNullOrEmpty(comment) ? "" : ": " + comment)}") => Status = status;
    public ushort Status { get; }
}
