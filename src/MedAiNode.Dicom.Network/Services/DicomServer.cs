using MedAiNode.Dicom.IO;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using MedAiNode.Dicom.Network.Dimse;
using MedAiNode.Dicom.Network.UpperLayer;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace MedAiNode.Dicom.Network.Services;

/// <summary>
/// The DIMSE SCP: Verification and Storage on a plain TCP port and optionally a DICOM TLS port. One task per association,
/// a limit on concurrent associations, and graceful shutdown (stop accepting, abort what is idle, wait for the rest).
/// </summary>
public sealed class DicomServer : IAsyncDisposable
{
    private readonly DicomServerOptions _options;
    private readonly AssociationNegotiator _negotiator;
    private readonly StoreScp _store;
    private readonly ILogger _log;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<TcpListener> _listeners = new();
    private readonly List<Task> _acceptLoops = new();
    private readonly HashSet<Task> _associations = new();
    private readonly X509Certificate2? _certificate;
    private readonly X509Certificate2Collection? _clientCa;
    private int _active;
    private long _accepted, _rejected, _aborted;

    public DicomServer(DicomServerOptions options, IDicomStoreTarget target, ILogger? logger = null)
    {
        options.Validate();
        _options = options;
        _negotiator = new AssociationNegotiator(options);
        _log = logger ?? NullLogger.Instance;
        _store = new StoreScp(target, _log);
        if (options.TlsPort != 0)
        {
            _certificate = TlsSupport.LoadCertificate(options.TlsCertificatePath!, options.TlsKeyPath);
            if (!string.IsNullOrEmpty(options.TlsClientCaPath)) _clientCa = TlsSupport.LoadCertificates(options.TlsClientCaPath);
        }
    }

    public StoreScp Store => _store;
    public int Port { get; private set; }
    public int TlsPort { get; private set; }
    public int ActiveAssociations => Volatile.Read(ref _active);
    public long AcceptedCount => Interlocked.Read(ref _accepted);
    public long RejectedCount => Interlocked.Read(ref _rejected);
    public long AbortedCount => Interlocked.Read(ref _aborted);

    /// <summary>Binds the ports (0 picks a free one; see <see cref="Port"/>) and starts accepting.</summary>
    public void Start()
    {
        var ip = IPAddress.Parse(_options.BindAddress);
        Port = Listen(ip, _options.Port, tls: false);
        if (_options.TlsPort != 0 || _certificate is not null) TlsPort = Listen(ip, _options.TlsPort, tls: true);
        _log.LogInformation("DICOM SCP {AE} listening on {Address}:{Port}{Tls}", _options.AETitle, ip, Port, TlsPort != 0 ? $", TLS on {TlsPort}" : "");
    }

    private int Listen(IPAddress ip, int port, bool tls)
    {
        var l = new TcpListener(ip, port);
        l.Start(128);
        _listeners.Add(l);
        _acceptLoops.Add(AcceptLoopAsync(l, tls));
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    private async Task AcceptLoopAsync(TcpListener listener, bool tls)
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket socket;
            try { socket = await listener.AcceptSocketAsync(_stop.Token); }
            catch (OperationCanceledException) { return; }
            catch (ObjectDisposedException) { return; }
            catch (SocketException e)
            {
                _log.LogWarning("Accept failed: {Error}", e.SocketErrorCode);
                continue;
            }
            socket.NoDelay = true;
            var overLimit = Interlocked.Increment(ref _active) > _options.MaxAssociations;
            var task = Task.Run(async () =>
            {
                try { await RunAssociationAsync(socket, tls, overLimit); }
                finally { Interlocked.Decrement(ref _active); }
            });
            lock (_associations) _associations.Add(task);
            _ = task.ContinueWith(t => { lock (_associations) _associations.Remove(t); }, TaskScheduler.Default);
        }
    }

    private async Task RunAssociationAsync(Socket socket, bool tls, bool overLimit)
    {
        var remote = socket.RemoteEndPoint as IPEndPoint;
        var ct = _stop.Token;
        Stream stream = new NetworkStream(socket, ownsSocket: true);
        UpperLayerConnection? conn = null;
        DicomAssociation? assoc = null;
        try
        {
            if (tls)
            {
                var ssl = new SslStream(stream, false);
                stream = ssl;
                using var hs = CancellationTokenSource.CreateLinkedTokenSource(ct);
                hs.CancelAfter(_options.ArtimTimeout);
                await ssl.AuthenticateAsServerAsync(TlsSupport.ServerOptions(_certificate!, _options.TlsRequireClientCertificate, _clientCa), hs.Token);
            }
            conn = new UpperLayerConnection(stream);
            // Sta2: ARTIM runs until the A-ASSOCIATE-RQ is in; a P-DATA this early is refused by its length.
            var first = await conn.ReadAsync(16, _options.ArtimTimeout, ct);
            if (first.Type != PduType.AssociateRequest) throw new PduException($"{first.Type} before A-ASSOCIATE-RQ", 2);
            var rq = PduCodec.DecodeAssociate(first.Body.Span, request: true);
            var result = _negotiator.Negotiate(rq, remote?.Address, overLimit);
            if (result.Reject is { } rj)
            {
                Interlocked.Increment(ref _rejected);
                _log.LogWarning("Rejected association from {Calling}@{Peer} to {Called}: {Reason} ({Why})", rq.CallingAE, remote, rq.CalledAE, rj, result.Why);
                await conn.SendAsync(PduCodec.EncodeAssociateReject(rj), ct);
                await conn.WaitForCloseAsync(_options.ArtimTimeout); // Sta13
                return;
            }
            await conn.SendAsync(PduCodec.EncodeAssociateAccept(result.Accept!), ct);
            Interlocked.Increment(ref _accepted);
            assoc = new DicomAssociation(conn, rq, result.Accept!, isRequestor: false, _options.ArtimTimeout);
            _log.LogInformation("Association from {Calling}@{Peer}{Tls}: {Why}", rq.CallingAE, remote, tls ? " (TLS)" : "", result.Why);
            await ServeAsync(assoc, ct);
        }
        catch (PduException e)
        {
            Interlocked.Increment(ref _aborted);
            _log.LogWarning("Aborting association with {Peer}: {Error}", remote, e.Message);
            if (assoc is not null) await assoc.AbortAsync(e.AbortReason, provider: true);
            else if (conn is not null) await conn.TrySendAbortAsync(2, e.AbortReason);
        }
        catch (TimeoutException e)
        {
            Interlocked.Increment(ref _aborted);
            _log.LogWarning("Aborting association with {Peer}: {Error}", remote, e.Message);
            if (assoc is not null) await assoc.AbortAsync(0, provider: true);
            else if (conn is not null) await conn.TrySendAbortAsync(2, 0);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            if (assoc is not null) await assoc.AbortAsync();
        }
        catch (OperationCanceledException)
        {
            Interlocked.Increment(ref _aborted);
            _log.LogWarning("TLS handshake with {Peer} did not finish within {Seconds} s", remote, _options.ArtimTimeout.TotalSeconds);
        }
        catch (Exception e) when (e is IOException or SocketException or AuthenticationException or ObjectDisposedException)
        {
            Interlocked.Increment(ref _aborted);
            _log.LogInformation("Connection from {Peer} ended: {Error}", remote, e.Message);
        }
        catch (Exception e)
        {
            // Never let one association take the service down.
            Interlocked.Increment(ref _aborted);
            _log.LogError(e, "Association with {Peer} failed", remote);
            if (assoc is not null) await assoc.AbortAsync(0, provider: true);
        }
        finally
        {
            if (assoc is not null) await assoc.DisposeAsync();
            else if (conn is not null) await conn.DisposeAsync();
            else await stream.DisposeAsync();
        }
    }

    private async Task ServeAsync(DicomAssociation assoc, CancellationToken ct)
    {
        var calling = assoc.CallingAE;
        Func<DimseCommand, PresentationContext, ValueTask<IDatasetSink>> sinkFor = (cmd, pc) =>
            cmd.Field == CommandField.CStoreRequest
                ? _store.BeginAsync(cmd, pc, calling, ct)
                : ValueTask.FromResult<IDatasetSink>(StoreSink.Refuse(DimseStatus.UnrecognizedOperation, "not supported"));
        while (true)
        {
            var ev = await assoc.ReceiveAsync(sinkFor, _options.IdleTimeout, ct);
            switch (ev)
            {
                case ReleaseRequestedEvent:
                    await assoc.AnswerReleaseAsync(ct);
                    return;
                case AbortedEvent a:
                    Interlocked.Increment(ref _aborted);
                    _log.LogInformation("Association from {Calling} {Abort}", calling, a.Abort);
                    return;
                case DimseMessageEvent m:
                    await HandleAsync(assoc, m, ct);
                    break;
            }
        }
    }

    private async Task HandleAsync(DicomAssociation assoc, DimseMessageEvent m, CancellationToken ct)
    {
        var cmd = m.Command;
        switch (cmd.Field)
        {
            case CommandField.CEchoRequest:
                await assoc.SendMessageAsync(m.Context, DimseCommand.Response(cmd, DimseStatus.Success), ReadOnlyMemory<byte>.Empty, ct);
                return;
            case CommandField.CStoreRequest:
            {
                ushort status;
                string? comment;
                if (m.Data is StoreSink sink)
                {
                    // The answer waits for the data to be on disk; shutdown must not cut that short.
                    var r = await _store.CompleteAsync(sink, cmd, m.Context, assoc.CallingAE, assoc.CalledAE, CancellationToken.None);
                    (status, comment) = (r.Status, r.Comment);
                }
                else (status, comment) = (DimseStatus.CannotUnderstand, "C-STORE-RQ without a dataset");
                if (status == DimseStatus.Success)
                    _log.LogDebug("Stored {Sop} from {Calling}", cmd.AffectedSopInstanceUid, assoc.CallingAE);
                else
                    _log.LogWarning("C-STORE of {Sop} from {Calling} answered {Status}: {Comment}", cmd.AffectedSopInstanceUid, assoc.CallingAE, DimseStatus.Describe(status), comment);
                await assoc.SendMessageAsync(m.Context, DimseCommand.Response(cmd, status, errorComment: comment), ReadOnlyMemory<byte>.Empty, ct);
                return;
            }
            case CommandField.CCancelRequest:
                return;
            default:
                if (cmd.IsRequest)
                    await assoc.SendMessageAsync(m.Context, DimseCommand.Response(cmd, DimseStatus.UnrecognizedOperation, errorComment: $"{cmd.Field} is not supported"), ReadOnlyMemory<byte>.Empty, ct);
                return;
        }
    }

    /// <summary>Stops accepting, ends associations (messages being stored finish first), and waits for them.</summary>
    public async Task StopAsync(TimeSpan? grace = null)
    {
        if (_stop.IsCancellationRequested) return;
        _stop.Cancel();
        foreach (var l in _listeners) l.Stop();
        await Task.WhenAll(_acceptLoops);
        Task[] running;
        lock (_associations) running = _associations.ToArray();
        await Task.WhenAny(Task.WhenAll(running), Task.Delay(grace ?? TimeSpan.FromSeconds(10)));
    }

    public async ValueTask DisposeAsync() => await StopAsync();
}
