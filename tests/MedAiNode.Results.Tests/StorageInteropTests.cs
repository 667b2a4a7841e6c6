using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using MedAiNode.Dicom;
using MedAiNode.Dicom.IO;
using MedAiNode.Results.Segmentation;

namespace MedAiNode.Results.Tests;

/// <summary>A real Storage SCP (DCMTK storescp) accepts our SEG and SR as sent by DCMTK storescu, and stores them intact.
/// storescu needs -R (propose the files' own SOP classes): its built-in proposal list has no Segmentation Storage.</summary>
public class StorageInteropTests
{
    private static int FreePort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        var port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }

    [Fact]
    public void Dcmtk_storage_scp_accepts_seg_and_sr()
    {
        var dir = TestData.TempDir("store");
        var w = RealSeriesTests.WriteFor("ge-head-tilt-varspacing", true, dir);
        var received = Path.Combine(dir, "received");
        Directory.CreateDirectory(received);
        var port = FreePort();
        var psi = new ProcessStartInfo("storescp") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "-aet", "TEST_PACS", "-od", received, "+B", port.ToString() }) psi.ArgumentList.Add(a);
        psi.Environment["TCP_NODELAY"] = "1";
        using var scp = Process.Start(psi)!;
        try
        {
            var stdout = scp.StandardOutput.ReadToEndAsync();
            var stderr = scp.StandardError.ReadToEndAsync();
            ToolResult? send = null;
            for (var attempt = 0; attempt < 50; attempt++)
            {
                Thread.Sleep(100); // storescp needs a moment to listen
                send = Tool.Run("storescu", ["-R", "-aet", "MEDAINODE", "-aec", "TEST_PACS", "127.0.0.1", port.ToString(), w.SegPath, w.SrPath]);
                if (send.ExitCode == 0 || !send.StdErr.Contains("Association Request Failed", StringComparison.Ordinal)) break;
            }
            Assert.True(send!.ExitCode == 0, $"storescu failed:\n{send.StdErr}\n{send.StdOut}");
            Assert.DoesNotContain("Refused", send.StdErr + send.StdOut);
            Assert.DoesNotContain("E:", send.StdErr);
        }
        finally
        {
            scp.Kill();
            scp.WaitForExit();
        }
        var files = Directory.GetFiles(received);
        Assert.Equal(2, files.Length);
        var got = files.Select(f => DicomFile.Open(f)).ToDictionary(f => f.Dataset.GetString(DicomTags.SOPClassUID)!);
        Assert.Equal(w.Seg.SopInstanceUid, got[DicomUids.SegmentationStorage].Dataset.GetString(DicomTags.SOPInstanceUID));
        Assert.Equal(w.Sr.SopInstanceUid, got[DicomUids.Comprehensive3DSRStorage].Dataset.GetString(DicomTags.SOPInstanceUID));
        // the stored SEG still decodes to the same mask
        var back = SegmentationReader.Read(got[DicomUids.SegmentationStorage], w.Source);
        foreach (var img in w.Source.Images)
            Assert.Equal(w.Labels.TryGet(img.SopInstanceUid, out var l) ? l.ToArray() : new byte[512 * 512], back.GetLabels(img.SopInstanceUid));
    }
}
