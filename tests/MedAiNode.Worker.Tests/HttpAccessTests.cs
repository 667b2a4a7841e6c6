using System.Net;
using System.Net.Http.Headers;
using System.Text;

namespace MedAiNode.Worker.Tests;

/// <summary>The dashboard and API need the API key once the node listens beyond loopback; health and metrics stay open.</summary>
public class HttpAccessTests
{
    private const string Key = "s3cret-key-for-the-tests";

    [Theory]
    [InlineData("Bearer " + Key, true)]
    [InlineData("bearer " + Key, true)]
    [InlineData("Bearer wrong-key-of-some-length", false)]
    [InlineData("Bearer ", false)]
    [InlineData("", false)]
    [InlineData("Basic !!notbase64", false)]
    public void Bearer_tokens_are_checked(string header, bool admitted) =>
        Assert.Equal(admitted, HttpAccess.Presents(header, Encoding.UTF8.GetBytes(Key)));

    [Fact]
    public void Basic_accepts_any_user_with_the_key_as_password()
    {
        var key = Encoding.UTF8.GetBytes(Key);
        Assert.True(HttpAccess.Presents("Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes("radiology:" + Key)), key));
        Assert.False(HttpAccess.Presents("Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes(Key + ":x")), key));
        Assert.False(HttpAccess.Presents("Bearer " + Key, []));
    }

    [Theory]
    [InlineData("http://127.0.0.1:8080", true)]
    [InlineData("http://localhost:8080;http://[::1]:8080", true)]
    [InlineData("http://0.0.0.0:8080", false)]
    [InlineData("http://127.0.0.1:8080;https://10.1.2.3:8443", false)]
    public void Loopback_only_bindings_are_recognised(string urls, bool loopback) =>
        Assert.Equal(loopback, HttpAccess.IsLoopbackOnly(new Configuration.HttpOptions { Urls = urls }));

    [Fact]
    public void A_node_listening_beyond_loopback_without_a_key_does_not_start_and_names_the_key()
    {
        var r = Tool.Run("dotnet", [Path.Combine(AppContext.BaseDirectory, "medainode.dll"), "serve", "--Http:Urls=http://0.0.0.0:0",
            $"--Store:Root={TestData.TempDir("http-nokey")}", "--Dicom:Port=-1"]);
        Assert.Equal(3, r.ExitCode);
        Assert.Contains("Http:ApiKey must be set", r.StdErr);
    }

    [Fact]
    public async Task Beyond_loopback_the_dashboard_and_api_ask_for_the_key_and_probes_stay_open()
    {
        await using var node = new WorkerProcess(TestData.TempDir("http-auth"), "--Dicom:Port=-1");
        node.With($"--Http:Urls=http://0.0.0.0:{node.HttpPort}", $"--Http:ApiKey={Key}");
        await node.StartAsync();
        var baseUrl = $"http://127.0.0.1:{node.HttpPort}";
        using var anonymous = new HttpClient();
        foreach (var path in new[] { "/api/studies", "/hangfire", "/hangfire/progress" })
        {
            var r = await anonymous.GetAsync(baseUrl + path);
            Assert.Equal(HttpStatusCode.Unauthorized, r.StatusCode);
            Assert.StartsWith("Basic", r.Headers.WwwAuthenticate.ToString());
        }
        var rerun = await anonymous.PostAsync(baseUrl + "/api/studies/1.2.3/rerun", null);
        Assert.Equal(HttpStatusCode.Unauthorized, rerun.StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync(baseUrl + "/health/live")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync(baseUrl + "/metrics")).StatusCode);

        using var bearer = new HttpClient();
        bearer.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Key);
        Assert.Equal("[]", await bearer.GetStringAsync(baseUrl + "/api/studies"));
        Assert.Equal(HttpStatusCode.NotFound, (await bearer.PostAsync(baseUrl + "/api/studies/1.2.3/rerun", null)).StatusCode);

        using var browser = new HttpClient();
        browser.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes("admin:" + Key)));
        var page = await browser.GetStringAsync(baseUrl + "/hangfire/progress");
        Assert.Contains("Analysis progress", page);
        Assert.Contains("No job is running", page);
        Assert.Contains("Progress", await browser.GetStringAsync(baseUrl + "/hangfire")); // the menu links to it
        Assert.Contains("plain http: the API key travels in clear", node.Log);
        // --Models:Enabled:0=ct-body replaced the default model list rather than adding to it.
        Assert.Single(System.Text.RegularExpressions.Regex.Matches(node.Log, "Model ct-body 1 ready"));
        Assert.DoesNotContain("Model ct-lung-quant", node.Log);
    }
}
