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
public sealed partial class DicomServer : IAsyncDisposable
{
    private readonly DicomServerOptions _options;
    private readonly AssociationNegotiator _negotiator;
    private readonly StoreScp _store;
    private readonly ILogger _log;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Listener> _listeners = new();
    private readonly List<Task> _acceptLoops = new();
    private readonly HashSet<Task> _associations = new();
    private readonly X509Certificate2? _certificate;
    private readonly X509Certificate2Collection? _clientCa;
    private readonly PeerAddressRule[] _allowedPeers;
    // Every open connection per peer address (both ports), and the connections that have not yet sent a complete
    // A-ASSOCIATE-RQ, oldest first: those may be closed to make room (see Admit).
    private readonly Dictionary<IPAddress, int> _perPeer = new();
    private readonly Dictionary<IPAddress, int> _pendingPerPeer = new();
    private readonly LinkedList<Connection> _pending = new();
    // Connections from a peer already at MaxConnectionsPerPeer, oldest first: each waits ProbationWindow for its first
    // byte, holding no port slot, no association slot and no buffer; one that talks takes the place of a silent
    // connection of its peer, one that stays silent is closed (see Admit and PromoteAsync).
    private readonly LinkedList<Connection> _probation = new();
    private readonly object _gate = new();
    private int _active, _open;
    private long _seen, _accepted, _rejected, _aborted, _refusedConnections, _evicted, _requestTimeouts, _promoted;
    private long _lastRefusalReport = Environment.TickCount64;
    private long _refusalsReported;

    public DicomServer(DicomServerOptions options, IDicomStoreTarget target, ILogger? logger = null)
    {
        options.Validate();
        _options = options;
        _negotiator = new AssociationNegotiator(options);
        _log = logger ?? NullLogger.Instance;
        _store = new StoreScp(target, _log);
        _allowedPeers = options.AllowedPeerAddresses.Select(a => PeerAddressRule.TryParse(a, out var r) ? r : default).ToArray();
        if (options.TlsPort != 0)
        {
            _certificate = TlsSupport.LoadCertificate(options.TlsCertificatePath!, options.TlsKeyPath);
            if (!string.IsNullOrEmpty(options.TlsClientCaPath)) _clientCa = TlsSupport.LoadCertificates(options.TlsClientCaPath);
        }
    }

    public StoreScp Store => _store;
    /// <summary>The plain port (0 when only TLS listens).</summary>
    public int Port { get; private set; }
    public int TlsPort { get; private set; }
    /// <summary>True once at least one port listens.</summary>
    public bool IsListening => Port != 0 || TlsPort != 0;
    /// <summary>Associations being negotiated or established: the ones <see cref="DicomServerOptions.MaxAssociations"/> limits.</summary>
    public int ActiveAssociations => Volatile.Read(ref _active);
    /// <summary>Open TCP connections on both ports, whether or not they have sent an A-ASSOCIATE-RQ.</summary>
    public int OpenConnections => Volatile.Read(ref _open);
    /// <summary>Open connections that have not yet sent a complete A-ASSOCIATE-RQ.</summary>
    public int PendingConnections { get { lock (_gate) return _pending.Count; } }
    /// <summary>Connections on probation: their peer was at its connection limit when they arrived, and they wait for
    /// their first byte (at most <see cref="ProbationWindow"/>) before they may take the place of a silent one.</summary>
    public int ProbationConnections { get { lock (_gate) return _probation.Count; } }
    /// <summary>At most this many connections are on probation at once (both ports); a newer one closes the oldest
    /// silent one. They hold a socket each and nothing else.</summary>
    public int ProbationCapacity => 4 * _options.MaxConnections;
    /// <summary>Connections that arrived on probation, talked, and took the place of a silent connection of their peer.</summary>
    public long PromotedCount => Interlocked.Read(ref _promoted);
    /// <summary>Whether every connection without an A-ASSOCIATE-RQ has had its grace and may be closed to make room.</summary>
    public bool PendingPastGrace { get { lock (_gate) return _pending.Last is not { } n || Environment.TickCount64 - n.Value.OpenedAt >= EvictionGraceMs; } }
    /// <summary>TCP connections taken from the kernel and decided on (admitted, put on probation or refused), counted once
    /// that decision and any eviction it made are done.</summary>
    public long ConnectionsSeen => Interlocked.Read(ref _seen);
    public long AcceptedCount => Interlocked.Read(ref _accepted);
    public long RejectedCount => Interlocked.Read(ref _rejected);
    public long AbortedCount => Interlocked.Read(ref _aborted);
    /// <summary>Connections closed at once: disallowed address, or the peer's connection limit reached.</summary>
    public long RefusedConnectionCount => Interlocked.Read(ref _refusedConnections);
    /// <summary>Connections without a complete A-ASSOCIATE-RQ closed to make room for a newer one.</summary>
    public long EvictedConnectionCount => Interlocked.Read(ref _evicted);
    /// <summary>Connections closed because no complete A-ASSOCIATE-RQ arrived within <see cref="DicomServerOptions.AssociationRequestTimeout"/>.</summary>
    public long RequestTimeoutCount => Interlocked.Read(ref _requestTimeouts);

    /// <summary>Binds the ports (0 picks a free one; see <see cref="Port"/>; a negative Port leaves the plain port off) and starts accepting.</summary>
    public void Start()
    {
        var ip = IPAddress.Parse(_options.BindAddress);
        if (_options.Port >= 0) Port = Listen(ip, _options.Port, tls: false);
        if (_certificate is not null) TlsPort = Listen(ip, _options.TlsPort, tls: true);
        if (Port != 0 && TlsPort != 0) Log.ListeningBoth(_log, _options.AETitle, ip, Port, TlsPort);
        else if (Port != 0) Log.ListeningPlain(_log, _options.AETitle, ip, Port);
        else Log.ListeningTlsOnly(_log, _options.AETitle, ip, TlsPort);
        if (!IPAddress.IsLoopback(ip) && _options.AllowedPeerAddresses.Count == 0 && _options.AllowedCallingAETitles.Count == 0 && _options.UserIdentity != UserIdentityMode.Required)
            Log.OpenToAnyone(_log, ip);
    }

    private int Listen(IPAddress ip, int port, bool tls)
    {
        var tcp = new TcpListener(ip, port);
        tcp.Start(512);
        var l = new Listener(tcp, tls, new SemaphoreSlim(_options.MaxConnections, _options.MaxConnections));
        _listeners.Add(l);
        _acceptLoops.Add(AcceptLoopAsync(l));
        return ((IPEndPoint)tcp.LocalEndpoint).Port;
    }

    private sealed record Listener(TcpListener Tcp, bool Tls, SemaphoreSlim Slots);

    /// <summary>One accepted connection while it has not sent a complete A-ASSOCIATE-RQ.</summary>
    private sealed class Connection(Listener listener, Socket socket, IPAddress peer, CancellationTokenSource evict, bool probation)
    {
        // 0: holds one of its port's connection slots; 1: holds none (given back, handed on, or never taken: probation).
        private int _slotReleased = probation ? 1 : 0;
        private int _talking;
        public Listener Listener { get; } = listener;
        public Socket Socket { get; } = socket;
        public IPAddress Peer { get; } = peer;
        public CancellationTokenSource Evict { get; } = evict;
        /// <summary>Gives the port's connection slot back, once (at eviction, or when the connection's task ends).</summary>
        public void ReleaseSlot()
        {
            if (Interlocked.Exchange(ref _slotReleased, 1) == 0) Listener.Slots.Release();
        }
        /// <summary>Hands this (evicted) connection's port slot to <paramref name="to"/> instead of giving it back, so
        /// no waiting accept can take it in between. False when it no longer held one.</summary>
        public bool HandSlotTo(Connection to)
        {
            if (to.Listener != Listener || Interlocked.Exchange(ref _slotReleased, 1) != 0) return false;
            Volatile.Write(ref to._slotReleased, 0);
            return true;
        }
        /// <summary>Marks a connection that now holds a slot it took from its port's semaphore.</summary>
        public void TookSlot() => Volatile.Write(ref _slotReleased, 0);
        public long OpenedAt { get; } = Environment.TickCount64;
        public LinkedListNode<Connection>? Node { get; set; }
        public bool Evicted { get; set; }
        /// <summary>Arrived while its peer was at its connection limit; counts for the peer only once promoted.</summary>
        public bool Probation { get; set; } = probation;
        /// <summary>Its first byte arrived (a TLS ClientHello or the A-ASSOCIATE-RQ).</summary>
        public bool Talking => Volatile.Read(ref _talking) == 1;
        public void MarkTalking() => Volatile.Write(ref _talking, 1);
        /// <summary>Nothing has arrived from the peer: not yet read, and nothing waiting in the socket. A real peer sends
        /// its request right after connecting, so only an idle socket is silent for long.</summary>
        public bool Silent
        {
            get
            {
                if (Talking) return false;
                try { return Socket.Available == 0; }
                catch (Exception e) when (e is ObjectDisposedException or SocketException) { return true; }
            }
        }
    }

    /// <summary>How long a connection on probation may stay silent. A real peer's A-ASSOCIATE-RQ (or TLS ClientHello)
    /// follows its connect within milliseconds.</summary>
    public static readonly TimeSpan ProbationWindow = TimeSpan.FromMilliseconds(EvictionGraceMs);

    /// <summary>
    /// Backpressure before accept: each port holds at most MaxConnections open connections. When they are all taken, the
    /// oldest silent one (nothing received yet) is closed to make room; when every one is talking, negotiating or established,
    /// the loop waits (new connections wait in the kernel's backlog). An association slot is taken only once a complete
    /// A-ASSOCIATE-RQ is in, so silent sockets never hold one.
    /// </summary>
    private async Task AcceptLoopAsync(Listener listener)
    {
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                // Full: make room by closing a connection that has had its chance, else wait (backpressure) and look
                // again as the pending connections age past their grace.
                while (!listener.Slots.Wait(0))
                {
                    EvictFromBusiestPeer(listener);
                    if (await listener.Slots.WaitAsync(TimeSpan.FromMilliseconds(EvictionGraceMs / 2), _stop.Token)) break;
                }
            }
            catch (OperationCanceledException) { return; }
            Socket socket;
            try { socket = await listener.Tcp.AcceptSocketAsync(_stop.Token); }
            // A slot given back by a connection that shutdown ended can wake this loop after StopAsync stopped the
            // listener, and accepting on a stopped TcpListener throws InvalidOperationException ("Not listening").
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException
                                      || (e is InvalidOperationException && _stop.IsCancellationRequested))
            {
                listener.Slots.Release();
                return;
            }
            catch (SocketException e)
            {
                listener.Slots.Release();
                Log.AcceptFailed(_log, e.SocketErrorCode);
                continue;
            }
            // A peer may have reset the connection before it was accepted: setting an option on it then fails, and that
            // connection alone is dropped; nothing here may end the accept loop.
            try { socket.NoDelay = true; }
            catch (Exception e) when (e is SocketException or ObjectDisposedException) { }
            Connection? connection;
            try { connection = Admit(listener, socket); }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                Log.AcceptFailed(_log, e is SocketException se ? se.SocketErrorCode : SocketError.Shutdown);
                connection = null;
            }
            Interlocked.Increment(ref _seen);
            if (connection is null)
            {
                CloseNow(socket);
                listener.Slots.Release();
                continue;
            }
            Interlocked.Increment(ref _open);
            // A connection on probation holds no port slot until it talks (PromoteAsync takes one then).
            if (connection.Probation) listener.Slots.Release();
            var task = Task.Run(async () =>
            {
                try
                {
                    if (connection.Probation && !await PromoteAsync(connection)) return;
                    await RunConnectionAsync(socket, connection);
                }
                finally
                {
                    Release(connection);
                    Interlocked.Decrement(ref _open);
                    connection.ReleaseSlot();
                }
            });
            lock (_associations) _associations.Add(task);
            _ = task.ContinueWith(t => { lock (_associations) _associations.Remove(t); }, TaskScheduler.Default);
        }
    }

    /// <summary>
    /// Decides at accept, before reading anything: a disallowed address is closed at once; a peer under its connection
    /// limit gets a connection; a peer at its limit has its oldest silent connection past its grace closed to make
    /// room; otherwise the new connection goes on probation (it waits for its first byte, then takes the
    /// place of one of its peer's silent connections: see PromoteAsync). An address that floods idle sockets therefore
    /// cannot shut out a real sender behind the same address, whose request follows its connect at once. Null: close it.
    /// </summary>
    private Connection? Admit(Listener listener, Socket socket)
    {
        if (socket.RemoteEndPoint is not IPEndPoint remote)
        {
            Interlocked.Increment(ref _refusedConnections);
            return null;
        }
        var peer = remote.Address.IsIPv4MappedToIPv6 ? remote.Address.MapToIPv4() : remote.Address;
        if (_allowedPeers.Length > 0 && !_allowedPeers.Any(r => r.Matches(peer)))
        {
            Refused(peer, "its address is not in AllowedPeerAddresses");
            return null;
        }
        lock (_gate)
        {
            _perPeer.TryGetValue(peer, out var count);
            if (count < _options.MaxConnectionsPerPeer || EvictOldestPendingLocked(p => p.Peer.Equals(peer)))
            {
                _perPeer[peer] = _perPeer.GetValueOrDefault(peer) + 1; // re-read: an eviction above uncounted one
                var c = new Connection(listener, socket, peer, CancellationTokenSource.CreateLinkedTokenSource(_stop.Token), probation: false);
                AddPendingLocked(c);
                return c;
            }
            // Probation. When it is full, the oldest silent connection on probation makes room (a newer arrival gets its
            // chance to talk); one that talks is never closed for this.
            if (_probation.Count >= ProbationCapacity)
            {
                var silent = _probation.FirstOrDefault(p => p.Silent);
                if (silent is null)
                {
                    Refused(peer, $"it has {count} connections open (MaxConnectionsPerPeer) and every connection on probation is talking");
                    return null;
                }
                CloseLocked(silent, releaseSlot: true);
            }
            var waiting = new Connection(listener, socket, peer, CancellationTokenSource.CreateLinkedTokenSource(_stop.Token), probation: true);
            waiting.Node = _probation.AddLast(waiting);
            return waiting;
        }
    }

    private void AddPendingLocked(Connection c)
    {
        c.Node = _pending.AddLast(c);
        _pendingPerPeer[c.Peer] = _pendingPerPeer.GetValueOrDefault(c.Peer) + 1;
    }

    /// <summary>
    /// A connection on probation waits up to <see cref="ProbationWindow"/> for its first byte, holding only its socket.
    /// Silent: it is closed. Talking: it takes the place of its peer's oldest silent connection (and that one's port
    /// slot), or gets a slot of its own if its peer has fallen under its limit meanwhile. When all of its peer's
    /// connections are talking, negotiating or established, it is closed: that is the per-peer limit doing its job.
    /// </summary>
    private async Task<bool> PromoteAsync(Connection c)
    {
        using (var window = CancellationTokenSource.CreateLinkedTokenSource(c.Evict.Token))
        {
            window.CancelAfter(ProbationWindow);
            try
            {
                // A zero-byte receive completes when data is there, without taking any of it (or any buffer).
                await c.Socket.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None, window.Token);
            }
            catch (OperationCanceledException)
            {
                if (!_stop.IsCancellationRequested && !c.Evicted)
                {
                    Interlocked.Increment(ref _evicted);
                    Log.ProbationEnded(_log, c.Peer);
                    ReportRefusals();
                }
                CloseNow(c.Socket);
                return false;
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                CloseNow(c.Socket);
                return false;
            }
        }
        // Readable with nothing to read is the peer's FIN: a connection that closes is not a sender to make room for.
        try
        {
            if (c.Socket.Available == 0)
            {
                CloseNow(c.Socket);
                return false;
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException) { return false; }
        c.MarkTalking();
        lock (_gate)
        {
            if (c.Evicted || c.Node is null || _stop.IsCancellationRequested)
            {
                CloseNow(c.Socket);
                return false;
            }
            var peerCount = _perPeer.GetValueOrDefault(c.Peer);
            // Its peer's oldest silent connection on the same port, young or old: this one has shown it is a real sender.
            var victim = peerCount < _options.MaxConnectionsPerPeer ? null
                : _pending.FirstOrDefault(p => p.Peer.Equals(c.Peer) && p.Listener == c.Listener && p.Silent);
            if (peerCount >= _options.MaxConnectionsPerPeer && victim is null)
            {
                RemoveProbationLocked(c);
                Refused(c.Peer, $"it has {peerCount} connections open (MaxConnectionsPerPeer), all of them talking, negotiating or established");
                CloseNow(c.Socket);
                return false;
            }
            if (victim is not null)
            {
                CloseLocked(victim, releaseSlot: false);
                if (!victim.HandSlotTo(c) && !TakeSlotLocked(c)) return RefuseFullPortLocked(c);
            }
            else if (!TakeSlotLocked(c)) return RefuseFullPortLocked(c);
            RemoveProbationLocked(c);
            c.Probation = false;
            _perPeer[c.Peer] = _perPeer.GetValueOrDefault(c.Peer) + 1;
            AddPendingLocked(c);
        }
        Interlocked.Increment(ref _promoted);
        return true;
    }

    /// <summary>A port slot for a promoted connection: a free one, or the one of the port's oldest connection without a
    /// request past its grace (from the busiest peer), handed over.</summary>
    private bool TakeSlotLocked(Connection c)
    {
        if (c.Listener.Slots.Wait(0))
        {
            c.TookSlot();
            return true;
        }
        var victim = OldestPendingFromBusiestPeerLocked(c.Listener);
        if (victim is null) return false;
        CloseLocked(victim, releaseSlot: false);
        if (victim.HandSlotTo(c)) return true;
        if (!c.Listener.Slots.Wait(0)) return false;
        c.TookSlot();
        return true;
    }

    private bool RefuseFullPortLocked(Connection c)
    {
        RemoveProbationLocked(c);
        Refused(c.Peer, "its port holds MaxConnections connections, all negotiating or established");
        CloseNow(c.Socket);
        return false;
    }

    private void RemoveProbationLocked(Connection c)
    {
        if (!c.Probation || c.Node is null) return;
        _probation.Remove(c.Node);
        c.Node = null;
    }

    /// <summary>The A-ASSOCIATE-RQ is in: the connection can no longer be closed to make room.</summary>
    private void Negotiating(Connection c)
    {
        lock (_gate) RemovePendingLocked(c);
    }

    private void Release(Connection c)
    {
        lock (_gate)
        {
            if (c.Probation) RemoveProbationLocked(c); // never counted for its peer
            else
            {
                RemovePendingLocked(c);
                if (!c.Evicted) Decrement(_perPeer, c.Peer);
            }
        }
        c.Evict.Dispose();
    }

    private void RemovePendingLocked(Connection c)
    {
        if (c.Node is null || c.Probation) return;
        _pending.Remove(c.Node);
        c.Node = null;
        Decrement(_pendingPerPeer, c.Peer);
    }

    private static void Decrement(Dictionary<IPAddress, int> counts, IPAddress peer)
    {
        if (!counts.TryGetValue(peer, out var n)) return;
        if (n <= 1) counts.Remove(peer);
        else counts[peer] = n - 1;
    }

    /// <summary>The port is full: close the oldest connection without an A-ASSOCIATE-RQ of the peer that has the most
    /// of them, so a flood from a few addresses pays for itself and a modality's lone fresh connection is spared.</summary>
    private void EvictFromBusiestPeer(Listener listener)
    {
        lock (_gate)
        {
            if (OldestPendingFromBusiestPeerLocked(listener) is { } victim) CloseLocked(victim, releaseSlot: true);
        }
    }

    private Connection? OldestPendingFromBusiestPeerLocked(Listener listener)
    {
        IPAddress? busiest = null;
        var most = 0;
        foreach (var (peer, n) in _pendingPerPeer)
            if (n > most) (busiest, most) = (peer, n);
        return (busiest is null ? null : OldestPendingLocked(c => c.Peer.Equals(busiest) && c.Listener == listener))
            ?? OldestPendingLocked(c => c.Listener == listener);
    }

    /// <summary>A connection this fresh is never closed to make room: a real peer's A-ASSOCIATE-RQ follows its connect
    /// within milliseconds, and must get the chance to be read even while a flood churns through the port.</summary>
    private const long EvictionGraceMs = 500;

    private bool EvictOldestPendingLocked(Func<Connection, bool> which)
    {
        if (OldestPendingLocked(which) is not { } c) return false;
        CloseLocked(c, releaseSlot: true);
        return true;
    }

    /// <summary>The oldest silent connection without a request that matches and has had its grace. One that has sent
    /// anything is never chosen, however old: its request may simply not have been read yet (a loaded machine, or one
    /// promoted from probation whose task has not run), and a half-sent request is the request timer's to close.</summary>
    private Connection? OldestPendingLocked(Func<Connection, bool> which)
    {
        var now = Environment.TickCount64;
        for (var n = _pending.First; n is not null; n = n.Next)
        {
            var c = n.Value;
            if (now - c.OpenedAt < EvictionGraceMs) return null; // oldest first: every later one is younger still
            if (which(c) && c.Silent) return c;
        }
        return null;
    }

    /// <summary>Closes a connection without a request (pending or on probation) to make room.</summary>
    private void CloseLocked(Connection c, bool releaseSlot)
    {
        if (c.Probation) RemoveProbationLocked(c);
        else
        {
            RemovePendingLocked(c);
            // It no longer counts for its peer from now on, though its socket closes a moment later: a peer opening
            // connections faster than they close cannot lock itself (or a modality behind the same address) out.
            Decrement(_perPeer, c.Peer);
        }
        // Closed here and now, and its port slot given back (or handed on), rather than when its task gets round to it.
        c.Evicted = true;
        Interlocked.Increment(ref _evicted);
        try { c.Evict.Cancel(); } catch (ObjectDisposedException) { }
        CloseNow(c.Socket);
        if (releaseSlot) c.ReleaseSlot();
        ReportRefusals();
    }

    private void Refused(IPAddress peer, string why)
    {
        Interlocked.Increment(ref _refusedConnections);
        Log.ConnectionRefused(_log, peer, why);
        ReportRefusals();
    }

    /// <summary>A flood is summed up in one warning a minute, not one line per socket.</summary>
    private void ReportRefusals()
    {
        var now = Environment.TickCount64;
        var last = Interlocked.Read(ref _lastRefusalReport);
        if (now - last < 60_000 || Interlocked.CompareExchange(ref _lastRefusalReport, now, last) != last) return;
        var total = RefusedConnectionCount + EvictedConnectionCount;
        var since = total - Interlocked.Exchange(ref _refusalsReported, total);
        if (since > 0) Log.ConnectionsShed(_log, since, RefusedConnectionCount, EvictedConnectionCount);
    }

    private static void CloseNow(Socket socket)
    {
        try
        {
            socket.LingerState = new LingerOption(true, 0); // RST: nothing of it stays behind (no TIME_WAIT)
            socket.Close();
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException) { }
    }

    /// <summary>The Sta2 timer: ARTIM, capped by the (shorter) association request timeout.</summary>
    private TimeSpan RequestTimeout => _options.ArtimTimeout < _options.AssociationRequestTimeout ? _options.ArtimTimeout : _options.AssociationRequestTimeout;

    private async Task RunConnectionAsync(Socket socket, Connection connection)
    {
        var remote = socket.RemoteEndPoint as IPEndPoint;
        var tls = connection.Listener.Tls;
        var ct = _stop.Token;
        Stream stream = new NetworkStream(socket, ownsSocket: true);
        UpperLayerConnection? conn = null;
        DicomAssociation? assoc = null;
        var counted = false;
        try
        {
            AssociationParameters rq;
            // Sta2: the TLS handshake and the whole A-ASSOCIATE-RQ must arrive within the short request timeout; until
            // then the connection holds no association slot and may be closed to make room for a newer one.
            var pendingToken = connection.Evict.Token;
            connection.Evict.CancelAfter(RequestTimeout);
            try
            {
                // Its first byte marks it as talking: from then on it is not a silent connection another may replace.
                if (!connection.Talking)
                {
                    await socket.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None, pendingToken);
                    connection.MarkTalking();
                }
                if (tls)
                {
                    var ssl = new SslStream(stream, false);
                    stream = ssl;
                    await ssl.AuthenticateAsServerAsync(TlsSupport.ServerOptions(_certificate!, _options.TlsRequireClientCertificate, _clientCa), pendingToken);
                }
                conn = new UpperLayerConnection(stream);
                // A P-DATA this early is refused by its length.
                var first = await conn.ReadAsync(16, Timeout.InfiniteTimeSpan, pendingToken);
                if (first.Type != PduType.AssociateRequest) throw new PduException($"{first.Type} before A-ASSOCIATE-RQ", 2);
                rq = PduCodec.DecodeAssociate(first.Body.Span, request: true);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                if (connection.Evicted) Log.Evicted(_log, remote);
                else
                {
                    Interlocked.Increment(ref _requestTimeouts);
                    Log.NoAssociateRequest(_log, remote, RequestTimeout.TotalSeconds, tls ? " (TLS)" : "");
                }
                CloseNow(socket);
                return;
            }
            Negotiating(connection);
            counted = true;
            var overLimit = Interlocked.Increment(ref _active) > _options.MaxAssociations;
            var result = _negotiator.Negotiate(rq, remote?.Address, overLimit);
            if (result.Reject is { } rj)
            {
                Interlocked.Increment(ref _rejected);
                Log.Rejected(_log, rq.CallingAE, remote, rq.CalledAE, rj, result.Why);
                await conn.SendAsync(PduCodec.EncodeAssociateReject(rj), ct);
                // Sta13: a rejected peer no longer negotiates, so it gives its association slot back before waiting
                // (briefly) for it to close; a peer that never closes must not hold a slot.
                Interlocked.Decrement(ref _active);
                counted = false;
                await conn.WaitForCloseAsync(RequestTimeout);
                return;
            }
            await conn.SendAsync(PduCodec.EncodeAssociateAccept(result.Accept!), ct);
            Interlocked.Increment(ref _accepted);
            assoc = new DicomAssociation(conn, rq, result.Accept!, isRequestor: false, _options.ArtimTimeout);
            Log.Associated(_log, rq.CallingAE, remote, tls ? " (TLS)" : "", result.Why);
            await ServeAsync(assoc, ct);
        }
        catch (PduException e)
        {
            Interlocked.Increment(ref _aborted);
            Log.Aborting(_log, remote, e.Message);
            if (assoc is not null) await assoc.AbortAsync(e.AbortReason, provider: true);
            else if (conn is not null) await conn.TrySendAbortAsync(2, e.AbortReason);
        }
        catch (TimeoutException e)
        {
            Interlocked.Increment(ref _aborted);
            Log.Aborting(_log, remote, e.Message);
            if (assoc is not null) await assoc.AbortAsync(0, provider: true);
            else if (conn is not null) await conn.TrySendAbortAsync(2, 0);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            if (assoc is not null) await assoc.AbortAsync();
        }
        catch (Exception e) when (e is IOException or SocketException or AuthenticationException or ObjectDisposedException)
        {
            if (!counted) Log.ConnectionEndedEarly(_log, remote, e.Message); // before any A-ASSOCIATE-RQ: a port probe, not an association
            else
            {
                Interlocked.Increment(ref _aborted);
                Log.ConnectionEnded(_log, remote, e.Message);
            }
        }
        catch (Exception e)
        {
            // Never let one association take the service down.
            Interlocked.Increment(ref _aborted);
            Log.AssociationFailed(_log, e, remote);
            if (assoc is not null) await assoc.AbortAsync(0, provider: true);
        }
        finally
        {
            if (counted) Interlocked.Decrement(ref _active);
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
        // An instance held in memory is filed after its answer, while the peer sends the next one: one filing at a time
        // per association (in order; at most two instances held), all done before the release is answered.
        var filings = new Filings(this, calling);
        try
        {
            while (true)
            {
                var ev = await assoc.ReceiveAsync(sinkFor, _options.IdleTimeout, ct);
                switch (ev)
                {
                    case ReleaseRequestedEvent:
                        await filings.DrainAsync();
                        await assoc.AnswerReleaseAsync(ct);
                        return;
                    case AbortedEvent a:
                        Interlocked.Increment(ref _aborted);
                        Log.PeerAborted(_log, calling, a.Abort);
                        return;
                    case DimseMessageEvent m:
                        await HandleAsync(assoc, m, filings, ct);
                        break;
                }
            }
        }
        finally
        {
            await filings.DrainAsync();
        }
    }

    /// <summary>One association's filings after answers, run one at a time in order.</summary>
    private sealed class Filings(DicomServer server, string calling)
    {
        private Task _last = Task.CompletedTask;

        public async Task AddAsync(Action file)
        {
            await _last;
            _last = Task.Run(() =>
            {
                try { file(); }
                catch (Exception e) { Log.FilingFailed(server._log, e, calling); } // the target reports and recovers its own failures
            });
        }

        public Task DrainAsync() => _last;
    }

    private async Task HandleAsync(DicomAssociation assoc, DimseMessageEvent m, Filings filings, CancellationToken ct)
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
                Action? after = null;
                if (m.Data is StoreSink sink)
                {
                    // The answer waits for the data to be on disk; shutdown must not cut that short.
                    var r = await _store.CompleteAsync(sink, cmd, m.Context, assoc.CallingAE, assoc.CalledAE, CancellationToken.None);
                    (status, comment, after) = (r.Status, r.Comment, r.AfterAnswer);
                }
                else (status, comment) = (DimseStatus.CannotUnderstand, "C-STORE-RQ without a dataset");
                if (status == DimseStatus.Success)
                    Log.Stored(_log, StoreScp.Quotable(cmd.AffectedSopInstanceUid), assoc.CallingAE);
                else
                    Log.StoreAnswered(_log, StoreScp.Quotable(cmd.AffectedSopInstanceUid), assoc.CallingAE, DimseStatus.Describe(status), comment);
                try
                {
                    await assoc.SendMessageAsync(m.Context, DimseCommand.Response(cmd, status, errorComment: comment), ReadOnlyMemory<byte>.Empty, ct);
                }
                catch when (after is not null)
                {
                    // The instance is durable whether or not the answer reached the peer: file it all the same.
                    await filings.AddAsync(after);
                    throw;
                }
                if (after is not null) await filings.AddAsync(after);
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
        foreach (var l in _listeners) l.Tcp.Stop();
        await Task.WhenAll(_acceptLoops);
        Task[] running;
        lock (_associations) running = _associations.ToArray();
        await Task.WhenAny(Task.WhenAll(running), Task.Delay(grace ?? TimeSpan.FromSeconds(10)));
    }

    public async ValueTask DisposeAsync() => await StopAsync();

    private static partial class Log
    {
        [LoggerMessage(LogLevel.Information, "DICOM SCP {AE} listening on {Address}:{Port}, TLS on {TlsPort}")]
        public static partial void ListeningBoth(ILogger log, string ae, IPAddress address, int port, int tlsPort);
        [LoggerMessage(LogLevel.Information, "DICOM SCP {AE} listening on {Address}:{Port}")]
        public static partial void ListeningPlain(ILogger log, string ae, IPAddress address, int port);
        [LoggerMessage(LogLevel.Information, "DICOM SCP {AE} listening on {Address}, TLS only on port {TlsPort} (plain port off)")]
        public static partial void ListeningTlsOnly(ILogger log, string ae, IPAddress address, int tlsPort);
        [LoggerMessage(LogLevel.Warning, "DICOM SCP listens on {Address} and accepts any peer and any calling AE title: set Dicom:AllowedPeerAddresses or Dicom:AllowedCallingAETitles (or Dicom:UserIdentity Required)")]
        public static partial void OpenToAnyone(ILogger log, IPAddress address);
        [LoggerMessage(LogLevel.Error, "Filing an instance from {Calling} after its answer failed")]
        public static partial void FilingFailed(ILogger log, Exception e, string calling);
        [LoggerMessage(LogLevel.Warning, "Accept failed: {Error}")]
        public static partial void AcceptFailed(ILogger log, SocketError error);
        [LoggerMessage(LogLevel.Debug, "Connection from {Peer} closed at once: {Why}")]
        public static partial void ConnectionRefused(ILogger log, IPAddress peer, string why);
        [LoggerMessage(LogLevel.Warning, "Shed {Count} connections in the last minute ({Refused} refused at accept, {Evicted} closed before their A-ASSOCIATE-RQ to make room, since start): a peer is opening connections it does not use")]
        public static partial void ConnectionsShed(ILogger log, long count, long refused, long evicted);
        [LoggerMessage(LogLevel.Debug, "Connection from {Peer} closed: its peer is at MaxConnectionsPerPeer and it sent nothing while on probation")]
        public static partial void ProbationEnded(ILogger log, IPAddress peer);
        [LoggerMessage(LogLevel.Debug, "Connection from {Peer} closed to make room: no A-ASSOCIATE-RQ yet")]
        public static partial void Evicted(ILogger log, IPEndPoint? peer);
        [LoggerMessage(LogLevel.Information, "Connection from {Peer}{Tls} closed: no complete A-ASSOCIATE-RQ within {Seconds} s")]
        public static partial void NoAssociateRequest(ILogger log, IPEndPoint? peer, double seconds, string tls);
        [LoggerMessage(LogLevel.Warning, "Rejected association from {Calling}@{Peer} to {Called}: {Reason} ({Why})")]
        public static partial void Rejected(ILogger log, string calling, IPEndPoint? peer, string called, AssociateReject reason, string why);
        [LoggerMessage(LogLevel.Information, "Association from {Calling}@{Peer}{Tls}: {Why}")]
        public static partial void Associated(ILogger log, string calling, IPEndPoint? peer, string tls, string why);
        [LoggerMessage(LogLevel.Warning, "Aborting association with {Peer}: {Error}")]
        public static partial void Aborting(ILogger log, IPEndPoint? peer, string error);
        [LoggerMessage(LogLevel.Information, "Connection from {Peer} ended: {Error}")]
        public static partial void ConnectionEnded(ILogger log, IPEndPoint? peer, string error);
        [LoggerMessage(LogLevel.Debug, "Connection from {Peer} ended before an A-ASSOCIATE-RQ: {Error}")]
        public static partial void ConnectionEndedEarly(ILogger log, IPEndPoint? peer, string error);
        [LoggerMessage(LogLevel.Error, "Association with {Peer} failed")]
        public static partial void AssociationFailed(ILogger log, Exception e, IPEndPoint? peer);
        [LoggerMessage(LogLevel.Information, "Association from {Calling} {Abort}")]
        public static partial void PeerAborted(ILogger log, string calling, AbortInfo abort);
        [LoggerMessage(LogLevel.Debug, "Stored {Sop} from {Calling}")]
        public static partial void Stored(ILogger log, string sop, string calling);
        [LoggerMessage(LogLevel.Warning, "C-STORE of {Sop} from {Calling} answered {Status}: {Comment}")]
        public static partial void StoreAnswered(ILogger log, string sop, string calling, string status, string? comment);
    }
}
