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
            try
            {
                s.Bind(new IPEndPoint(from, 0));
                await s.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), ct);
                Interlocked.Increment(ref _connects);
                if (firstBytes is not null) await s.SendAsync(firstBytes, ct);
                while (await s.ReceiveAsync(buf, ct) > 0) { }
                Interlocked.Increment(ref _closedByServer);
            }
            catch (OperationCanceledException) { return; }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionReset)
            {
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

    public static TheoryData<string> Floods => new() { "other-host-reconnecting", "many-hosts", "tls-port-reconnecting" };

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
            // Idle sockets from the sender's own address hold its per-peer quota while they are younger than the grace
            // a fresh connection gets (0.5 s); after that the sender's connection takes the oldest one's place.
            if (flood == "same-host") await WaitUntil(() => scp.Server.PendingPastGrace, TimeSpan.FromSeconds(30), () => "pending connections still in their grace");
            var sw = Stopwatch.StartNew();
            var r = await Storescu(scp.Port, timeoutSeconds: 30);
            sw.Stop();
            output.WriteLine($"{flood}: storescu {sw.Elapsed.TotalSeconds:0.00} s; idle connects {idle.Connects}, closed by the server {idle.ClosedByServer}, " +
                             $"connect failures {idle.ConnectFailures}; server: open {scp.Server.OpenConnections}, pending {scp.Server.PendingConnections}, " +
                             $"refused {scp.Server.RefusedConnectionCount}, evicted {scp.Server.EvictedConnectionCount}, request timeouts {scp.Server.RequestTimeoutCount}");
            Assert.True(r.ExitCode == 0, $"storescu failed during the {flood} flood after {sw.Elapsed}: {r.StdErr}{r.StdOut}");
            Assert.Single(scp.StoredFiles());
            Assert.Equal(0, scp.Server.RejectedCount);
            Assert.True(scp.Server.OpenConnections <= 2 * scp.Options.MaxConnections);
        }
        // Every idle connection is gone once the flood stops; nothing leaks.
        await WaitUntil(() => scp.Server.OpenConnections == 0 && scp.Server.PendingConnections == 0, TimeSpan.FromSeconds(60),
            () => $"{scp.Server.OpenConnections} connections still open");
        Assert.Equal(0, scp.Server.ActiveAssociations);
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
}
