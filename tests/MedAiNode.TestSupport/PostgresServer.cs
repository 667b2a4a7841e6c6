using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace MedAiNode.Testing;

/// <summary>
/// A private PostgreSQL cluster in a temp dir on a loopback port, started by hand with Debian's binaries (not the
/// system service), for the Hangfire storage shared by several worker nodes. As root it runs as the postgres user,
/// which initdb requires.
/// </summary>
public sealed class PostgresServer : IDisposable
{
    private readonly Process _process;
    private readonly string _bin;
    private readonly bool _asPostgres = Environment.UserName == "root";

    public PostgresServer()
    {
        _bin = BinDir();
        Dir = TestData.TempDir("postgres");
        Port = TestData.FreePort();
        var data = Path.Combine(Dir, "data");
        if (_asPostgres) Check(Tool.Run("chown", ["-R", "postgres:postgres", Dir]), "chown");
        Check(Run("initdb", "-D", data, "-A", "trust", "-U", "medainode", "-E", "UTF8", "--no-sync"), "initdb");
        var psi = Start("postgres", "-D", data, "-p", Port.ToString(), "-k", Dir, "-c", "listen_addresses=127.0.0.1",
            "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_connections=200");
        _process = Process.Start(psi)!;
        _process.OutputDataReceived += (_, e) => { lock (Log) Log.AppendLine(e.Data); };
        _process.ErrorDataReceived += (_, e) => { lock (Log) Log.AppendLine(e.Data); };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        var sw = Stopwatch.StartNew();
        while (Run("pg_isready", "-h", "127.0.0.1", "-p", Port.ToString()).ExitCode != 0)
        {
            if (_process.HasExited || sw.Elapsed > TimeSpan.FromSeconds(30))
                throw new InvalidOperationException("PostgreSQL did not start: " + Log);
            Thread.Sleep(200);
        }
    }

    public string Dir { get; }
    public int Port { get; }
    public System.Text.StringBuilder Log { get; } = new();
    public string ConnectionString => $"Host=127.0.0.1;Port={Port};Username=medainode;Database=postgres";

    private static string BinDir()
    {
        var versions = Directory.Exists("/usr/lib/postgresql")
            ? Directory.GetDirectories("/usr/lib/postgresql").Where(d => File.Exists(Path.Combine(d, "bin", "postgres"))).OrderBy(d => d).ToList()
            : [];
        return versions.Count > 0 ? Path.Combine(versions[^1], "bin")
            : throw new InvalidOperationException("PostgreSQL is not installed: apt-get install postgresql (scripts/test.sh does).");
    }

    private ProcessStartInfo Start(string program, params string[] args)
    {
        var psi = new ProcessStartInfo(_asPostgres ? "runuser" : Path.Combine(_bin, program))
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = Dir,
        };
        if (_asPostgres) foreach (var a in new[] { "-u", "postgres", "--", Path.Combine(_bin, program) }) psi.ArgumentList.Add(a);
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["TCP_NODELAY"] = "1";
        return psi;
    }

    private ToolResult Run(string program, params string[] args)
    {
        using var p = Process.Start(Start(program, args))!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        return new ToolResult(p.ExitCode, stdout.Result, stderr);
    }

    private static void Check(ToolResult r, string what)
    {
        if (r.ExitCode != 0) throw new InvalidOperationException($"{what} failed ({r.ExitCode}): {r.StdErr}{r.StdOut}");
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited) _process.Kill(entireProcessTree: true);
            _process.WaitForExit(10_000);
        }
        catch (InvalidOperationException) { }
        _process.Dispose();
        try { Directory.Delete(Dir, true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
