using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using MedAiNode.Dicom.Network.UpperLayer;
using Xunit.Abstractions;

namespace MedAiNode.Dicom.Network.Tests;

/// <summary>
/// Sockets that connect and say nothing (or half an A-ASSOCIATE-RQ) from one or many addresses, on either port. Linux
/// routes all of 127.0.0.0/8 to loopback, so a test can be "another host" by binding its sockets to 127.0.0.x.
/// </summary>
public sealed class IdleFlood : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _tasks = new();
    private long _connects, _closedByServer, _connectFailures;

    /// <param name="reconnect">Each socket connects again as soon as the server closes it, as an attacker would.</param>
    /// <param name="firstBytes">What each socket sends after connecting (nothing: an idle socket).</param>
    public IdleFlood(int port, int sockets, Func<int, IPAddress> source, bool reconnect, byte[]? firstBytes = null)
    {
        for (var i = 0; i < sockets; i++)
        {
            var from = source(i);
            var stagger = TimeSpan.FromMilliseconds(i); // 1,000 SYNs over a second, not at once: the flood, not a backlog overflow
            _tasks.Add(Task.Run(async () =>
            {
                try { await Task.Delay(stagger, _stop.Token); } catch (OperationCanceledException) { return; }
                await HoldAsync(port, from, reconnect, firstBytes);
            }));
        }
    }

    public long Connects => Interlocked.Read(ref _connects);
    public long ClosedByServer => Interlocked.Read(ref _closedByServer);
    public long ConnectFailures => Interlocked.Read(ref _connectFailures);

    private async Task HoldAsync(int port, IPAddress from, bool reconnect, byte[]? firstBytes)
    {
        var buf = new byte[64];
        var ct = _stop.Token;
        do
        {
            using var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            var connected = false;
            try
            {
                s.Bind(new IPEndPoint(from, 0));
                await s.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), ct);
                connected = true;
                Interlocked.Increment(ref _connects);
                if (firstBytes is not null) await s.SendAsync(firstBytes, ct);
                while (await s.ReceiveAsync(buf, ct) > 0) { }
                Interlocked.Increment(ref _closedByServer);
            }
            catch (OperationCanceledException) { return; }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionReset)
            {
                // On a loaded machine the server can accept and reset a connection before this side has seen its
                // connect complete: ConnectAsync then fails with a reset. The server took it, so it counts as a connect.
                if (!connected) Interlocked.Increment(ref _connects);
                Interlocked.Increment(ref _closedByServer);
            }
            catch (SocketException)
            {
                Interlocked.Increment(ref _connectFailures);
                try { await Task.Delay(10, ct); } catch (OperationCanceledException) { return; }
            }
        } while (reconnect && !ct.IsCancellationRequested);
        try { await Task.Delay(Timeout.Infinite, ct); } catch (OperationCanceledException) { }
    }

    public async Task WaitForConnectsAsync(long count, TimeSpan timeout)
    {
        var sw = Stopwatch.StartNew();
        while (Connects < count)
        {
            if (sw.Elapsed > timeout) throw new TimeoutException($"only {Connects} of {count} idle sockets connected within {timeout} ({ConnectFailures} connect failures)");
            await Task.Delay(20);
        }
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        await Task.WhenAll(_tasks).WaitAsync(TimeSpan.FromSeconds(60));
        _stop.Dispose();
    }
}

/// <summary>Admission at the SCP: idle and half-sent connections must never lock out real senders (issue 16, F2 and F3).</summary>
public class AdmissionTests(ITestOutputHelper output)
{
    private static string OneFile => Directory.GetFiles(TestData.Path_("ct", "philips-phantom-5mm"), "*.dcm").Order().First();

    private static async Task WaitUntil(Func<bool> condition, TimeSpan timeout, Func<string> what)
    {
        var sw = Stopwatch.StartNew();
        while (!condition())
        {
            if (sw.Elapsed > timeout) throw new TimeoutException($"{what()} after {timeout}");
            await Task.Delay(20);
        }
    }

    /// <summary>storescu with its own timeouts (connect, ACSE, DIMSE): it must store within them.</summary>
    private static Task<ToolResult> Storescu(int port, int timeoutSeconds = 60) =>
        Task.Run(() => Tool.Run("storescu", ["-to", timeoutSeconds.ToString(), "-ta", timeoutSeconds.ToString(), "-td", timeoutSeconds.ToString(),
            "-aet", "MODALITY", "-aec", "MEDAI", "127.0.0.1", port.ToString(), OneFile], timeoutMs: (timeoutSeconds * 3 + 30) * 1000));

    public static TheoryData<string> Floods => new() { "other-host-reconnecting", "many-hosts", "tls-port-reconnecting", "same-host", "same-host-reconnecting" };

    [Theory]
    [MemberData(nameof(Floods))]
    public async Task A_thousand_idle_connections_do_not_stop_storescu(string flood)
    {
        var pki = flood.StartsWith("tls") ? new TestPki("flood") : null;
        await using var scp = new TestScp(o =>
        {
            o.AssociationRequestTimeout = TimeSpan.FromSeconds(10);
            if (pki is not null) (o.TlsPort, o.TlsCertificatePath, o.TlsKeyPath) = (TestData.FreePort(), pki.ServerCertPath, pki.ServerKeyPath);
        });
        if (pki is not null) Assert.NotEqual(0, scp.Server.TlsPort);
        const int sockets = 1000;
        await using (var idle = flood switch
        {
            "other-host-reconnecting" => new IdleFlood(scp.Port, sockets, _ => IPAddress.Parse("127.0.0.2"), reconnect: true),
            "many-hosts" => new IdleFlood(scp.Port, sockets, i => IPAddress.Parse($"127.0.1.{1 + i % 250}"), reconnect: false),
            "same-host" => new IdleFlood(scp.Port, sockets, _ => IPAddress.Loopback, reconnect: false),
            "same-host-reconnecting" => new IdleFlood(scp.Port, sockets, _ => IPAddress.Loopback, reconnect: true),
            _ => new IdleFlood(scp.Server.TlsPort, sockets, _ => IPAddress.Parse("127.0.0.3"), reconnect: true),
        })
        {
            // A burst of 1,000 SYNs on a loaded machine can overflow the backlog; a few then wait for a SYN retry.
            await idle.WaitForConnectsAsync(sockets * 98 / 100, TimeSpan.FromSeconds(120));
            // From the sender's own address, the idle sockets hold its whole per-peer quota: storescu's connection
            // takes the place of a silent one (on probation, or by eviction; see below).
            var sw = Stopwatch.StartNew();
            var r = await Storescu(scp.Port, timeoutSeconds: 30);
            sw.Stop();
            output.WriteLine($"{flood}: storescu {sw.Elapsed.TotalSeconds:0.00} s; idle connects {idle.Connects}, closed by the server {idle.ClosedByServer}, " +
                             $"connect failures {idle.ConnectFailures}; server: open {scp.Server.OpenConnections}, pending {scp.Server.PendingConnections}, " +
                             $"refused {scp.Server.RefusedConnectionCount}, evicted {scp.Server.EvictedConnectionCount}, request timeouts {scp.Server.RequestTimeoutCount}, " +
                             $"on probation {scp.Server.ProbationConnections}, promoted {scp.Server.PromotedCount}");
            Assert.True(r.ExitCode == 0, $"storescu failed during the {flood} flood after {sw.Elapsed}: {r.StdErr}{r.StdOut}");
            Assert.Single(scp.StoredFiles());
            Assert.Equal(0, scp.Server.RejectedCount);
            // What a flood can hold is bounded: connections that may read (each port's MaxConnections) and sockets on
            // probation. (OpenConnections also counts closed sockets whose tasks have not yet run to their end.)
            Assert.True(scp.Server.PendingConnections <= 2 * scp.Options.MaxConnections, $"{scp.Server.PendingConnections} pending");
            Assert.True(scp.Server.ProbationConnections <= scp.Server.ProbationCapacity, $"{scp.Server.ProbationConnections} on probation");
            // Which way storescu's connection got in is the machine's timing, not a rule: on probation when its address's
            // idle sockets are all within their grace, by evicting one that is past it otherwise (seen under load:
            // promoted 0, storescu stored). A_talking_connection_replaces_a_fresh_silent_one_of_its_own_address shows
            // the probation path round by round.
        }
        // Every idle connection is gone once the flood stops; nothing leaks.
        await WaitUntil(() => scp.Server.OpenConnections == 0 && scp.Server.PendingConnections == 0, TimeSpan.FromSeconds(60),
            () => $"{scp.Server.OpenConnections} connections still open");
        Assert.Equal(0, scp.Server.ActiveAssociations);
    }

    /// <summary>C-ECHO over a raw association from <paramref name="from"/> (DCMTK's tools cannot choose their source
    /// address): true when it is accepted and answered Success.</summary>
    private static bool RawEcho(int port, IPAddress from, out string why)
    {
        try
        {
            using var peer = RawPeer.Connect(port, from);
            peer.Send(PduCodec.EncodeAssociateRequest(RawPeer.Request()));
            var ac = peer.Read(30_000);
            if (ac?.Type != 2) { why = ac is null ? "closed before A-ASSOCIATE-AC" : $"PDU type {ac.Value.Type} instead of A-ASSOCIATE-AC"; return false; }
            peer.Send(RawPeer.PData(1, true, true, RawPeer.EchoCommand()));
            var rsp = peer.Read(30_000);
            var status = rsp is null ? (ushort?)null : Dimse.DimseCommand.Decode(rsp.Value.Body.AsSpan(6)).Status;
            why = $"C-ECHO status {status?.ToString("X4") ?? "(none)"}";
            return status == 0;
        }
        catch (Exception e) when (e is IOException or SocketException)
        {
            why = e.Message;
            return false;
        }
    }

    /// <summary>
    /// Issue 16 F2, the case left open last time: one address opens 200 idle sockets (far past its per-peer limit of
    /// 16). Another address associates at once; a real sender behind the flooding address (echoscu, storescu) does too,
    /// while the idle sockets are still open (a connection that talks replaces a silent one of its own peer; the
    /// reconnecting variant, where every idle socket is always fresh, is in the theory above); and once the request
    /// timer has closed the idle ones, nothing of them is left and the address associates as before. Bounds are generous (a loaded
    /// machine): the tools' own 30 s timeouts, and conditions waited on rather than fixed sleeps.
    /// </summary>
    [Fact]
    public async Task Idle_sockets_from_one_address_shut_out_neither_another_address_nor_a_real_sender_behind_it()
    {
        var log = new CapturingLogger();
        await using var scp = new TestScp(o => o.AssociationRequestTimeout = TimeSpan.FromSeconds(10), log: log);
        const int sockets = 200;
        await using (var idle = new IdleFlood(scp.Port, sockets, _ => IPAddress.Loopback, reconnect: false))
        {
            try { await idle.WaitForConnectsAsync(sockets * 98 / 100, TimeSpan.FromSeconds(120)); }
            catch (TimeoutException e)
            {
                throw new TimeoutException($"{e.Message}; server: open {scp.Server.OpenConnections}, pending {scp.Server.PendingConnections}, " +
                    $"on probation {scp.Server.ProbationConnections}, refused {scp.Server.RefusedConnectionCount}, evicted {scp.Server.EvictedConnectionCount}", e);
            }
            await WaitUntil(() => scp.Server.PendingConnections >= scp.Options.MaxConnectionsPerPeer, TimeSpan.FromSeconds(30),
                () => $"{scp.Server.PendingConnections} idle connections held");

            var sw = Stopwatch.StartNew();
            Assert.True(RawEcho(scp.Port, IPAddress.Parse("127.0.0.2"), out var why), $"C-ECHO from 127.0.0.2 during the flood: {why}");
            var echo = Tool.Run("echoscu", ["-to", "30", "-ta", "30", "-td", "30", "-aec", "MEDAI", "127.0.0.1", scp.PortText]);
            Assert.True(echo.ExitCode == 0, $"echoscu from the flooding address: {echo.StdErr}{echo.StdOut}; server: open {scp.Server.OpenConnections}, pending " +
                $"{scp.Server.PendingConnections}, on probation {scp.Server.ProbationConnections}, promoted {scp.Server.PromotedCount}, refused {scp.Server.RefusedConnectionCount}, " +
                $"closed without a request {scp.Server.EvictedConnectionCount}, aborted {scp.Server.AbortedCount}\n" +
                string.Join("\n", log.Text.Split('\n').Where(l => !l.Contains("closed: its peer is at")).TakeLast(40)));
            var store = await Storescu(scp.Port, timeoutSeconds: 30);
            Assert.True(store.ExitCode == 0, $"storescu from the flooding address: {store.StdErr}{store.StdOut}");
            output.WriteLine($"during the flood: echo from .2, echoscu and storescu from .1 in {sw.Elapsed.TotalSeconds:0.00} s; promoted {scp.Server.PromotedCount}, " +
                             $"refused {scp.Server.RefusedConnectionCount}, closed without a request {scp.Server.EvictedConnectionCount}");
            Assert.Single(scp.StoredFiles());

            // The idle ones are closed by the request timer (10 s), however many there were; the address is clean again.
            // Waited on together: the flood's client side counts a socket connected once the kernel has completed it, so
            // on a loaded machine a few are accepted late, and one admitted on probation is listed there an instant
            // before it counts as open (seen once under 2 busy loops: open 0, probation 1).
            await WaitUntil(() => scp.Server.OpenConnections == 0 && scp.Server.ProbationConnections == 0 && scp.Server.PendingConnections == 0,
                TimeSpan.FromSeconds(60),
                () => $"{scp.Server.OpenConnections} connections still open, {scp.Server.ProbationConnections} on probation, {scp.Server.PendingConnections} without a request");
            var after = Tool.Run("echoscu", ["-to", "30", "-ta", "30", "-td", "30", "-aec", "MEDAI", "127.0.0.1", scp.PortText]);
            Assert.True(after.ExitCode == 0, $"echoscu after the idle sockets timed out: {after.StdErr}{after.StdOut}");
        }
        // Waited on: echoscu exits once it has the release answer, and the server's count drops a moment later, when its
        // side of the release has finished (seen once on a quiet machine: still 1 at once). A leak still fails here.
        await WaitUntil(() => scp.Server.ActiveAssociations == 0, TimeSpan.FromSeconds(30), () => $"{scp.Server.ActiveAssociations} associations still active");
        Assert.Equal(0, scp.Server.RejectedCount);
    }

    /// <summary>The probation path itself: the peer's limit is held by fresh idle sockets (inside their grace, so none
    /// may simply be closed for a newcomer); a connection that talks takes the place of one of them. A round in which
    /// the talking connection arrived only after the grace (a loaded machine; seen in CI) may instead close the older
    /// socket at once, which is also right; the probation path must then be shown by another round.</summary>
    [Fact]
    public async Task A_talking_connection_replaces_a_fresh_silent_one_of_its_own_address()
    {
        var log = new CapturingLogger();
        await using var scp = new TestScp(o => o.MaxConnectionsPerPeer = 2, log: log);
        var withinGrace = 0;
        for (var round = 0; round < 30 && withinGrace < 5; round++)
        {
            // Started before the first socket connects: the server's clock for that socket starts later still, so a round
            // that ends within the grace had the talking connection accepted while both idle ones were inside theirs.
            var sw = Stopwatch.StartNew();
            using var a = RawPeer.Connect(scp.Port);
            using var b = RawPeer.Connect(scp.Port);
            await WaitUntil(() => scp.Server.PendingConnections == 2, TimeSpan.FromSeconds(30), () => $"{scp.Server.PendingConnections} pending");
            var (promoted, evicted) = (scp.Server.PromotedCount, scp.Server.EvictedConnectionCount);
            Assert.True(RawEcho(scp.Port, IPAddress.Loopback, out var why), $"round {round}: {why}\n{log.Text}");
            if (sw.Elapsed < Services.DicomServer.ProbationWindow)
            {
                withinGrace++;
                Assert.Equal(promoted + 1, scp.Server.PromotedCount);
            }
            else Assert.True(scp.Server.PromotedCount == promoted + 1 || scp.Server.EvictedConnectionCount > evicted, $"round {round}: neither promoted nor evicted");
            Assert.True(a.WaitClosed(10_000), "the older idle socket was not closed for the talking one");
            b.Dispose();
            await WaitUntil(() => scp.Server.OpenConnections == 0, TimeSpan.FromSeconds(30), () => $"{scp.Server.OpenConnections} open");
        }
        Assert.True(withinGrace > 0, "no round of 30 got its talking connection in within the grace: the probation path was not exercised");
    }

    /// <summary>
    /// A connection that has sent (part of) its A-ASSOCIATE-RQ is never closed to make room, however old: under load
    /// the server may not have read a request that is already there. Seen under 2 busy loops: storescu, promoted from
    /// probation during a same-address flood, was closed as "the oldest connection past its grace" before its request
    /// was read ("Peer aborted Association"). Here the request is held back half-sent, so it stays unread.
    /// </summary>
    [Fact]
    public async Task A_connection_that_has_sent_part_of_its_request_is_never_closed_to_make_room()
    {
        var log = new CapturingLogger();
        await using var scp = new TestScp(o =>
        {
            o.MaxConnectionsPerPeer = 4;
            o.AssociationRequestTimeout = TimeSpan.FromSeconds(120);
        }, log: log);
        var rq = PduCodec.EncodeAssociateRequest(RawPeer.Request());
        using var talker = RawPeer.Connect(scp.Port);
        talker.Send(rq[..(rq.Length / 2)]);
        await WaitUntil(() => scp.Server.PendingConnections == 1, TimeSpan.FromSeconds(30), () => $"{scp.Server.PendingConnections} pending");
        // Three idle sockets fill the address's quota with it; then all four age past their grace.
        var idle = Enumerable.Range(0, 3).Select(_ => RawPeer.Connect(scp.Port)).ToList();
        await WaitUntil(() => scp.Server.PendingConnections == 4, TimeSpan.FromSeconds(30), () => $"{scp.Server.PendingConnections} pending");
        await WaitUntil(() => scp.Server.PendingPastGrace, TimeSpan.FromSeconds(30), () => "the pending connections never aged past their grace");
        // Four newcomers from the same address: the three idle ones make room; the talker is the oldest and must not.
        var newcomers = Enumerable.Range(0, 4).Select(_ => RawPeer.Connect(scp.Port)).ToList();
        await WaitUntil(() => scp.Server.ConnectionsSeen == 8, TimeSpan.FromSeconds(30), () => $"{scp.Server.ConnectionsSeen} of 8 seen");
        Assert.All(idle, s => Assert.True(s.WaitClosed(30_000), "an idle socket past its grace was not closed for a newcomer"));
        talker.Send(rq[(rq.Length / 2)..]);
        var ac = talker.Read(30_000);
        Assert.True(ac?.Type == 2, $"the half-sent request's connection got {(ac is null ? "closed" : $"PDU type {ac.Value.Type}")} instead of A-ASSOCIATE-AC; evicted {scp.Server.EvictedConnectionCount}\n{log.Text}");
        foreach (var s in idle.Concat(newcomers)) s.Dispose();
    }

    /// <summary>A connection on probation gets its whole window to send its first byte (a slow real peer on a loaded
    /// machine must not lose the race), and is closed soon after when it stays silent.</summary>
    [Fact]
    public async Task A_silent_connection_on_probation_gets_its_window_and_is_then_closed()
    {
        await using var scp = new TestScp(o => o.MaxConnectionsPerPeer = 1);
        // A round whose newcomer was accepted after the held one's grace (a loaded machine) closes the held one at accept,
        // which is right too, but shows nothing about probation: that round is started again.
        for (var round = 0; ; round++)
        {
            Assert.True(round < 30, "no round of 30 put the newcomer on probation");
            var seen = scp.Server.ConnectionsSeen;
            using var held = RawPeer.Connect(scp.Port);
            await WaitUntil(() => scp.Server.ConnectionsSeen == seen + 1 && scp.Server.PendingConnections == 1, TimeSpan.FromSeconds(30),
                () => $"{scp.Server.PendingConnections} pending");
            var evicted = scp.Server.EvictedConnectionCount;
            var sw = Stopwatch.StartNew();
            using var waiting = RawPeer.Connect(scp.Port);
            await WaitUntil(() => scp.Server.ConnectionsSeen == seen + 2, TimeSpan.FromSeconds(30), () => $"{scp.Server.ConnectionsSeen - seen} of 2 seen");
            if (scp.Server.EvictedConnectionCount > evicted)
            {
                waiting.Dispose();
                await WaitUntil(() => scp.Server.OpenConnections == 0, TimeSpan.FromSeconds(30), () => $"{scp.Server.OpenConnections} open");
                continue;
            }
            Assert.Equal(1, scp.Server.ProbationConnections);
            Assert.True(waiting.WaitClosed(30_000), "a silent connection on probation was never closed");
            var closedAfter = sw.Elapsed;
            output.WriteLine($"round {round}: closed after {closedAfter.TotalMilliseconds:0} ms (window {Services.DicomServer.ProbationWindow.TotalMilliseconds:0} ms)");
            Assert.True(closedAfter >= Services.DicomServer.ProbationWindow - TimeSpan.FromMilliseconds(50), $"closed after {closedAfter.TotalMilliseconds:0} ms, before its window");
            Assert.Equal(TimeSpan.FromMilliseconds(500), Services.DicomServer.ProbationWindow);
            Assert.Equal(1, scp.Server.PendingConnections); // the one it would have replaced is still there
            return;
        }
    }

    /// <summary>A connection on probation that closes (FIN) without sending anything is not talking: it does not
    /// displace its peer's connection.</summary>
    [Fact]
    public async Task A_connection_on_probation_that_closes_displaces_nothing()
    {
        await using var scp = new TestScp(o => o.MaxConnectionsPerPeer = 1);
        using var held = RawPeer.Connect(scp.Port);
        await WaitUntil(() => scp.Server.PendingConnections == 1, TimeSpan.FromSeconds(30), () => $"{scp.Server.PendingConnections} pending");
        // Right away, while the held one is inside its grace: the newcomer goes on probation, then closes.
        using (var closing = new TcpClient())
        {
            closing.Connect(IPAddress.Loopback, scp.Port);
            closing.Client.Shutdown(SocketShutdown.Send);
            // Seen first: before the server has accepted it, "none on probation" is already true, and an eviction it
            // makes at accept (the held one past its grace on a slow machine) would land after the count is read below.
            await WaitUntil(() => scp.Server.ConnectionsSeen == 2 && scp.Server.ProbationConnections == 0 && scp.Server.OpenConnections <= 1,
                TimeSpan.FromSeconds(30),
                () => $"{scp.Server.ConnectionsSeen} seen, {scp.Server.ProbationConnections} on probation, {scp.Server.OpenConnections} open");
        }
        Assert.Equal(0, scp.Server.PromotedCount);
        // (Past its grace the held one may be replaced by any newcomer, the rule for idle sockets; inside it, it stays.)
        if (scp.Server.EvictedConnectionCount == 0) Assert.False(held.WaitClosed(200), "the held connection was closed for one that only closed");
    }

    [Fact]
    public async Task Idle_connections_never_take_an_association_slot()
    {
        await using var scp = new TestScp(o => o.MaxAssociations = 1);
        await using var idle = new IdleFlood(scp.Port, 40, i => IPAddress.Parse($"127.0.2.{1 + i}"), reconnect: false);
        await idle.WaitForConnectsAsync(40, TimeSpan.FromSeconds(60));
        await WaitUntil(() => scp.Server.PendingConnections == 40, TimeSpan.FromSeconds(30), () => $"{scp.Server.PendingConnections} pending");
        Assert.Equal(0, scp.Server.ActiveAssociations);
        var r = Tool.Run("echoscu", ["-to", "30", "-ta", "30", "-aec", "MEDAI", "127.0.0.1", scp.PortText]);
        Assert.True(r.ExitCode == 0, r.StdErr + r.StdOut);
    }

    [Fact]
    public async Task Disallowed_addresses_are_closed_at_once_and_take_no_slot()
    {
        await using var scp = new TestScp(o => { o.AllowedPeerAddresses = ["127.0.0.1"]; o.MaxConnections = 32; o.MaxAssociations = 2; });
        await using var idle = new IdleFlood(scp.Port, 200, _ => IPAddress.Parse("127.0.0.9"), reconnect: true);
        await WaitUntil(() => idle.ClosedByServer >= 200, TimeSpan.FromSeconds(60), () => $"{idle.ClosedByServer} of 200 closed");
        Assert.Equal(0, scp.Server.PendingConnections);
        Assert.Equal(0, scp.Server.ActiveAssociations);
        var r = await Storescu(scp.Port, timeoutSeconds: 30);
        Assert.True(r.ExitCode == 0, r.StdErr + r.StdOut);
        Assert.True(scp.Server.RefusedConnectionCount >= 200);
        Assert.Equal(0, scp.Server.RejectedCount);
    }

    [Fact]
    public async Task A_silent_connection_is_closed_by_the_short_request_timer()
    {
        await using var scp = new TestScp(o => o.AssociationRequestTimeout = TimeSpan.FromSeconds(1));
        using var silent = RawPeer.Connect(scp.Port);
        var sw = Stopwatch.StartNew();
        Assert.True(silent.WaitClosed(30_000), "the server kept a silent connection open");
        output.WriteLine($"closed after {sw.Elapsed.TotalSeconds:0.00} s");
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(scp.Options.ArtimTimeout.TotalSeconds), $"closed after {sw.Elapsed}, not by the 1 s request timer");
        await WaitUntil(() => scp.Server.RequestTimeoutCount == 1, TimeSpan.FromSeconds(10), () => $"{scp.Server.RequestTimeoutCount} timeouts");
    }

    private static byte[] HalfRequest(int declared, int sent)
    {
        var b = new byte[6 + sent];
        b[0] = 1;
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(2), (uint)declared);
        return b;
    }

    private static long ManagedBytes()
    {
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        return GC.GetTotalMemory(forceFullCollection: true);
    }

    [Fact]
    public async Task Half_sent_association_requests_cost_only_what_was_sent_and_are_closed_and_released()
    {
        const int n = 200;
        await using var scp = new TestScp(o =>
        {
            (o.MaxConnections, o.MaxConnectionsPerPeer) = (1000, 1000);
            o.AssociationRequestTimeout = TimeSpan.FromSeconds(4);
        });
        var before = ManagedBytes();

        // A header that declares the largest A-ASSOCIATE-RQ allowed, then 100 bytes: no buffer of the declared size.
        long declaredOnly;
        await using (var claim = new IdleFlood(scp.Port, n, _ => IPAddress.Parse("127.0.0.4"), reconnect: false, HalfRequest(UpperLayerConnection.MaxAssociatePduLength, 100)))
        {
            await claim.WaitForConnectsAsync(n, TimeSpan.FromSeconds(60));
            await WaitUntil(() => scp.Server.PendingConnections == n, TimeSpan.FromSeconds(30), () => $"{scp.Server.PendingConnections} pending");
            declaredOnly = ManagedBytes() - before;
            await WaitUntil(() => claim.ClosedByServer == n, TimeSpan.FromSeconds(60), () => $"{claim.ClosedByServer} of {n} closed");
        }

        // The whole request but one byte: what was sent is held (bounded by MaxConnections x 256 KiB) until the request
        // timer closes the connection, and then given back.
        long fullHeld;
        var sw = Stopwatch.StartNew();
        await using (var almost = new IdleFlood(scp.Port, n, _ => IPAddress.Parse("127.0.0.5"), reconnect: false,
                         HalfRequest(UpperLayerConnection.MaxAssociatePduLength, UpperLayerConnection.MaxAssociatePduLength - 1)))
        {
            await almost.WaitForConnectsAsync(n, TimeSpan.FromSeconds(60));
            await WaitUntil(() => scp.Server.PendingConnections == n, TimeSpan.FromSeconds(30), () => $"{scp.Server.PendingConnections} pending");
            fullHeld = ManagedBytes() - before;
            await WaitUntil(() => almost.ClosedByServer == n, TimeSpan.FromSeconds(60), () => $"{almost.ClosedByServer} of {n} closed");
        }
        var closedAfter = sw.Elapsed;
        await WaitUntil(() => scp.Server.OpenConnections == 0, TimeSpan.FromSeconds(30), () => $"{scp.Server.OpenConnections} open");
        var after = ManagedBytes() - before;
        output.WriteLine($"managed heap growth: {declaredOnly / 1048576.0:0.0} MiB with {n} declared-only requests, {fullHeld / 1048576.0:0.0} MiB with {n} " +
                         $"almost-complete ones, {after / 1048576.0:0.0} MiB after they were closed ({closedAfter.TotalSeconds:0.0} s)");
        Assert.True(declaredOnly < 16 << 20, $"{declaredOnly >> 20} MiB held for {n} requests that sent 100 bytes each");
        Assert.True(after < 16 << 20, $"{after >> 20} MiB still held after every connection was closed");
        Assert.True(scp.Server.RequestTimeoutCount >= 2 * n);
        Assert.Equal(0, scp.Server.ActiveAssociations);
    }

    [Fact]
    public async Task An_association_request_over_the_cap_is_aborted_at_its_header()
    {
        await using var scp = new TestScp();
        using var peer = RawPeer.Connect(scp.Port);
        peer.Send(HalfRequest(UpperLayerConnection.MaxAssociatePduLength + 1, 10));
        var pdu = peer.Read(10_000);
        Assert.Equal(7, pdu!.Value.Type);
        Assert.Equal(6, pdu.Value.Body[3]);
    }

    [Fact]
    public async Task An_scp_open_to_anyone_says_so_and_the_default_is_loopback()
    {
        Assert.Equal("127.0.0.1", new Services.DicomServerOptions().BindAddress);
        var log = new CapturingLogger();
        var root = TestData.TempDir("open");
        await using (var open = new Services.DicomServer(new Services.DicomServerOptions { AETitle = "MEDAI", BindAddress = "0.0.0.0", Port = 0 }, new FolderStoreTarget(root), log))
            open.Start();
        Assert.Contains("accepts any peer and any calling AE title", log.Text);
        var quiet = new CapturingLogger();
        await using (var listed = new Services.DicomServer(new Services.DicomServerOptions { AETitle = "MEDAI", BindAddress = "0.0.0.0", Port = 0, AllowedPeerAddresses = ["10.0.0.0/8"] }, new FolderStoreTarget(root), quiet))
            listed.Start();
        Assert.DoesNotContain("accepts any peer", quiet.Text);
    }
    /// <summary>The server stops while its accept loop is between two connections, or has just been woken by a slot
    /// that a closing connection gave back: accepting on the stopped listener throws "Not listening", which must end the
    /// loop quietly rather than fail the shutdown (seen in CI with the server full of idle sockets).</summary>
    [Fact]
    public async Task Stopping_while_connections_keep_arriving_ends_cleanly()
    {
        for (var cycle = 0; cycle < 300; cycle++)
        {
            await using var scp = new TestScp(o => { o.MaxAssociations = 1; o.MaxConnections = 2; }, name: "stop-race");
            using var stopConnecting = new CancellationTokenSource();
            var connects = 0;
            var connectors = Enumerable.Range(0, 4).Select(_ => Task.Run(async () =>
            {
                var buf = new byte[16];
                while (!stopConnecting.IsCancellationRequested)
                {
                    using var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                    try
                    {
                        await s.ConnectAsync(new IPEndPoint(IPAddress.Loopback, scp.Port), stopConnecting.Token);
                        Interlocked.Increment(ref connects);
                        while (await s.ReceiveAsync(buf, stopConnecting.Token) > 0) { }
                    }
                    catch (Exception e) when (e is SocketException or OperationCanceledException) { }
                }
            })).ToArray();
            try
            {
                await WaitUntil(() => Volatile.Read(ref connects) >= 4, TimeSpan.FromSeconds(30), () => $"{connects} connects");
                Assert.Null(await Record.ExceptionAsync(() => scp.Server.StopAsync()));
            }
            finally
            {
                // The connectors stop whatever happened above; the server is disposed (stopped, if it was not) after them.
                stopConnecting.Cancel();
                await Task.WhenAll(connectors);
            }
        }
    }
}
