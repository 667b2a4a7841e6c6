using System.Buffers.Binary;
using System.Text;
using MedAiNode.Dicom.IO;
using MedAiNode.Dicom.Network.Dimse;
using MedAiNode.Dicom.Network.Services;
using MedAiNode.Dicom.Network.UpperLayer;
using Microsoft.Extensions.Logging;

namespace MedAiNode.Dicom.Network.Tests;

/// <summary>Every log line the SCP writes, formatted, kept for a test to search.</summary>
public sealed class CapturingLogger : ILogger
{
    private readonly List<string> _lines = new();
    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
    public bool IsEnabled(LogLevel logLevel) => true;
    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        lock (_lines) _lines.Add($"{logLevel}: {formatter(state, exception)}{(exception is null ? "" : " " + exception)}");
    }
    public string Text { get { lock (_lines) return string.Join("\n", _lines); } }
}

/// <summary>One bad instance is answered with a failure status; the association goes on, and no status or log quotes
/// the dataset (issue 16, F1 and F6).</summary>
public class StoreStatusTests
{
    private static string PhantomFile(int i) => Directory.GetFiles(TestData.Path_("ct", "philips-phantom-5mm"), "*.dcm").Order().ElementAt(i);

    [Theory]
    [InlineData(true)]  // the last component gets a leading zero
    [InlineData(false)] // the first component longer than one digit gets one
    public async Task A_bad_sop_instance_uid_is_answered_and_the_next_file_is_stored(bool last)
    {
        await using var scp = new TestScp();
        var dir = TestData.TempDir("f1");
        var bad = Path.Combine(dir, "bad.dcm");
        // The data layer refuses to write such a UID, so the file's bytes are patched (same length: meta and dataset).
        var uid = DicomFile.Open(PhantomFile(0)).Dataset.GetString(DicomTags.SOPInstanceUID)!;
        var parts = uid.Split('.');
        var i = last ? parts.Length - 1 : Array.FindIndex(parts, p => p.Length > 1);
        Assert.True(parts[i].Length > 1);
        parts[i] = "0" + parts[i][1..];
        var badUid = string.Join('.', parts);
        var bytes = File.ReadAllBytes(PhantomFile(0));
        var from = Encoding.ASCII.GetBytes(uid);
        var to = Encoding.ASCII.GetBytes(badUid);
        var replaced = 0;
        for (var at = bytes.AsSpan().IndexOf(from); at >= 0; replaced++)
        {
            to.CopyTo(bytes, at);
            var next = bytes.AsSpan(at + 1).IndexOf(from);
            at = next < 0 ? -1 : at + 1 + next;
        }
        Assert.True(replaced >= 2, $"{replaced} copies of the UID patched");
        File.WriteAllBytes(bad, bytes);
        var good = PhantomFile(1);
        var r = Tool.Run("storescu", ["-v", "-nh", "-aec", "MEDAI", "-aet", "MODALITY", "127.0.0.1", scp.PortText, bad, good]); // -nh: go on after a failure
        var output = r.StdErr + r.StdOut;
        Assert.DoesNotContain("Peer aborted", output);
        Assert.DoesNotContain("Broken pipe", output, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("Received Store Response (Error: CannotUnderstand)", output);
        Assert.Contains("Received Store Response (Success)", output);
        Assert.True(scp.StoredFiles().Length == 1, output);
        var stored = scp.StoredFiles()[0];
        Assert.Equal(DicomFile.Open(good).Dataset.GetString(DicomTags.SOPInstanceUID), DicomFile.Open(stored).Dataset.GetString(DicomTags.SOPInstanceUID));
        Assert.True(scp.Server.AbortedCount == 0, output);
        Assert.Empty(scp.IncomingFiles());
        Assert.Equal(1, scp.Server.AcceptedCount); // both files on one association
    }

    private static byte[] Element(ushort group, ushort element, ReadOnlySpan<byte> value, int? declaredLength = null)
    {
        var b = new byte[8 + value.Length];
        BinaryPrimitives.WriteUInt16LittleEndian(b, group);
        BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(2), element);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(4), (uint)(declaredLength ?? value.Length));
        value.CopyTo(b.AsSpan(8));
        return b;
    }

    [Fact]
    public async Task A_sop_instance_uid_that_swallows_the_patient_name_is_never_quoted()
    {
        const string secret = "SECRETSURNAME^JOHANNA";
        const string secretId = "PID7733991";
        var log = new CapturingLogger();
        var root = TestData.TempDir("f6");
        var target = new FolderStoreTarget(root, fsync: false);
        var options = new DicomServerOptions { AETitle = "MEDAI", BindAddress = "127.0.0.1", Port = 0, ArtimTimeout = TimeSpan.FromSeconds(5) };
        await using var server = new DicomServer(options, target, log);
        server.Start();

        // Implicit VR little endian: (0008,0018) declares a length that takes in the Patient's Name and ID after it.
        var uid = Encoding.ASCII.GetBytes("1.2.3.4.5.6\0");
        var name = Element(0x0010, 0x0010, Encoding.ASCII.GetBytes(secret + " "));
        var id = Element(0x0010, 0x0020, Encoding.ASCII.GetBytes(secretId));
        var ds = new List<byte>();
        ds.AddRange(Element(0x0008, 0x0016, Encoding.ASCII.GetBytes(DicomUids.CTImageStorage + (DicomUids.CTImageStorage.Length % 2 == 1 ? "\0" : ""))));
        ds.AddRange(Element(0x0008, 0x0018, uid, uid.Length + name.Length + id.Length));
        ds.AddRange(uid);
        ds.AddRange(name);
        ds.AddRange(id);
        ds.AddRange(Element(0x0020, 0x000D, Encoding.ASCII.GetBytes("1.2.3.9\0")));
        ds.AddRange(Element(0x0020, 0x000E, Encoding.ASCII.GetBytes("1.2.3.10")));

        using var peer = RawPeer.Connect(server.Port);
        peer.Send(PduCodec.EncodeAssociateRequest(RawPeer.Request()));
        Assert.Equal(2, peer.Read()!.Value.Type);
        peer.Send(RawPeer.PData(3, true, true, RawPeer.StoreCommand("1.2.3.4.5.6")));
        peer.Send(RawPeer.PData(3, false, true, ds.ToArray()));
        var rsp = peer.Read()!.Value;
        Assert.Equal(4, rsp.Type);
        var cmd = DimseCommand.Decode(rsp.Body.AsSpan(6));
        Assert.True(DimseStatus.IsFailure(cmd.Status), $"status 0x{cmd.Status:X4}");
        Assert.DoesNotContain("SECRET", cmd.ErrorComment ?? "", StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain(secretId, cmd.ErrorComment ?? "");
        // The association goes on.
        peer.Send(RawPeer.PData(1, true, true, RawPeer.EchoCommand()));
        Assert.Equal(DimseStatus.Success, DimseCommand.Decode(peer.Read()!.Value.Body.AsSpan(6)).Status);
        await server.StopAsync();
        Assert.Contains("C-STORE", log.Text);
        Assert.DoesNotContain("SECRET", log.Text, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain(secretId, log.Text);
        Assert.DoesNotContain("JOHANNA", log.Text, StringComparison.OrdinalIgnoreCase);
        try { Directory.Delete(root, true); } catch (IOException) { }
    }
}
