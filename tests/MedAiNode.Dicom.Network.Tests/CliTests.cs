using System.CommandLine;
using MedAiNode.Worker.Commands;

namespace MedAiNode.Dicom.Network.Tests;

public class CliTests
{
    private static async Task<(int Code, string Out, string Err)> Run(Command verb, params string[] args)
    {
        var root = new RootCommand { verb };
        var o = new StringWriter();
        var e = new StringWriter();
        var code = await root.Parse(args).InvokeAsync(new InvocationConfiguration { Output = o, Error = e });
        return (code, o.ToString(), e.ToString());
    }

    [Fact]
    public async Task Echo_Success_AndRejection()
    {
        await using var scp = new TestScp();
        var ok = await Run(EchoCommand.Create(), "echo", "--port", scp.PortText, "--called", "MEDAI", "--calling", "OPS");
        Assert.Equal(0, ok.Code);
        Assert.Contains("C-ECHO MEDAI@127.0.0.1:" + scp.PortText + ": Success", ok.Out);
        var rj = await Run(EchoCommand.Create(), "echo", "--port", scp.PortText, "--called", "NOTME");
        Assert.Equal(1, rj.Code);
        Assert.Contains("called AE title not recognized", rj.Err);
        var bad = await Run(EchoCommand.Create(), "echo", "--port", scp.PortText, "--called", "THIS-AE-TITLE-IS-TOO-LONG");
        Assert.Equal(2, bad.Code);
        Assert.Contains("--called", bad.Err);
    }

    [Fact]
    public async Task Echo_NobodyListening_SaysSo()
    {
        var r = await Run(EchoCommand.Create(), "echo", "--port", PeerProcess.FreePort().ToString(), "--called", "X");
        Assert.Equal(1, r.Code);
        Assert.Contains("cannot connect", r.Err);
    }

    [Fact]
    public async Task Store_Folder_SendsEveryFile_SkipsNonDicom()
    {
        await using var scp = new TestScp();
        var dir = TestData.TempDir("cli-store");
        var src = Directory.GetFiles(TestData.Path_("ct", "philips-phantom-5mm"), "*.dcm").Order().Take(5).ToArray();
        foreach (var f in src) File.Copy(f, Path.Combine(dir, Path.GetFileName(f)));
        File.WriteAllText(Path.Combine(dir, "notes.txt"), "not DICOM");
        var r = await Run(StoreCommand.Create(), "store", dir, "--port", scp.PortText, "--called", "MEDAI", "--calling", "OPS");
        Assert.Equal(1, r.Code); // one file could not be sent
        Assert.Contains("notes.txt: not sent", r.Err);
        Assert.Contains("Sent 5 of 6 files", r.Out);
        Assert.Equal(5, scp.StoredFiles().Length);
    }

    [Fact]
    public async Task Store_MissingFile_IsUsageError()
    {
        var r = await Run(StoreCommand.Create(), "store", "/nonexistent/x.dcm", "--port", "104");
        Assert.Equal(2, r.Code);
        Assert.Contains("no such file", r.Err);
    }
}
