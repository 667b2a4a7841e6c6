using MedAiNode.Dicom.Network.Services;

namespace MedAiNode.Dicom.Network.Tests;

/// <summary>Our SCP on a free loopback port, storing under a temp folder.</summary>
public sealed class TestScp : IAsyncDisposable
{
    public TestScp(Action<DicomServerOptions>? configure = null, string name = "scp", bool fsync = true, Microsoft.Extensions.Logging.ILogger? log = null)
    {
        StoreRoot = TestData.TempDir(name);
        Options = new DicomServerOptions { AETitle = "MEDAI", BindAddress = "127.0.0.1", Port = 0, ArtimTimeout = TimeSpan.FromSeconds(5), IdleTimeout = TimeSpan.FromSeconds(20) };
        configure?.Invoke(Options);
        Target = new FolderStoreTarget(StoreRoot, fsync);
        Server = new DicomServer(Options, Target, log);
        Server.Start();
    }

    public string StoreRoot { get; }
    public DicomServerOptions Options { get; }
    public FolderStoreTarget Target { get; }
    public DicomServer Server { get; }
    public int Port => Server.Port;
    public string PortText => Server.Port.ToString();

    public string[] StoredFiles() =>
        Directory.EnumerateFiles(StoreRoot, "*.dcm", SearchOption.AllDirectories).Where(p => !p.Contains(".incoming")).ToArray();

    public string[] IncomingFiles() => Directory.EnumerateFiles(Target.TempDirectory).ToArray();

    public async ValueTask DisposeAsync()
    {
        await Server.DisposeAsync();
        try { Directory.Delete(StoreRoot, true); } catch (IOException) { }
    }
}
