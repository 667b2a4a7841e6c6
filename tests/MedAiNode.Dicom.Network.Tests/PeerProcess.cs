using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace MedAiNode.Dicom.Network.Tests;

/// <summary>A peer program running in the background for one test (storescp, Orthanc), stopped by its own process id.</summary>
public sealed class PeerProcess : IDisposable
{
    private readonly Process _p;
    private readonly StringBuilder _out = new();

    public PeerProcess(string program, IEnumerable<string> args, string? workDir = null)
    {
        var psi = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (workDir is not null) psi.WorkingDirectory = workDir;
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["TCP_NODELAY"] = "1";
        try { _p = Process.Start(psi)!; }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException($"'{program}' is not installed; run scripts/test.sh, which installs the peers (dcmtk, orthanc).", e);
        }
        _p.OutputDataReceived += (_, e) => { lock (_out) _out.AppendLine(e.Data); };
        _p.ErrorDataReceived += (_, e) => { lock (_out) _out.AppendLine(e.Data); };
        _p.BeginOutputReadLine();
        _p.BeginErrorReadLine();
    }

    public string Output { get { lock (_out) return _out.ToString(); } }
    public bool HasExited => _p.HasExited;

    /// <summary>The suite's one source of ports (never the same one twice in a process; see TestData.FreePort).</summary>
    public static int FreePort() => TestData.FreePort();

    /// <summary>Waits until the peer accepts TCP connections on the port.</summary>
    public void WaitForPort(int port, int timeoutMs = 20000)
    {
        var sw = Stopwatch.StartNew();
        while (sw.ElapsedMilliseconds < timeoutMs)
        {
            if (_p.HasExited)
            {
                _p.WaitForExit(); // drains the output, so the message has the peer's last words
                throw new InvalidOperationException($"peer exited early ({_p.ExitCode}): {Output}");
            }
            try
            {
                using var c = new TcpClient();
                c.Connect(IPAddress.Loopback, port);
                return;
            }
            catch (SocketException) { Thread.Sleep(50); }
        }
        throw new TimeoutException($"peer did not open port {port}: {Output}");
    }

    public void Dispose()
    {
        try
        {
            if (!_p.HasExited)
            {
                _p.Kill(entireProcessTree: true);
                _p.WaitForExit(5000);
            }
        }
        catch (InvalidOperationException) { }
        _p.Dispose();
    }
}
