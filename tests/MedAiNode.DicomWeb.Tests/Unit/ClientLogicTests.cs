using System.Net;
using System.Text;
using MedAiNode.Dicom;
using MedAiNode.DicomWeb.Configuration;
using MedAiNode.DicomWeb.Qido;
using MedAiNode.DicomWeb.Stow;
using MedAiNode.DicomWeb.Tests.Support;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Configuration;

namespace MedAiNode.DicomWeb.Tests.Unit;

public sealed class ClientLogicTests
{
    private static DicomWebPacsOptions Opts(string url = "https://pacs.example.org/dicom-web") => new() { Name = "main", BaseUrl = url };

    [Fact]
    public void Options_validation_names_every_bad_key()
    {
        var o = new DicomWebPacsOptions
        {
            Name = "bad name",
            BaseUrl = "ftp://x",
            MaxRetries = -1,
            AttemptTimeout = TimeSpan.FromSeconds(10),
            TotalTimeout = TimeSpan.FromSeconds(5),
            StowMaxInstances = 0,
            WadoTransferSyntax = "../etc",
            CircuitBreakerFailureRatio = 2,
        };
        var errors = DicomWebPacsOptionsValidator.Validate(o, "DicomWeb:Pacs:0");
        foreach (var key in new[] { "Name", "BaseUrl", "MaxRetries", "TotalTimeout", "StowMaxInstances", "WadoTransferSyntax", "CircuitBreakerFailureRatio" })
            Assert.Contains(errors, e => e.StartsWith($"DicomWeb:Pacs:0:{key}:"));
        Assert.Empty(DicomWebPacsOptionsValidator.Validate(Opts(), "x"));
    }

    [Fact]
    public void Auth_settings_are_checked_per_mode()
    {
        var basic = Opts("http://pacs.example.org/dicom-web");
        basic.Auth = DicomWebAuthMode.Basic;
        var errors = DicomWebPacsOptionsValidator.Validate(basic, "P");
        Assert.Contains(errors, e => e.StartsWith("P:Username:"));
        Assert.Contains(errors, e => e.StartsWith("P:Password:"));
        Assert.Contains(errors, e => e.StartsWith("P:BaseUrl:") && e.Contains("clear text"));

        var bearer = Opts();
        bearer.Auth = DicomWebAuthMode.Bearer;
        Assert.Contains(DicomWebPacsOptionsValidator.Validate(bearer, "P"), e => e.StartsWith("P:BearerToken:"));

        var cert = Opts();
        cert.Auth = DicomWebAuthMode.ClientCertificate;
        cert.ClientCertificatePath = "/nonexistent/client.pfx";
        cert.CaBundlePath = "/nonexistent/ca.pem";
        var ce = DicomWebPacsOptionsValidator.Validate(cert, "P");
        Assert.Contains(ce, e => e.StartsWith("P:ClientCertificatePath:") && e.Contains("does not exist"));
        Assert.Contains(ce, e => e.StartsWith("P:CaBundlePath:"));
    }

    [Fact]
    public void Registration_refuses_invalid_or_duplicate_PACS_with_all_messages()
    {
        var services = new ServiceCollection();
        var e = Assert.Throws<OptionsValidationException>(() => services.AddDicomWeb(Opts(), Opts(), new DicomWebPacsOptions { Name = "x" }));
        Assert.Contains(e.Failures, f => f.Contains("DicomWeb:Pacs:2:BaseUrl"));
        Assert.Contains(e.Failures, f => f.Contains("'main' is used by 2"));
    }

    [Fact]
    public async Task Basic_and_bearer_credentials_are_sent_with_every_attempt()
    {
        var basic = Opts();
        basic.Auth = DicomWebAuthMode.Basic;
        basic.Username = "alice";
        basic.Password = "s3cr:et";
        var h = new ScriptedHandler((_, n) => n == 1 ? ScriptedHandler.Status(HttpStatusCode.ServiceUnavailable) : ScriptedHandler.Status(HttpStatusCode.OK, "[]"));
        basic.RetryBaseDelay = TimeSpan.FromMilliseconds(5);
        using (var c = new StandaloneDicomWebClient(basic, customize: b => b.ConfigurePrimaryHttpMessageHandler(() => h)))
            await c.Client.SearchAsync(new QidoQuery()).ToListAsync();
        Assert.All(h.Seen, s =>
        {
            Assert.Equal("Basic", s.Request.Headers.Authorization!.Scheme);
            Assert.Equal("alice:s3cr:et", Encoding.UTF8.GetString(Convert.FromBase64String(s.Request.Headers.Authorization.Parameter!)));
        });
        Assert.Equal(2, h.Seen.Count);

        var dir = TestData.TempDir("token");
        var tokenFile = Path.Combine(dir, "token");
        await File.WriteAllTextAsync(tokenFile, "first-token\n");
        var bearer = Opts();
        bearer.Auth = DicomWebAuthMode.Bearer;
        bearer.BearerTokenFile = tokenFile;
        var hb = new ScriptedHandler((_, _) => ScriptedHandler.Status(HttpStatusCode.OK, "[]"));
        using var cb = new StandaloneDicomWebClient(bearer, customize: b => b.ConfigurePrimaryHttpMessageHandler(() => hb));
        await cb.Client.SearchAsync(new QidoQuery()).ToListAsync();
        await File.WriteAllTextAsync(tokenFile, "rotated-token");
        File.SetLastWriteTimeUtc(tokenFile, DateTime.UtcNow.AddSeconds(5));
        await cb.Client.SearchAsync(new QidoQuery()).ToListAsync();
        Assert.Equal(["first-token", "rotated-token"], hb.Seen.Select(s => s.Request.Headers.Authorization!.Parameter!).ToArray());
    }

    [Fact]
    public void Qido_urls_escape_values_and_scope_levels()
    {
        var q = new QidoQuery(QidoLevel.Instances) { StudyInstanceUid = "1.2.3", SeriesInstanceUid = "1.2.3.4" }
            .Match("PatientName", "O'Brien^J*")
            .Match("00100020", "A&B=C")
            .MatchDateRange(DicomTags.StudyDate, new DateOnly(2024, 1, 2), null)
            .Include("all");
        q.FuzzyMatching = true;
        Assert.Equal("studies/1.2.3/series/1.2.3.4/instances?PatientName=O%27Brien%5EJ%2A&00100020=A%26B%3DC&0008" +
                     "0020=20240102-&includefield=all&fuzzymatching=true&limit=10&offset=20", q.ToRelativeUrl(20, 10));
        Assert.Throws<ArgumentException>(() => new QidoQuery().Match("PatientNmae", "x"));
        Assert.Throws<ArgumentException>(() => new QidoQuery().MatchDateRange(DicomTags.StudyDate, new DateOnly(2024, 2, 1), new DateOnly(2024, 1, 1)));
        Assert.Throws<ArgumentException>(() => new QidoQuery(QidoLevel.Series) { StudyInstanceUid = "1.2/../3" }.ResourcePath());
        Assert.Equal("studies/1.2/series?ReferencedSOPSequence.ReferencedSOPInstanceUID=1.5",
            new QidoQuery(QidoLevel.Series) { StudyInstanceUid = "1.2" }.Match("ReferencedSOPSequence.ReferencedSOPInstanceUID", "1.5").ToRelativeUrl(0, null));
    }

    private static string StudyJson(string uid) => $$$"""{"0020000D":{"vr":"UI","Value":["{{{uid}}}"]}}""";

    [Fact]
    public async Task Paging_continues_past_a_short_page_the_server_marked_as_cut_and_stops_on_a_server_ignoring_offset()
    {
        // Server caps pages at 2 and says so with Warning 299.
        var h = new ScriptedHandler((req, _) =>
        {
            var query = System.Web.HttpUtility.ParseQueryString(req.RequestUri!.Query);
            var offset = int.Parse(query["offset"] ?? "0");
            var items = Enumerable.Range(offset, Math.Max(0, Math.Min(2, 5 - offset))).Select(i => StudyJson("1.2." + i));
            var r = ScriptedHandler.Status(HttpStatusCode.OK, "[" + string.Join(",", items) + "]");
            if (offset + 2 < 5) r.Headers.Warning.ParseAdd("299 pacs \"The number of results exceeded the maximum supported by the server\"");
            return r;
        });
        var o = Opts();
        o.QidoPageSize = 10;
        using (var c = new StandaloneDicomWebClient(o, customize: b => b.ConfigurePrimaryHttpMessageHandler(() => h)))
        {
            var all = await c.Client.SearchAsync(new QidoQuery()).Select(d => d.GetString(DicomTags.StudyInstanceUID)).ToListAsync();
            Assert.Equal(["1.2.0", "1.2.1", "1.2.2", "1.2.3", "1.2.4"], all);
        }

        var stubborn = new ScriptedHandler((_, _) => ScriptedHandler.Status(HttpStatusCode.OK, "[" + StudyJson("1.1") + "," + StudyJson("1.2") + "]"));
        o.QidoPageSize = 2;
        using var c2 = new StandaloneDicomWebClient(o, customize: b => b.ConfigurePrimaryHttpMessageHandler(() => stubborn));
        await Assert.ThrowsAsync<DicomWebProtocolException>(() => c2.Client.SearchAsync(new QidoQuery()).ToListAsync().AsTask());
        Assert.Equal(2, stubborn.Calls);
    }

    [Fact]
    public async Task No_content_means_no_match_and_limit_caps_the_total()
    {
        var h = new ScriptedHandler((_, _) => new HttpResponseMessage(HttpStatusCode.NoContent));
        using (var c = new StandaloneDicomWebClient(Opts(), customize: b => b.ConfigurePrimaryHttpMessageHandler(() => h)))
            Assert.Empty(await c.Client.SearchAsync(new QidoQuery()).ToListAsync());

        var full = new ScriptedHandler((req, _) =>
        {
            var limit = int.Parse(System.Web.HttpUtility.ParseQueryString(req.RequestUri!.Query)["limit"]!);
            return ScriptedHandler.Status(HttpStatusCode.OK, "[" + string.Join(",", Enumerable.Range(0, limit).Select(i => StudyJson("1." + Guid.NewGuid().GetHashCode().ToString().TrimStart('-')))) + "]");
        });
        var o = Opts();
        o.QidoPageSize = 4;
        using var c2 = new StandaloneDicomWebClient(o, customize: b => b.ConfigurePrimaryHttpMessageHandler(() => full));
        Assert.Equal(10, (await c2.Client.SearchAsync(new QidoQuery { Limit = 10 }).ToListAsync()).Count);
        Assert.Equal(3, full.Calls); // 4 + 4 + 2
    }

    [Fact]
    public void Stow_response_in_JSON_and_XML_is_matched_to_the_instances_sent()
    {
        const string json = """
        {"00081198":{"vr":"SQ","Value":[{"00081150":{"vr":"UI","Value":["1.2.840.10008.5.1.4.1.1.7"]},"00081155":{"vr":"UI","Value":["1.2.2"]},"00081197":{"vr":"US","Value":[43264]}}]},
         "00081199":{"vr":"SQ","Value":[{"00081150":{"vr":"UI","Value":["1.2.840.10008.5.1.4.1.1.7"]},"00081155":{"vr":"UI","Value":["1.2.1"]},"00081190":{"vr":"UR","Value":["http://p/1.2.1"]}},
                                        {"00081150":{"vr":"UI","Value":["1.2.840.10008.5.1.4.1.1.7"]},"00081155":{"vr":"UI","Value":["1.2.3"]},"00081196":{"vr":"US","Value":[45056]}}]}}
        """;
        const string xml = """
        <?xml version="1.0" encoding="UTF-8"?>
        <NativeDicomModel xmlns="http://dicom.nema.org/PS3.19/models/NativeDICOM">
          <DicomAttribute tag="00081198" vr="SQ" keyword="FailedSOPSequence">
            <Item number="1">
              <DicomAttribute tag="00081150" vr="UI"><Value number="1">1.2.840.10008.5.1.4.1.1.7</Value></DicomAttribute>
              <DicomAttribute tag="00081155" vr="UI"><Value number="1">1.2.2</Value></DicomAttribute>
              <DicomAttribute tag="00081197" vr="US"><Value number="1">43264</Value></DicomAttribute>
            </Item>
          </DicomAttribute>
          <DicomAttribute tag="00081199" vr="SQ" keyword="ReferencedSOPSequence">
            <Item number="1">
              <DicomAttribute tag="00081155" vr="UI"><Value number="1">1.2.1</Value></DicomAttribute>
              <DicomAttribute tag="00081190" vr="UR"><Value number="1">http://p/1.2.1</Value></DicomAttribute>
            </Item>
            <Item number="2">
              <DicomAttribute tag="00081155" vr="UI"><Value number="1">1.2.3</Value></DicomAttribute>
              <DicomAttribute tag="00081196" vr="US"><Value number="1">45056</Value></DicomAttribute>
            </Item>
          </DicomAttribute>
        </NativeDicomModel>
        """;
        var sent = new[] { "1.2.1", "1.2.2", "1.2.3", "1.2.4" }.Select(u => StowInstance.FromBytes(new byte[2], u)).ToList();
        foreach (var (body, type) in new[] { (json, "application/dicom+json"), (xml, "application/dicom+xml") })
        {
            var r = DicomWebClient.Match(sent, StowResponse.Parse(body, type), HttpStatusCode.Accepted);
            Assert.Equal(StowInstanceStatus.Stored, r[0].Status);
            Assert.Equal("http://p/1.2.1", r[0].RetrieveUrl);
            Assert.Equal(StowInstanceStatus.Failed, r[1].Status);
            Assert.Equal((ushort)0xA900, r[1].FailureReason);
            Assert.Contains("does not match SOP class", r[1].Message);
            Assert.Equal(StowInstanceStatus.StoredWithWarning, r[2].Status);
            Assert.Equal((ushort)0xB000, r[2].WarningReason);
            Assert.Equal(StowInstanceStatus.NotAcknowledged, r[3].Status);
            Assert.False(r[3].IsStored);
        }
        Assert.Throws<DicomWebProtocolException>(() => StowResponse.Parse("{not json", "application/dicom+json"));
    }

    [Fact]
    public void Batches_respect_count_and_bytes_and_a_big_instance_goes_alone()
    {
        var o = Opts();
        o.StowMaxInstances = 3;
        o.StowMaxBytes = 100;
        var client = new DicomWebClient(new HttpClient(), o);
        var sizes = new[] { 10, 10, 10, 10, 90, 200, 5, 5 };
        var batches = client.Batches(sizes.Select(s => StowInstance.FromBytes(new byte[s])).ToList()).Select(b => b.Select(i => (int)i.Length).ToArray()).ToList();
        Assert.Equal([[10, 10, 10], [10, 90], [200], [5, 5]], batches);
    }

    [Theory]
    [InlineData("1.2.840.10008.1.2.1", true)]
    [InlineData("2.25.294563084977871492866196575750261651776", true)]
    [InlineData("1..2", false)]
    [InlineData(".1.2", false)]
    [InlineData("1.2.", false)]
    [InlineData("1.2/3", false)]
    [InlineData("../..", false)]
    [InlineData("", false)]
    [InlineData("1.234567890123456789012345678901234567890123456789012345678901234", false)]
    public void Uid_syntax(string uid, bool valid) => Assert.Equal(valid, UidSyntax.IsValid(uid));
}

public sealed class ConfigurationBindingTests
{
    private static Microsoft.Extensions.Configuration.IConfiguration Config(params (string, string)[] kv) =>
        new Microsoft.Extensions.Configuration.ConfigurationBuilder()
            .AddInMemoryCollection(kv.Select(p => new KeyValuePair<string, string?>(p.Item1, p.Item2))).Build();

    [Fact]
    public void Pacs_list_binds_from_configuration_with_timespans_and_enums()
    {
        var services = new ServiceCollection();
        services.AddDicomWeb(Config(
            ("DicomWeb:Pacs:0:Name", "main"), ("DicomWeb:Pacs:0:BaseUrl", "https://pacs.example.org/dicom-web"),
            ("DicomWeb:Pacs:0:Auth", "Bearer"), ("DicomWeb:Pacs:0:BearerToken", "t"), ("DicomWeb:Pacs:0:AttemptTimeout", "00:00:20"),
            ("DicomWeb:Pacs:1:Name", "archive"), ("DicomWeb:Pacs:1:BaseUrl", "http://localhost:8042/dicom-web"), ("DicomWeb:Pacs:1:MaxRetries", "2")));
        using var sp = services.BuildServiceProvider();
        var f = sp.GetRequiredService<IDicomWebClientFactory>();
        Assert.Equal(["archive", "main"], f.PacsNames.Order().ToArray());
        var main = f.Create("main");
        Assert.Equal(TimeSpan.FromSeconds(20), main.Options.AttemptTimeout);
        Assert.Equal(Configuration.DicomWebAuthMode.Bearer, main.Options.Auth);
        Assert.Equal(2, f.Create("archive").Options.MaxRetries);
        Assert.Throws<ArgumentException>(() => f.Create("nope"));
    }

    [Fact]
    public void Bad_configuration_names_the_key()
    {
        var e = Assert.Throws<Microsoft.Extensions.Options.OptionsValidationException>(() => new ServiceCollection().AddDicomWeb(Config(
            ("DicomWeb:Pacs:0:Name", "main"), ("DicomWeb:Pacs:0:BaseUrl", "https://pacs/dicom-web"), ("DicomWeb:Pacs:0:MaxRetry", "3"))));
        Assert.Contains(e.Failures, m => m.StartsWith("DicomWeb:Pacs:0:") && m.Contains("MaxRetry"));
        var e2 = Assert.Throws<Microsoft.Extensions.Options.OptionsValidationException>(() => new ServiceCollection().AddDicomWeb(Config(
            ("DicomWeb:Pacs:0:Name", "main"), ("DicomWeb:Pacs:0:BaseUrl", "https://pacs/dicom-web"), ("DicomWeb:Pacs:0:QidoPageSize", "0"))));
        Assert.Contains(e2.Failures, m => m.StartsWith("DicomWeb:Pacs:0:QidoPageSize:"));
    }
}
