using System.Buffers.Binary;
using System.Net.Sockets;
using MedAiNode.Dicom.Network.Dimse;
using MedAiNode.Dicom.Network.UpperLayer;

namespace MedAiNode.Dicom.Network.Tests;

/// <summary>A hand-driven peer that writes exactly the bytes a test wants, well-formed or not.</summary>
public sealed class RawPeer : IDisposable
{
    private readonly TcpClient _client = new() { NoDelay = true };
    public NetworkStream Stream { get; }

    private RawPeer(int port, System.Net.IPAddress? from = null)
    {
        // Linux routes all of 127.0.0.0/8 to loopback: binding 127.0.0.x makes this peer "another host".
        if (from is not null) _client.Client.Bind(new System.Net.IPEndPoint(from, 0));
        _client.Connect("127.0.0.1", port);
        Stream = _client.GetStream();
    }

    public static RawPeer Connect(int port) => new(port);

    public static RawPeer Connect(int port, System.Net.IPAddress from) => new(port, from);

    public static AssociationParameters Request(string called = "MEDAI", params PresentationContext[] pcs)
    {
        var rq = new AssociationParameters { CalledAE = called, CallingAE = "RAW", MaxPduLength = 16384, ImplementationClassUid = "1.2.3.4" };
        if (pcs.Length == 0) pcs = [new PresentationContext(1, DicomUids.Verification, [DicomUids.ImplicitVRLittleEndian]), new PresentationContext(3, DicomUids.CTImageStorage, [DicomUids.ImplicitVRLittleEndian])];
        rq.PresentationContexts.AddRange(pcs);
        return rq;
    }

    public void Send(byte[] bytes) => Stream.Write(bytes);

    /// <summary>Reads one PDU: (type, body). Null when the connection closed; throws on timeout.</summary>
    public (byte Type, byte[] Body)? Read(int timeoutMs = 5000)
    {
        Stream.ReadTimeout = timeoutMs;
        var head = new byte[6];
        if (!ReadExactly(head)) return null;
        var len = BinaryPrimitives.ReadUInt32BigEndian(head.AsSpan(2));
        var body = new byte[len];
        if (!ReadExactly(body)) return null;
        return (head[0], body);
    }

    private bool ReadExactly(byte[] buf)
    {
        var done = 0;
        while (done < buf.Length)
        {
            int n;
            try { n = Stream.Read(buf, done, buf.Length - done); }
            catch (IOException e) when (e.InnerException is SocketException { SocketErrorCode: SocketError.ConnectionReset }) { return false; }
            if (n == 0) return false;
            done += n;
        }
        return true;
    }

    /// <summary>True when the peer closed the connection within the time (reading and dropping anything it sends).</summary>
    public bool WaitClosed(int timeoutMs)
    {
        Stream.ReadTimeout = timeoutMs;
        var buf = new byte[4096];
        try
        {
            while (Stream.Read(buf) > 0) { }
            return true;
        }
        catch (IOException e) when (e.InnerException is SocketException { SocketErrorCode: SocketError.ConnectionReset }) { return true; }
        catch (IOException) { return false; }
    }

    public static byte[] PData(byte pcId, bool command, bool last, ReadOnlySpan<byte> data)
    {
        var pdu = new byte[12 + data.Length];
        pdu[0] = 4;
        BinaryPrimitives.WriteUInt32BigEndian(pdu.AsSpan(2), (uint)(6 + data.Length));
        BinaryPrimitives.WriteUInt32BigEndian(pdu.AsSpan(6), (uint)(2 + data.Length));
        pdu[10] = pcId;
        pdu[11] = (byte)((command ? 1 : 0) | (last ? 2 : 0));
        data.CopyTo(pdu.AsSpan(12));
        return pdu;
    }

    public static byte[] StoreCommand(string sop) =>
        DimseCommand.Request(CommandField.CStoreRequest, 7, DicomUids.CTImageStorage, true).Also(c => c.Dataset.Add(new DicomElement(DicomTags.AffectedSOPInstanceUID, DicomVR.UI, System.Text.Encoding.ASCII.GetBytes(sop.Length % 2 == 1 ? sop + "\0" : sop)))).Encode();

    public static byte[] EchoCommand() => DimseCommand.Request(CommandField.CEchoRequest, 1, DicomUids.Verification, false).Encode();

    public void Dispose() => _client.Dispose();
}

internal static class Extensions
{
    public static T Also<T>(this T t, Action<T> a)
    {
        a(t);
        return t;
    }
}
