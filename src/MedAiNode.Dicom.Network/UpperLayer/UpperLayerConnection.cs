namespace MedAiNode.Dicom.Network.UpperLayer;

/// <summary>A PDU read from the wire. <see cref="Body"/> is valid until the next read on the same connection.</summary>
public readonly record struct Pdu(PduType Type, ReadOnlyMemory<byte> Body);

/// <summary>The peer closed the transport connection.</summary>
public sealed class ConnectionClosedException : IOException
{
    public ConnectionClosedException(string message) : base(message) { }
}

/// <summary>Reads and writes whole PDUs on a stream (TCP or TLS), with strict length checks and timeouts.</summary>
public sealed class UpperLayerConnection : IAsyncDisposable
{
    /// <summary>Association PDUs carry only negotiation items: 128 presentation contexts of 30 transfer syntaxes each and
    /// a 64 KiB user identity still fit in 256 KiB; anything larger is hostile.</summary>
    public const int MaxAssociatePduLength = 256 * 1024;
    /// <summary>The receive buffer starts here and grows only as bytes actually arrive, so a PDU header declaring a large
    /// length costs nothing until its body is sent.</summary>
    private const int InitialBuffer = 16 * 1024;
    private const int AbsoluteMaxPData = 64 << 20;
    /// <summary>Receive buffers come from this pool, not the shared one: it keeps at most a few arrays of each size, so
    /// a flood of large (or half-sent) PDUs leaves nothing behind once its connections are closed.</summary>
    private static readonly ArrayPool<byte> Buffers = ArrayPool<byte>.Create(AbsoluteMaxPData, 8);

    private readonly Stream _stream;
    private readonly SemaphoreSlim _sendLock = new(1, 1);
    private readonly byte[] _header = new byte[PduCodec.HeaderLength];
    private byte[] _body = Buffers.Rent(InitialBuffer);
    private bool _disposed;

    public UpperLayerConnection(Stream stream) => _stream = stream;

    public Stream Stream => _stream;

    /// <summary>Reads one PDU. <paramref name="maxPDataLength"/> is the limit this side announced (0 = none).</summary>
    public async ValueTask<Pdu> ReadAsync(uint maxPDataLength, TimeSpan timeout, CancellationToken ct)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        if (timeout != Timeout.InfiniteTimeSpan) cts.CancelAfter(timeout);
        try
        {
            var got = await ReadFullyAsync(_header, cts.Token, allowEofAtStart: true);
            if (!got) throw new ConnectionClosedException("The peer closed the connection");
            var type = _header[0];
            var length = BinaryPrimitives.ReadUInt32BigEndian(_header.AsSpan(2));
            if (type is < 1 or > 7) throw new PduException($"Unrecognized PDU type 0x{type:X2}", 1);
            var pduType = (PduType)type;
            switch (pduType)
            {
                case PduType.AssociateReject or PduType.ReleaseRequest or PduType.ReleaseResponse or PduType.Abort when length != 4:
                    throw new PduException($"{pduType} PDU declares length {length}; it is always 4", 6);
                case PduType.AssociateRequest or PduType.AssociateAccept when length > MaxAssociatePduLength || length < 68:
                    throw new PduException($"{pduType} PDU length {length} is outside 68..{MaxAssociatePduLength}", 6);
                case PduType.PData:
                    var limit = maxPDataLength == 0 ? AbsoluteMaxPData : maxPDataLength;
                    if (length > limit) throw new PduException($"P-DATA-TF PDU of {length} bytes exceeds the negotiated maximum of {limit}", 6);
                    if (length < 6) throw new PduException($"P-DATA-TF PDU length {length} cannot hold a PDV", 6);
                    break;
            }
            var body = await ReadBodyAsync((int)length, cts.Token);
            return new Pdu(pduType, body);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new TimeoutException($"No complete PDU from the peer within {timeout.TotalSeconds:0.#} s");
        }
    }

    /// <summary>Reads a PDU body of <paramref name="length"/> bytes, doubling the (pooled) buffer only when the bytes
    /// received so far fill it.</summary>
    private async ValueTask<Memory<byte>> ReadBodyAsync(int length, CancellationToken ct)
    {
        var done = 0;
        while (done < length)
        {
            if (done == _body.Length)
            {
                var bigger = Buffers.Rent((int)Math.Min(length, Math.Max((long)_body.Length * 2, InitialBuffer)));
                _body.AsSpan(0, done).CopyTo(bigger);
                Buffers.Return(_body);
                _body = bigger;
            }
            var n = await _stream.ReadAsync(_body.AsMemory(done, Math.Min(length, _body.Length) - done), ct);
            if (n == 0) throw new ConnectionClosedException($"The peer closed the connection mid-PDU ({done} of {length} bytes read)");
            done += n;
        }
        return _body.AsMemory(0, length);
    }

    private async ValueTask<bool> ReadFullyAsync(Memory<byte> buffer, CancellationToken ct, bool allowEofAtStart)
    {
        var done = 0;
        while (done < buffer.Length)
        {
            var n = await _stream.ReadAsync(buffer[done..], ct);
            if (n == 0)
            {
                if (done == 0 && allowEofAtStart) return false;
                throw new ConnectionClosedException($"The peer closed the connection mid-PDU ({done} of {buffer.Length} bytes read)");
            }
            done += n;
        }
        return true;
    }

    public async ValueTask SendAsync(ReadOnlyMemory<byte> pdu, CancellationToken ct)
    {
        await _sendLock.WaitAsync(ct);
        try
        {
            await _stream.WriteAsync(pdu, ct);
            await _stream.FlushAsync(ct);
        }
        finally { _sendLock.Release(); }
    }

    /// <summary>Best effort: an A-ABORT on a connection that may already be broken.</summary>
    public async ValueTask TrySendAbortAsync(byte source, byte reason)
    {
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            await SendAsync(PduCodec.EncodeAbort(source, reason), cts.Token);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or OperationCanceledException or InvalidOperationException or System.Net.Sockets.SocketException) { }
    }

    /// <summary>Waits (at most the ARTIM time) for the peer to close the connection, discarding what it sends.</summary>
    public async ValueTask WaitForCloseAsync(TimeSpan artim)
    {
        using var cts = new CancellationTokenSource(artim);
        var scratch = ArrayPool<byte>.Shared.Rent(4096);
        try
        {
            while (await _stream.ReadAsync(scratch, cts.Token) > 0) { }
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException or System.Net.Sockets.SocketException) { }
        finally { ArrayPool<byte>.Shared.Return(scratch); }
    }

    public async ValueTask DisposeAsync()
    {
        if (_disposed) return;
        _disposed = true;
        try { await _stream.DisposeAsync(); } catch (IOException) { } catch (System.Net.Sockets.SocketException) { }
        Buffers.Return(_body);
        _body = [];
    }
}
