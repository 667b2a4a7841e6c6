using System.Diagnostics;

namespace MedAiNode.Testing;

/// <summary>Where the shared real data lives (../shared/data beside the repository) and helpers to run the peer tools.</summary>
public static class TestData
{
    public static string RepoRoot { get; } = FindRoot();

    private static string FindRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "MedAiNode.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("MedAiNode.sln not found above the test binaries.");
    }

    public static string SharedData
    {
        get
        {
            var env = Environment.GetEnvironmentVariable("MEDAINODE_SHARED_DATA");
            var path = !string.IsNullOrEmpty(env) ? env : Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared", "data"));
            if (!Directory.Exists(path)) throw new DirectoryNotFoundException($"Shared test data not found at {path} (set MEDAINODE_SHARED_DATA).");
            return path;
        }
    }

    public static string Path_(params string[] parts) => Path.Combine([SharedData, .. parts]);

    /// <summary>Every DICOM file under ct/, compressed/ and seg-sr/.</summary>
    public static IEnumerable<string> AllDicomFiles() =>
        new[] { "ct", "compressed", "seg-sr" }
            .SelectMany(d => Directory.EnumerateFiles(Path.Combine(SharedData, d), "*.dcm", SearchOption.AllDirectories))
            .OrderBy(p => p, StringComparer.Ordinal);

    public static IEnumerable<object[]> AllDicomFilesData() =>
        AllDicomFiles().Select(p => new object[] { Path.GetRelativePath(SharedData, p) });

    private static readonly HashSet<int> IssuedPorts = [];

    /// <summary>A loopback port free at the moment of asking, and not handed out before in this test process: the
    /// kernel can give the same port to two binds in a row once the first is closed (an Orthanc once got its HTTP and
    /// DICOM ports equal and could not start).</summary>
    public static int FreePort()
    {
        while (true)
        {
            var l = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
            l.Start();
            var port = ((System.Net.IPEndPoint)l.LocalEndpoint).Port;
            l.Stop();
            lock (IssuedPorts)
                if (IssuedPorts.Add(port)) return port;
        }
    }

    /// <summary>Removes the .NET diagnostics socket (<c>dotnet-diagnostic-PID-KEY-socket</c> in the temp folder) of a
    /// process the test killed: the runtime removes it only on a normal exit, so each SIGKILLed node left one behind (a
    /// development VM had 300 after a day of suites). A socket still listed in /proc/net/unix belongs to a live process
    /// (a new one given the same id) and is left alone.</summary>
    public static void RemoveDiagnosticsSocket(int pid)
    {
        if (!OperatingSystem.IsLinux()) return;
        var bound = File.ReadAllText("/proc/net/unix");
        foreach (var socket in Directory.EnumerateFiles(Path.GetTempPath(), $"dotnet-diagnostic-{pid}-*-socket"))
            if (!bound.Contains(socket, StringComparison.Ordinal))
                try { File.Delete(socket); } catch (IOException) { }
    }

    public static string TempDir(string name)
    {
        var dir = Path.Combine(Path.GetTempPath(), "medainode-tests", name + "-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        return dir;
    }
}

public sealed record ToolResult(int ExitCode, string StdOut, string StdErr);

public static class Tool
{
    /// <summary>Runs a peer program. A missing program fails the test with the apt package to install.</summary>
    /// <remarks>The default limit only catches a hung peer: on a loaded 2-core machine an analysis can take minutes.</remarks>
    public static ToolResult Run(string program, IEnumerable<string> args, string? stdin = null, int timeoutMs = 600_000,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        var psi = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = stdin is not null,
            UseShellExecute = false,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["TCP_NODELAY"] = "1";
        foreach (var (k, v) in environment ?? new Dictionary<string, string>()) psi.Environment[k] = v;
        Process p;
        try
        {
            p = Process.Start(psi)!;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException($"'{program}' is not installed; run scripts/test.sh, which installs the peers (dcmtk, dicom3tools, python3-pydicom).", e);
        }
        using (p)
        {
            var so = p.StandardOutput.ReadToEndAsync();
            var se = p.StandardError.ReadToEndAsync();
            if (stdin is not null)
            {
                p.StandardInput.Write(stdin);
                p.StandardInput.Close();
            }
            if (!p.WaitForExit(timeoutMs))
            {
                p.Kill(true);
                p.WaitForExit();
                TestData.RemoveDiagnosticsSocket(p.Id);
                throw new TimeoutException($"{program} did not finish within {timeoutMs} ms");
            }
            return new ToolResult(p.ExitCode, so.Result, se.Result);
        }
    }

    public static ToolResult Python(string script, params string[] args) =>
        Run("/usr/bin/python3", new[] { "-c", script }.Concat(args));
}
