using System.CommandLine;
using System.Diagnostics;
using System.Text;
using MedAiNode.Dicom;
using MedAiNode.DicomWeb.Configuration;
using MedAiNode.DicomWeb.Qido;
using MedAiNode.DicomWeb.Tests.Support;
using MedAiNode.Worker.Commands;
using Xunit.Abstractions;

namespace MedAiNode.DicomWeb.Tests.Unit;

/// <summary>Issue 16 F5, F7, F8, F9: a PACS (or something in front of it) that sends endless, trickling, truncated or
/// malformed answers. A raw HTTP server on loopback plays it; every case must end, with an error naming the setting.</summary>
public sealed class HostileServerTests(ITestOutputHelper output)
{
    private const string Study = "1.2.826.0.1.3680043.8.498.1";
    private const string StudyJson = "{\"0020000D\":{\"vr\":\"UI\",\"Value\":[\"1.2.826.0.1.3680043.8.498.1\"]}}";

    private static DicomWebPacsOptions Opts(string url)
    {
        var o = Synthetic.Pacs(url, "hostile");
        o.MaxRetries = 0;
        o.ReadIdleTimeout = TimeSpan.FromSeconds(3);
        o.MinReadBytesPerSecond = 0;
        o.JsonResponseTimeout = TimeSpan.FromSeconds(60);
        return o;
    }

    /// <summary>Writes <paramref name="chunk"/> for ever (until the client leaves), after <paramref name="prefix"/>.</summary>
    private static async Task Endless(Stream s, string prefix, string chunk, CancellationToken ct)
    {
        await HostileHttpServer.WriteHead(s, "200 OK", ct, "Content-Type: application/dicom+json");
        await s.WriteAsync(Encoding.ASCII.GetBytes(prefix), ct);
        var block = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat(chunk, 64 * 1024 / chunk.Length + 1)));
        while (!ct.IsCancellationRequested) await s.WriteAsync(block, ct);
    }

    private static async Task Trickle(Stream s, CancellationToken ct, string head = "[", int byteEveryMs = 2000)
    {
        foreach (var b in Encoding.ASCII.GetBytes(head + StudyJson + "," + new string(' ', 10_000)))
        {
            await s.WriteAsync(new[] { b }, ct);
            await s.FlushAsync(ct);
            await Task.Delay(byteEveryMs, ct);
        }
    }

    public static TheoryData<string, string> EndlessShapes => new()
    {
        { "[", StudyJson + "," },                                         // ever more datasets
        { "[{\"00100010\":{\"vr\":\"PN\",\"Value\":[{\"Alphabetic\":\"", "A" }, // one value that never ends
    };

    [Theory]
    [MemberData(nameof(EndlessShapes))]
    public async Task F8_endless_QIDO_JSON_stops_at_the_size_cap_with_an_error_naming_the_key(string prefix, string chunk)
    {
        await using var server = new HostileHttpServer((_, s, ct) => Endless(s, prefix, chunk, ct));
        var o = Opts(server.BaseUrl);
        o.MaxJsonResponseBytes = 4 * 1024 * 1024;
        using var c = new StandaloneDicomWebClient(o);
        var before = GC.GetTotalAllocatedBytes(precise: false);
        var sw = Stopwatch.StartNew();
        var e = await Assert.ThrowsAsync<DicomWebProtocolException>(async () => await c.Client.SearchAsync(new QidoQuery()).ToListAsync());
        var allocated = GC.GetTotalAllocatedBytes(precise: false) - before;
        output.WriteLine($"{e.Message}; {sw.Elapsed.TotalSeconds:F1} s, server wrote {server.BytesSent / 1e6:F1} MB, client allocated {allocated / 1e6:F0} MB");
        Assert.Contains("MaxJsonResponseBytes", e.Message);
        Assert.Contains("hostile", e.Message);
        // The client stopped at the cap: the server could push only the cap and what the sockets buffer.
        Assert.True(server.BytesSent < 64L * 1024 * 1024, $"server wrote {server.BytesSent} bytes");
    }

    [Fact]
    public async Task F8_a_declared_length_over_the_cap_is_refused_before_reading()
    {
        await using var server = new HostileHttpServer(async (_, s, ct) =>
        {
            await HostileHttpServer.WriteHead(s, "200 OK", ct, "Content-Type: application/dicom+json", "Content-Length: 10000000000");
            await HostileHttpServer.Hold(ct);
        });
        using var c = new StandaloneDicomWebClient(Opts(server.BaseUrl));
        var e = await Assert.ThrowsAsync<DicomWebProtocolException>(async () => await c.Client.SearchAsync(new QidoQuery()).ToListAsync());
        Assert.Contains("declares 10000000000 bytes", e.Message);
        Assert.Contains("MaxJsonResponseBytes", e.Message);
    }

    [Fact]
    public async Task F7_a_QIDO_trickle_is_abandoned_at_the_minimum_rate()
    {
        await using var server = new HostileHttpServer(async (_, s, ct) =>
        {
            await HostileHttpServer.WriteHead(s, "200 OK", ct, "Content-Type: application/dicom+json", "Content-Length: 10100");
            await Trickle(s, ct);
        });
        var o = Opts(server.BaseUrl);
        o.MinReadBytesPerSecond = 100; // 1 byte per 2 s never goes silent for ReadIdleTimeout (3 s), but is far below this
        using var c = new StandaloneDicomWebClient(o);
        var sw = Stopwatch.StartNew();
        var e = await Assert.ThrowsAsync<DicomWebException>(async () => await c.Client.SearchAsync(new QidoQuery()).ToListAsync());
        output.WriteLine($"{e.Message} after {sw.Elapsed.TotalSeconds:F1} s");
        Assert.Contains("MinReadBytesPerSecond", e.Message);
        Assert.True(e.IsUnavailable);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(45), $"took {sw.Elapsed}");
    }

    [Fact]
    public async Task F7_a_QIDO_trickle_ends_at_the_whole_response_deadline_when_the_rate_floor_is_off()
    {
        await using var server = new HostileHttpServer(async (_, s, ct) =>
        {
            await HostileHttpServer.WriteHead(s, "200 OK", ct, "Content-Type: application/dicom+json", "Content-Length: 10100");
            await Trickle(s, ct, byteEveryMs: 1000);
        });
        var o = Opts(server.BaseUrl);
        o.JsonResponseTimeout = TimeSpan.FromSeconds(5);
        using var c = new StandaloneDicomWebClient(o);
        var sw = Stopwatch.StartNew();
        var e = await Assert.ThrowsAsync<DicomWebException>(async () => await c.Client.SearchAsync(new QidoQuery()).ToListAsync());
        output.WriteLine($"{e.Message} after {sw.Elapsed.TotalSeconds:F1} s");
        Assert.Contains("JsonResponseTimeout", e.Message);
        Assert.True(sw.Elapsed >= TimeSpan.FromSeconds(4.5) && sw.Elapsed < TimeSpan.FromSeconds(45), $"took {sw.Elapsed}");
    }

    [Fact]
    public async Task F7_a_short_body_under_a_large_Content_Length_ends_at_the_idle_timeout()
    {
        await using var server = new HostileHttpServer(async (_, s, ct) =>
        {
            await HostileHttpServer.WriteHead(s, "200 OK", ct, "Content-Type: application/dicom+json", "Content-Length: 100000");
            await s.WriteAsync(Encoding.ASCII.GetBytes("[" + StudyJson), ct);
            await HostileHttpServer.Hold(ct);
        });
        using var c = new StandaloneDicomWebClient(Opts(server.BaseUrl));
        var sw = Stopwatch.StartNew();
        var e = await Assert.ThrowsAsync<DicomWebException>(async () => await c.Client.SearchAsync(new QidoQuery()).ToListAsync());
        output.WriteLine($"{e.Message} after {sw.Elapsed.TotalSeconds:F1} s");
        Assert.Contains("ReadIdleTimeout", e.Message);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(45));
    }

    [Fact]
    public async Task F7_a_WADO_trickle_ends_and_so_does_its_resume_query()
    {
        await using var server = new HostileHttpServer(async (r, s, ct) =>
        {
            if (r.Target.Contains('?') || r.Target.EndsWith("/instances"))
            {
                // The resume's QIDO listing trickles too.
                await HostileHttpServer.WriteHead(s, "200 OK", ct, "Content-Type: application/dicom+json", "Content-Length: 10100");
                await Trickle(s, ct);
            }
            else
            {
                await HostileHttpServer.WriteHead(s, "200 OK", ct, "Content-Type: multipart/related; type=\"application/dicom\"; boundary=BOUNDARY");
                await s.WriteAsync(Encoding.ASCII.GetBytes("--BOUNDARY\r\nContent-Type: application/dicom\r\n\r\n"), ct);
                await Trickle(s, ct, head: new string('\0', 128) + "DICM");
            }
        });
        var o = Opts(server.BaseUrl);
        o.MinReadBytesPerSecond = 100;
        using var c = new StandaloneDicomWebClient(o);
        var sw = Stopwatch.StartNew();
        var e = await Assert.ThrowsAsync<DicomWebException>(() => c.Client.RetrieveStudyAsync(Study, TestData.TempDir("wado-trickle")));
        output.WriteLine($"{e.Message} after {sw.Elapsed.TotalSeconds:F1} s; requests: {string.Join(", ", server.Requests.Select(q => q.Target))}");
        Assert.Contains(server.Requests, q => q.Target.Contains("/instances")); // the resume was tried
        Assert.Contains("MinReadBytesPerSecond", e.Message);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(60), $"took {sw.Elapsed}");
    }

    [Fact]
    public async Task F9_a_broken_download_whose_resume_lists_nothing_is_a_failure_not_an_empty_study()
    {
        await using var server = new HostileHttpServer(async (r, s, ct) =>
        {
            if (r.Target.Contains("/instances")) await HostileHttpServer.WriteJson(s, "[]", ct);
            else
            {
                // Headers promise a body; the connection closes after the first boundary.
                await HostileHttpServer.WriteHead(s, "200 OK", ct, "Content-Type: multipart/related; type=\"application/dicom\"; boundary=BOUNDARY", "Content-Length: 500000");
                await s.WriteAsync(Encoding.ASCII.GetBytes("--BOUNDARY\r\nContent-Type: application/dicom\r\n\r\n"), ct);
            }
        });
        using var c = new StandaloneDicomWebClient(Opts(server.BaseUrl));
        var e = await Assert.ThrowsAsync<DicomWebException>(() => c.Client.RetrieveStudyAsync(Study, TestData.TempDir("wado-f9")));
        output.WriteLine(e.Message);
        Assert.Contains("listed none", e.Message);
        Assert.True(e.IsUnavailable);
        Assert.NotNull(e.PartialWadoResult);
        Assert.Empty(e.PartialWadoResult!.Instances);
    }

    [Fact]
    public async Task F5_malformed_results_are_skipped_and_reported_and_the_others_returned()
    {
        var longName = new string('X', 70) + "^Hostile";
        var json = "[" + string.Join(",",
            "{\"0020000D\":{\"vr\":\"UI\",\"Value\":[\"1.2.3.4\"]},\"00100010\":{\"vr\":\"PN\",\"Value\":[{\"Alphabetic\":\"" + longName + "\"}]}}",
            "{\"0020000D\":{\"vr\":\"UI\",\"Value\":[\"../../etc\"]}}",
            StudyJson,
            "{\"00100010\":{\"vr\":\"PN\",\"Value\":[{\"Alphabetic\":\"No^Uid\"}]}}") + "]";
        await using var server = new HostileHttpServer((_, s, ct) => HostileHttpServer.WriteJson(s, json, ct));
        using var c = new StandaloneDicomWebClient(Opts(server.BaseUrl));
        var skipped = new List<QidoSkipped>();
        var found = await c.Client.SearchAsync(new QidoQuery(), skipped.Add).ToListAsync();
        Assert.Equal(Study, Assert.Single(found).GetString(DicomTags.StudyInstanceUID));
        Assert.Equal([0, 1, 3], skipped.Select(s => s.Index));
        foreach (var s in skipped) output.WriteLine($"{s.Index}: {s.Reason}");
        // Reported without the values: no patient name, no hostile UID.
        Assert.All(skipped, s => Assert.DoesNotContain("XXXX", s.Reason));
        Assert.All(skipped, s => Assert.DoesNotContain("etc", s.Reason));
        Assert.Contains("64", skipped[0].Reason);

        // The qido verb reports them on stderr, prints the good one, and exits 1.
        var (code, stdout, stderr) = await RunVerb("qido", server.BaseUrl, "--retries", "0");
        Assert.Equal(1, code);
        Assert.Contains(Study, stdout);
        Assert.Contains("1 studies, 3 skipped", stderr);
        Assert.DoesNotContain("XXXX", stderr + stdout);
    }

    [Fact]
    public async Task F7_F8_the_qido_verb_ends_on_an_endless_or_trickling_answer()
    {
        await using var endless = new HostileHttpServer((_, s, ct) => Endless(s, "[", StudyJson + ",", ct));
        var sw = Stopwatch.StartNew();
        var r = await RunVerb("qido", endless.BaseUrl, "--retries", "0");
        output.WriteLine($"endless: exit {r.Code} in {sw.Elapsed.TotalSeconds:F1} s: {r.Err}");
        Assert.Equal(2, r.Code);
        Assert.Contains("MaxJsonResponseBytes", r.Err);

        await using var trickle = new HostileHttpServer(async (_, s, ct) =>
        {
            await HostileHttpServer.WriteHead(s, "200 OK", ct, "Content-Type: application/dicom+json", "Content-Length: 10100");
            await Trickle(s, ct);
        });
        sw.Restart();
        r = await RunVerb("qido", trickle.BaseUrl, "--retries", "0", "--read-timeout", "3");
        output.WriteLine($"trickle: exit {r.Code} in {sw.Elapsed.TotalSeconds:F1} s: {r.Err}");
        Assert.Equal(2, r.Code);
        Assert.Contains("MinReadBytesPerSecond", r.Err);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(45));
    }

    private static async Task<(int Code, string Out, string Err)> RunVerb(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        var root = new RootCommand("test");
        foreach (var cmd in DicomWebCommands.CreateAll(o, e)) root.Subcommands.Add(cmd);
        var code = await root.Parse(args).InvokeAsync();
        return (code, o.ToString(), e.ToString());
    }
}
