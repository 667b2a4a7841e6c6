using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;

namespace MedAiNode.Worker.Tests;

/// <summary>The medainode executable as an operator runs it.</summary>
public class CommandLineTests
{
    private static string Exe => Path.Combine(AppContext.BaseDirectory, "medainode.dll");

    private static ToolResult Medainode(params string[] args) => Tool.Run("dotnet", new[] { Exe }.Concat(args));

    /// <summary>The shipped runtime settings keep the memory benchmark's configuration: server GC, and the large-object
    /// heap compacted when fragmented (docs/benchmarks.md, "Where the peak is").</summary>
    [Fact]
    public void The_binary_ships_with_server_gc_and_conserve_memory()
    {
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "medainode.runtimeconfig.json")))!;
        var properties = json["runtimeOptions"]!["configProperties"]!;
        Assert.True(properties["System.GC.Server"]!.GetValue<bool>());
        Assert.Equal(9, properties["System.GC.ConserveMemory"]!.GetValue<int>());
    }

    /// <summary>A second service started on a root a node already uses stops at once with a message naming the key,
    /// before its store creates or replays anything there.</summary>
    [Fact]
    public async Task Serve_on_a_store_root_another_process_holds_exits_3_naming_the_key()
    {
        var root = TestData.TempDir("serve-locked");
        using var holder = await LockHolder.StartAsync(Path.Combine(root, MedAiNode.Store.StoreRootLock.FileName), TimeSpan.FromSeconds(60));
        // A generous limit that only catches a serve that did not stop (it would run until killed).
        var r = Tool.Run("dotnet", [Exe, "serve", $"--Store:Root={root}", "--Dicom:Port=-1", $"--Http:Urls=http://127.0.0.1:{TestData.FreePort()}",
            "--Models:Enabled:0=none-needed"], timeoutMs: 120_000);
        Assert.Equal(3, r.ExitCode);
        Assert.Contains($"medainode: Store:Root {root} is in use by another MedAiNode process", r.StdErr);
        Assert.False(Directory.Exists(Path.Combine(root, "journal")), "the refused node created its journal");
        Assert.False(Directory.Exists(Path.Combine(root, "studies")), "the refused node created its study tree");
    }

    [Fact]
    public void Dump_prints_a_tree_with_keywords_and_values()
    {
        var r = Medainode("dump", TestData.Path_("seg-sr", "highdicom", "ct_image.dcm"));
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("(0002,0010) UI [1.2.840.10008.1.2.1]", r.StdOut);
        Assert.Contains("(0028,0010) US [128]  # 2, Rows", r.StdOut);
        Assert.Contains("(7FE0,0010) OW (32768 bytes)", r.StdOut);
        Assert.Contains("# Dataset (Explicit VR Little Endian)", r.StdOut);
        Assert.Contains("PixelData", r.StdOut);
    }

    [Fact]
    public void Dump_json_is_dicom_json_with_pixel_data_as_bulk_data_uri()
    {
        var path = TestData.Path_("ct", "philips-phantom-5mm", "I10.dcm");
        var r = Medainode("dump", path, "--json");
        Assert.Equal(0, r.ExitCode);
        var json = JsonNode.Parse(r.StdOut)!;
        Assert.Equal("CT", json["00080060"]!["Value"]![0]!.GetValue<string>());
        Assert.EndsWith("#7FE00010", json["7FE00010"]!["BulkDataURI"]!.GetValue<string>());
        Assert.Null(json["7FE00010"]!["InlineBinary"]);
    }

    [Fact]
    public void Dump_of_a_bad_file_fails_with_a_clear_message()
    {
        var bad = Path.Combine(TestData.TempDir("cli"), "bad.dcm");
        File.WriteAllBytes(bad, File.ReadAllBytes(TestData.Path_("seg-sr", "highdicom", "ct_image.dcm"))[..700]);
        var r = Medainode("dump", bad);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("bad.dcm", r.StdErr);
        Assert.Contains("offset", r.StdErr);
    }

    [Fact]
    public async Task Serve_answers_health_and_refuses_bad_configuration_naming_the_key()
    {
        var bad = Medainode("serve", "--Dicom:UidRoot=1.2.03");
        Assert.Equal(3, bad.ExitCode);
        Assert.Contains("Dicom:UidRoot", bad.StdErr);

        var port = FreePort();
        var psi = new System.Diagnostics.ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(Exe);
        psi.ArgumentList.Add($"--Http:Urls=http://127.0.0.1:{port}");
        psi.ArgumentList.Add($"--Dicom:Port={FreePort()}");
        psi.Environment[MedAiNode.Store.NodeDataHome.StateDirectoryVariable] = TestData.TempDir("cli-serve"); // its data home, not the user's
        using var p = System.Diagnostics.Process.Start(psi)!;
        // Its output is read as it comes (a full pipe would stall the service) and kept for the failure message.
        var output = new System.Text.StringBuilder();
        p.OutputDataReceived += (_, e) => { lock (output) output.AppendLine(e.Data); };
        p.ErrorDataReceived += (_, e) => { lock (output) output.AppendLine(e.Data); };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        try
        {
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
            // Waits on the condition: live, or the process gone. The cap is only against a hang; on a loaded machine
            // the start (models loaded and warmed up) has taken over 20 s.
            var started = System.Diagnostics.Stopwatch.StartNew();
            while (!p.HasExited && started.Elapsed < TimeSpan.FromMinutes(5))
            {
                try
                {
                    var body = await http.GetStringAsync($"http://127.0.0.1:{port}/health/live");
                    Assert.Contains("live", body);
                    return;
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
                {
                    await Task.Delay(200);
                }
            }
            lock (output) Assert.Fail($"service did not answer /health/live ({(p.HasExited ? $"it exited {p.ExitCode}" : "5 min")}); its output:\n{output}");
        }
        finally
        {
            if (!p.HasExited) p.Kill(true);
            p.WaitForExit();
            TestData.RemoveDiagnosticsSocket(p.Id);
        }
    }

    private static int FreePort() => TestData.FreePort();
}
