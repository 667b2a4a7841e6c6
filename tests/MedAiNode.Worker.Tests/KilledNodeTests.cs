namespace MedAiNode.Worker.Tests;

/// <summary>
/// The suite on a long-lived machine: a node a test kills (SIGKILL, as the crash tests and every disposal do) leaves no
/// .NET diagnostics socket in the temp folder; the runtime removes its own only on a normal exit.
/// </summary>
public class KilledNodeTests
{
    [Fact]
    public async Task A_killed_node_leaves_no_diagnostics_socket_behind()
    {
        if (!OperatingSystem.IsLinux()) return;
        await using var node = new WorkerProcess(TestData.TempDir("killed-node"));
        await node.StartAsync();
        var pid = node.ProcessId;
        string[] Sockets() => Directory.EnumerateFiles(Path.GetTempPath(), $"dotnet-diagnostic-{pid}-*-socket").ToArray();
        Assert.NotEmpty(Sockets()); // the runtime made one, and the check below can see it
        node.Kill();
        Assert.Empty(Sockets());
    }
}
