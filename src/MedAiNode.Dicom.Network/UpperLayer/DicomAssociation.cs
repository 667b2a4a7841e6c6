namespace MedAiNode.Dicom.Network.UpperLayer;

/// <summary>Receives a dataset's P-DATA fragments as they arrive (to a file, or to memory).</summary>
public interface IDatasetSink
{
    ValueTask WriteAsync(ReadOnlyMemory<byte> fragment, CancellationToken ct);
    /// <summary>The association ended before the last fragment: drop whatever was written.</summary>
    void Discard();
}

/// <summary>Collects a (small) dataset in memory: responses, C-FIND identifiers.</summary>
public sealed class MemoryDatasetSink : IDatasetSink
{
    private readonly MemoryStream _ms = new();
    public ValueTask WriteAsync(ReadOnlyMemory<byte> fragment, CancellationToken ct)
    {
        _ms.Write(fragment.Span);
        return ValueTask.CompletedTask;
    }
    public void Discard() => _ms.SetLength(0);
    public byte[] ToArray() => _ms.ToArray();

    public DicomDataset ToDataset(DicomTransferSyntax ts) => DatasetCodec.Decode(_ms.ToArray(), ts);
}

public enum AssociationState
{
    /// <summary>Sta2/Sta5: transport open, negotiation under way.</summary>
    Negotiating,
    /// <summary>Sta6: data transfer.</summary>
    Established,
    /// <summary>Sta7: this side sent A-RELEASE-RQ and waits for the response.</summary>
    AwaitingReleaseResponse,
    /// <summary>Sta13: released, rejected or aborted; waiting for the transport to close.</summary>
    Closing,
    Closed,
}

/// <summary>What the peer did next: a complete DIMSE message, a release request, or an abort.</summary>
public abstract record AssociationEvent;
public sealed record DimseMessageEvent(DimseCommand Command, PresentationContext Context, IDatasetSink? Data) : AssociationEvent;
public sealed record ReleaseRequestedEvent : AssociationEvent;
public sealed record AbortedEvent(AbortInfo Abort) : AssociationEvent;

/// <summary>
/// An established association (PS3.8 state machine from Sta6 on): assembles DIMSE messages from PDVs, sends messages
/// fragmented to the peer's maximum PDU length, and handles release (including collisions) and abort.
/// </summary>
public sealed class DicomAssociation : IAsyncDisposable
{
    /// <summary>Never send a PDU larger than this, even to a peer announcing no limit.</summary>
    public const int MaxSendPduLength = 1 << 20;

    private readonly UpperLayerConnection _conn;
    private readonly uint _maxReceive;
    private readonly int _sendPdvMax;

    // Receive cursor inside the current P-DATA-TF body (PDVs of the next message may share a PDU).
    private ReadOnlyMemory<byte> _pending = ReadOnlyMemory<byte>.Empty;
    private MemoryStream? _command;
    private byte _commandContext;
    private DimseCommand? _awaitingData;
    private PresentationContext? _awaitingDataContext;
    private IDatasetSink? _sink;
    private ushort _nextMessageId;

    internal DicomAssociation(UpperLayerConnection conn, AssociationParameters request, AssociationParameters accept, bool isRequestor, TimeSpan artim)
    {
        _conn = conn;
        Request = request;
        Accept = accept;
        IsRequestor = isRequestor;
        Artim = artim;
        _maxReceive = isRequestor ? request.MaxPduLength : accept.MaxPduLength;
        var peerMax = isRequestor ? accept.MaxPduLength : request.MaxPduLength;
        var pduMax = peerMax == 0 || peerMax > MaxSendPduLength ? MaxSendPduLength : (int)peerMax;
        _sendPdvMax = Math.Max(pduMax - 6, 1); // PDU length counts the 4-byte PDV length, context ID and control header
        State = AssociationState.Established;
        foreach (var pc in accept.PresentationContexts)
        {
            var proposed = request.FindContext(pc.Id);
            if (proposed is null) continue;
            proposed.Result = pc.Result;
            proposed.AcceptedTransferSyntax = pc.IsAccepted ? pc.AcceptedTransferSyntax : null;
        }
        _nextMessageId = 1;
    }

    public AssociationParameters Request { get; }
    public AssociationParameters Accept { get; }
    public bool IsRequestor { get; }
    public TimeSpan Artim { get; }
    public AssociationState State { get; private set; }
    public string CallingAE => Request.CallingAE;
    public string CalledAE => Request.CalledAE;
    public UpperLayerConnection Connection => _conn;
    /// <summary>Largest fragment this side sends in one PDV.</summary>
    public int SendPdvMax => _sendPdvMax;

    /// <summary>The proposed contexts with their results filled in from the A-ASSOCIATE-AC.</summary>
    public IReadOnlyList<PresentationContext> PresentationContexts => Request.PresentationContexts;

    public ushort NextMessageId()
    {
        var id = _nextMessageId++;
        return id == 0 ? _nextMessageId++ : id;
    }

    public PresentationContext? FindAcceptedContext(string abstractSyntax, string? transferSyntax = null) =>
        Request.PresentationContexts.FirstOrDefault(p => p.IsAccepted && p.AbstractSyntax == abstractSyntax &&
                                                         (transferSyntax is null || p.AcceptedTransferSyntax == transferSyntax));

    // ------------------------------------------------------------------ receiving

    /// <summary>
    /// Reads until a whole DIMSE message, a release request or an abort arrives. <paramref name="sinkFor"/> chooses where
    /// a message's dataset goes once its command is known (null: memory).
    /// </summary>
    public async ValueTask<AssociationEvent> ReceiveAsync(Func<DimseCommand, PresentationContext, ValueTask<IDatasetSink>>? sinkFor, TimeSpan timeout, CancellationToken ct)
    {
        while (true)
        {
            while (_pending.Length > 0)
            {
                var done = await ConsumePdvAsync(sinkFor, ct);
                if (done is not null) return done;
            }
            var pdu = await _conn.ReadAsync(_maxReceive, timeout, ct);
            switch (pdu.Type)
            {
                case PduType.PData:
                    PduCodec.CountPdvs(pdu.Body.Span);
                    _pending = pdu.Body;
                    break;
                case PduType.ReleaseRequest:
                    PduCodec.CheckRelease(pdu.Body.Span, pdu.Type);
                    DiscardPartial();
                    return new ReleaseRequestedEvent();
                case PduType.Abort:
                    var abort = PduCodec.DecodeAbort(pdu.Body.Span);
                    DiscardPartial();
                    State = AssociationState.Closed;
                    return new AbortedEvent(abort);
                default:
                    throw new PduException($"{pdu.Type} is not expected on an established association", 2);
            }
        }
    }

    private async ValueTask<AssociationEvent?> ConsumePdvAsync(Func<DimseCommand, PresentationContext, ValueTask<IDatasetSink>>? sinkFor, CancellationToken ct)
    {
        var span = _pending.Span;
        var len = (int)BinaryPrimitives.ReadUInt32BigEndian(span);
        var pcId = span[4];
        var mch = span[5];
        var data = _pending.Slice(6, len - 2);
        _pending = _pending[(4 + len)..];
        if ((mch & 0xFC) != 0) throw new PduException($"PDV message control header 0x{mch:X2} has reserved bits set", 6);
        var isCommand = (mch & 1) != 0;
        var isLast = (mch & 2) != 0;
        var pc = Request.FindContext(pcId);
        if (pc is null || !pc.IsAccepted) throw new PduException($"PDV on presentation context {pcId}, which was not accepted", 6);

        if (isCommand)
        {
            if (_awaitingData is not null) throw new PduException("A command fragment arrived while a dataset was expected", 2);
            if (_command is null)
            {
                _command = new MemoryStream();
                _commandContext = pcId;
            }
            else if (_commandContext != pcId) throw new PduException("Command fragments switched presentation context", 6);
            _command.Write(data.Span);
            if (_command.Length > 1 << 20) throw new PduException("Command set larger than 1 MiB", 6);
            if (!isLast) return null;
            DimseCommand cmd;
            try { cmd = DimseCommand.Decode(_command.GetBuffer().AsSpan(0, (int)_command.Length)); }
            catch (DicomFormatException e) { throw new PduException("Undecodable command set: " + e.Message, 6); }
            _command = null;
            if (!cmd.HasDataSet) return new DimseMessageEvent(cmd, pc, null);
            _awaitingData = cmd;
            _awaitingDataContext = pc;
            _sink = sinkFor is null ? new MemoryDatasetSink() : await sinkFor(cmd, pc);
            return null;
        }

        if (_awaitingData is null || _awaitingDataContext is null) throw new PduException("A dataset fragment arrived with no command before it", 2);
        if (_awaitingDataContext.Id != pcId) throw new PduException("Dataset fragments arrived on a different presentation context than their command", 6);
        await _sink!.WriteAsync(data, ct);
        if (!isLast) return null;
        var message = new DimseMessageEvent(_awaitingData, _awaitingDataContext, _sink);
        _awaitingData = null;
        _awaitingDataContext = null;
        _sink = null;
        return message;
    }

    private void DiscardPartial()
    {
        _sink?.Discard();
        _sink = null;
        _awaitingData = null;
        _command = null;
        _pending = ReadOnlyMemory<byte>.Empty;
    }

    // ------------------------------------------------------------------ sending

    /// <summary>Sends a command and, when <paramref name="writeData"/> is given, its dataset through a fragmenting writer.</summary>
    public async ValueTask SendMessageAsync(PresentationContext pc, DimseCommand command, Func<PDataWriter, ValueTask>? writeData, CancellationToken ct)
    {
        if (State is not (AssociationState.Established or AssociationState.AwaitingReleaseResponse))
            throw new InvalidOperationException($"Cannot send on an association in state {State}");
        var writer = new PDataWriter(_conn, pc.Id, _sendPdvMax);
        try
        {
            await writer.WriteAsync(command.Encode(), isCommand: true, ct);
            await writer.FinishAsync(isCommand: true, ct);
            if (writeData is not null)
            {
                await writeData(writer);
                await writer.FinishAsync(isCommand: false, ct);
            }
        }
        finally { writer.Dispose(); }
    }

    public ValueTask SendMessageAsync(PresentationContext pc, DimseCommand command, ReadOnlyMemory<byte> data, CancellationToken ct) =>
        SendMessageAsync(pc, command, data.IsEmpty && !command.HasDataSet ? null : w => w.WriteAsync(data, false, ct), ct);

    // ------------------------------------------------------------------ release and abort

    /// <summary>Answers the peer's A-RELEASE-RQ and waits (ARTIM) for it to close the transport.</summary>
    public async ValueTask AnswerReleaseAsync(CancellationToken ct)
    {
        await _conn.SendAsync(PduCodec.EncodeReleaseResponse(), ct);
        State = AssociationState.Closing;
        if (!IsRequestor) await _conn.WaitForCloseAsync(Artim);
        State = AssociationState.Closed;
    }

    /// <summary>
    /// A-RELEASE from this side. A release collision (the peer's A-RELEASE-RQ crossing ours) is resolved as PS3.8 9.2.3
    /// says: the requestor answers first, the acceptor answers after receiving the response.
    /// </summary>
    public async ValueTask ReleaseAsync(CancellationToken ct = default)
    {
        if (State != AssociationState.Established) return;
        await _conn.SendAsync(PduCodec.EncodeReleaseRequest(), ct);
        State = AssociationState.AwaitingReleaseResponse;
        var collision = false;
        try
        {
            while (true)
            {
                var pdu = await _conn.ReadAsync(_maxReceive, Artim, ct);
                switch (pdu.Type)
                {
                    case PduType.ReleaseResponse:
                        if (collision && !IsRequestor) await _conn.SendAsync(PduCodec.EncodeReleaseResponse(), ct);
                        State = AssociationState.Closed;
                        return;
                    case PduType.ReleaseRequest:
                        collision = true;
                        if (IsRequestor) await _conn.SendAsync(PduCodec.EncodeReleaseResponse(), ct);
                        break;
                    case PduType.PData:
                        break; // the peer may still be finishing a message (Sta7 accepts P-DATA); nobody is waiting for it
                    case PduType.Abort:
                        State = AssociationState.Closed;
                        return;
                    default:
                        throw new PduException($"{pdu.Type} is not expected while awaiting A-RELEASE-RP", 2);
                }
            }
        }
        catch (Exception e) when (e is PduException or TimeoutException)
        {
            await AbortAsync(e is PduException p ? p.AbortReason : (byte)0, provider: e is PduException);
        }
        catch (ConnectionClosedException)
        {
            State = AssociationState.Closed;
        }
    }

    /// <summary>A-ABORT: source 0 (service user) or 2 (service provider, with a reason).</summary>
    public async ValueTask AbortAsync(byte reason = 0, bool provider = false)
    {
        DiscardPartial();
        if (State == AssociationState.Closed) return;
        await _conn.TrySendAbortAsync(provider ? (byte)2 : (byte)0, provider ? reason : (byte)0);
        State = AssociationState.Closed;
    }

    public async ValueTask DisposeAsync()
    {
        DiscardPartial();
        State = AssociationState.Closed;
        await _conn.DisposeAsync();
    }
}

/// <summary>Cuts a command or dataset into PDVs no larger than the peer accepts, one pooled PDU buffer at a time.</summary>
public sealed class PDataWriter : IDisposable
{
    private readonly UpperLayerConnection _conn;
    private readonly byte _pcId;
    private readonly int _pdvMax;
    private byte[] _buf;
    private int _used; // payload bytes in _buf after the 12-byte header

    internal PDataWriter(UpperLayerConnection conn, byte pcId, int pdvMax)
    {
        _conn = conn;
        _pcId = pcId;
        _pdvMax = pdvMax;
        _buf = ArrayPool<byte>.Shared.Rent(12 + pdvMax);
    }

    public long BytesWritten { get; private set; }

    public async ValueTask WriteAsync(ReadOnlyMemory<byte> data, bool isCommand, CancellationToken ct)
    {
        while (data.Length > 0)
        {
            if (_used == _pdvMax) await SendAsync(isCommand, last: false, ct);
            var n = Math.Min(_pdvMax - _used, data.Length);
            data.Span[..n].CopyTo(_buf.AsSpan(12 + _used));
            _used += n;
            data = data[n..];
            BytesWritten += n;
        }
    }

    /// <summary>Dataset bytes: what a file-streaming or encoding caller writes.</summary>
    public ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken ct) => WriteAsync(data, isCommand: false, ct);

    /// <summary>Sends what is buffered as the last fragment.</summary>
    public ValueTask FinishAsync(bool isCommand, CancellationToken ct) => SendAsync(isCommand, last: true, ct);

    private async ValueTask SendAsync(bool isCommand, bool last, CancellationToken ct)
    {
        var pdvLength = _used + 2;
        _buf[0] = (byte)PduType.PData;
        _buf[1] = 0;
        BinaryPrimitives.WriteUInt32BigEndian(_buf.AsSpan(2), (uint)(pdvLength + 4));
        BinaryPrimitives.WriteUInt32BigEndian(_buf.AsSpan(6), (uint)pdvLength);
        _buf[10] = _pcId;
        _buf[11] = (byte)((isCommand ? 1 : 0) | (last ? 2 : 0));
        await _conn.SendAsync(_buf.AsMemory(0, 12 + _used), ct);
        _used = 0;
    }

    public void Dispose()
    {
        if (_buf.Length == 0) return;
        ArrayPool<byte>.Shared.Return(_buf);
        _buf = [];
    }
}
