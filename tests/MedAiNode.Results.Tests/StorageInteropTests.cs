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
    private static int FreePort() => TestData.FreePort();

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

    [Fact]
    public async Task Orthanc_stores_seg_and_sr_and_serves_them_over_dicomweb()
    {
        var dir = TestData.TempDir("orthanc");
        var w = RealSeriesTests.WriteFor("totalseg-abdomen-j2k", false, dir);
        var db = Path.Combine(dir, "db");
        Directory.CreateDirectory(db);
        int http = FreePort(), dicom = FreePort();
        var config = Path.Combine(dir, "orthanc.json");
        File.WriteAllText(config, $$"""
            { "Name": "TestPACS", "StorageDirectory": "{{db}}", "IndexDirectory": "{{db}}",
              "HttpPort": {{http}}, "DicomPort": {{dicom}}, "DicomAet": "ORTHANC", "RemoteAccessAllowed": false,
              "AuthenticationEnabled": false, "DicomCheckCalledAet": false,
              "Plugins": ["/usr/share/orthanc/plugins/libOrthancDicomWeb.so"], "DicomWeb": { "Enable": true, "Root": "/dicom-web/" } }
            """);
        var psi = new ProcessStartInfo("Orthanc") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(config);
        psi.Environment["TCP_NODELAY"] = "1";
        Process orthanc;
        try { orthanc = Process.Start(psi)!; }
        catch (System.ComponentModel.Win32Exception e) { throw new InvalidOperationException("Orthanc is not installed (apt packages orthanc, orthanc-dicomweb).", e); }
        using (orthanc)
        using (var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{http}/"), Timeout = TimeSpan.FromSeconds(20) })
        {
            try
            {
                _ = orthanc.StandardOutput.ReadToEndAsync();
                var log = orthanc.StandardError.ReadToEndAsync();
                for (var i = 0; ; i++)
                {
                    try { if ((await client.GetAsync("system")).IsSuccessStatusCode) break; }
                    catch (HttpRequestException) { }
                    Assert.True(i < 100 && !orthanc.HasExited, "Orthanc did not start");
                    await Task.Delay(100);
                }
                var send = Tool.Run("storescu", ["-R", "-aet", "MEDAINODE", "-aec", "ORTHANC", "127.0.0.1", dicom.ToString(), w.SegPath, w.SrPath]);
                Assert.True(send.ExitCode == 0, $"storescu to Orthanc failed:\n{send.StdErr}");

                var study = w.Source.StudyInstanceUid;
                var series = System.Text.Json.JsonDocument.Parse(await client.GetStringAsync($"dicom-web/studies/{study}/series")).RootElement;
                var modalities = series.EnumerateArray().Select(s => s.GetProperty("00080060").GetProperty("Value")[0].GetString()!).Order().ToArray();
                Assert.Equal(["SEG", "SR"], modalities);
                var meta = System.Text.Json.JsonDocument.Parse(await client.GetStringAsync(
                    $"dicom-web/studies/{study}/series/{w.Seg.SeriesInstanceUid}/instances/{w.Seg.SopInstanceUid}/metadata")).RootElement[0];
                Assert.Equal(w.Seg.Frames.Count.ToString(), meta.GetProperty("00280008").GetProperty("Value")[0].ToString());
                Assert.Equal(3, meta.GetProperty("00620002").GetProperty("Value").GetArrayLength()); // Segment Sequence
            }
            finally
            {
                if (!orthanc.HasExited) orthanc.Kill();
                orthanc.WaitForExit();
            }
        }
    }
}
