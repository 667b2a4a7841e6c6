using System.Diagnostics;
using System.Net.Sockets;
using MedAiNode.Dicom.Network.Client;
using MedAiNode.Dicom.Network.Dimse;
using MedAiNode.Dicom.Network.UpperLayer;

namespace MedAiNode.Dicom.Network.Tests;

/// <summary>Random and mutated PDUs at the SCP for a bounded time; afterwards it must still answer C-ECHO and hold no partial files.</summary>
public class FuzzTests
{
    [Fact]
    public async Task RandomAndMutatedPdus_ScpSurvives_AndStillAnswersEcho()
    {
        await using var scp = new TestScp(o =>
        {
            o.ArtimTimeout = TimeSpan.FromMilliseconds(300);
            o.IdleTimeout = TimeSpan.FromMilliseconds(300);
            o.MaxPduLength = 16384;
        });
        var seed = Environment.TickCount;
        var sent = 0;
        // At least 4 s and at least 200 PDUs: on a loaded machine the same time sends far fewer (give up after 2 min).
        var duration = TimeSpan.FromSeconds(4);
        const int MinimumPdus = 200;
        var workers = Enumerable.Range(0, 4).Select(w => Task.Run(async () =>
        {
            var rng = new Random(seed + w);
            var sw = Stopwatch.StartNew();
            while ((sw.Elapsed < duration || Volatile.Read(ref sent) < MinimumPdus) && sw.Elapsed < TimeSpan.FromMinutes(2))
            {
                try
                {
                    using var c = new TcpClient { NoDelay = true };
                    await c.ConnectAsync("127.0.0.1", scp.Port);
                    var s = c.GetStream();
                    foreach (var pdu in Sequence(rng))
                    {
                        await s.WriteAsync(pdu);
                        Interlocked.Increment(ref sent);
                    }
                    // Read whatever comes back for a moment, then drop the connection (sometimes abruptly).
                    using var cts = new CancellationTokenSource(rng.Next(5, 60));
                    var buf = new byte[4096];
                    try { while (await s.ReadAsync(buf, cts.Token) > 0) { } }
                    catch (OperationCanceledException) { }
                    if (rng.Next(3) == 0) c.Client.LingerState = new LingerOption(true, 0);
                }
                catch (IOException) { }
                catch (SocketException) { }
            }
        })).ToArray();
        await Task.WhenAll(workers);
        Assert.True(sent >= MinimumPdus, $"only {sent} PDUs sent in 2 minutes (seed {seed})");

        await using (var a = await DicomClient.ConnectAsync(new DicomClientOptions { Port = scp.Port, CalledAE = "MEDAI" }, [DicomClient.Context(1, DicomUids.Verification)]))
            Assert.Equal(DimseStatus.Success, await a.EchoAsync());
        var r = Tool.Run("echoscu", ["-aec", "MEDAI", "127.0.0.1", scp.PortText]);
        Assert.True(r.ExitCode == 0, $"seed {seed}: {r.StdErr}");
        var sw2 = Stopwatch.StartNew();
        while ((scp.IncomingFiles().Length > 0 || scp.Server.ActiveAssociations > 0) && sw2.ElapsedMilliseconds < 5000) await Task.Delay(50);
        Assert.Empty(scp.IncomingFiles());
        Assert.Equal(0, scp.Server.ActiveAssociations);
    }

    private static IEnumerable<byte[]> Sequence(Random rng)
    {
        var rq = PduCodec.EncodeAssociateRequest(RawPeer.Request());
        switch (rng.Next(6))
        {
            case 0: // pure noise
                yield return RandomBytes(rng, rng.Next(1, 300));
                break;
            case 1: // a mutated A-ASSOCIATE-RQ
                yield return Mutate(rng, rq);
                break;
            case 2: // a random PDU type with a random (possibly huge) length
            {
                var b = RandomBytes(rng, rng.Next(6, 80));
                b[0] = (byte)rng.Next(0, 10);
                yield return b;
                break;
            }
            default: // a valid association, then mutated or out-of-state PDUs
                yield return rq;
                var store = RawPeer.PData(3, true, true, RawPeer.StoreCommand("1.2.3." + rng.Next(1000)));
                var data = RawPeer.PData(3, false, rng.Next(2) == 0, RandomBytes(rng, rng.Next(0, 2000)));
                var candidates = new[]
                {
                    store, data, RawPeer.PData(1, true, true, RawPeer.EchoCommand()),
                    PduCodec.EncodeReleaseRequest(), PduCodec.EncodeReleaseResponse(), PduCodec.EncodeAbort(0, 0), rq,
                    PduCodec.EncodeAssociateReject(AssociateReject.NoReasonGiven),
                };
                for (var i = rng.Next(1, 6); i > 0; i--)
                {
                    var pick = candidates[rng.Next(candidates.Length)];
                    yield return rng.Next(3) == 0 ? Mutate(rng, pick) : pick;
                }
                break;
        }
    }

    private static byte[] RandomBytes(Random rng, int n)
    {
        var b = new byte[n];
        rng.NextBytes(b);
        return b;
    }

    private static byte[] Mutate(Random rng, byte[] src)
    {
        var b = (byte[])src.Clone();
        switch (rng.Next(4))
        {
            case 0: // flip some bytes
                for (var i = rng.Next(1, 8); i > 0; i--) b[rng.Next(b.Length)] = (byte)rng.Next(256);
                return b;
            case 1: // truncate
                return b[..rng.Next(1, b.Length)];
            case 2: // lie about the PDU length
                b[2] = (byte)rng.Next(256);
                b[5] = (byte)rng.Next(256);
                return b;
            default: // extend with garbage
                return [.. b, .. RandomBytes(rng, rng.Next(1, 100))];
        }
    }
}
