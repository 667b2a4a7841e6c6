using System.CommandLine;
using MedAiNode.Dicom;
using MedAiNode.Worker.Commands;
using MedAiNode.DicomWeb.Tests.Support;

namespace MedAiNode.DicomWeb.Tests.Interop;

/// <summary>The qido / wado / stow verbs end to end against Orthanc, as an operator would type them.</summary>
public sealed class CliVerbTests
{
    private static async Task<(int Code, string Out, string Err)> Run(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        var root = new RootCommand("test");
        foreach (var c in DicomWebCommands.CreateAll(o, e)) root.Subcommands.Add(c);
        var code = await root.Parse(args).InvokeAsync();
        return (code, o.ToString(), e.ToString());
    }

    [Fact]
    public async Task Stow_then_qido_then_wado_round_trip_through_the_verbs()
    {
        using var orthanc = new OrthancServer();
        var files = Synthetic.PhantomFiles.Take(6).ToArray();
        var stow = await Run(["stow", orthanc.DicomWebUrl, .. files, "--batch", "4"]);
        Assert.True(stow.Code == 0, stow.Err);
        Assert.Equal(6, stow.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Count(l => l.StartsWith("stored\t")));
        Assert.Contains("6 of 6 stored in 2 requests", stow.Err);

        var study = Dicom.IO.DicomFile.Open(files[0], new() { StopBeforePixelData = true }).Dataset.GetString(DicomTags.StudyInstanceUID)!;
        var qido = await Run("qido", orthanc.DicomWebUrl, "--level", "instances", "--study", study, "--limit", "4");
        Assert.True(qido.Code == 0, qido.Err);
        Assert.Equal(4, qido.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
        Assert.DoesNotContain("PLASTIC", qido.Out); // the table leaves patient IDs out

        var studies = await Run("qido", orthanc.DicomWebUrl, "-m", "ModalitiesInStudy=CT", "--json");
        Assert.Contains(study, studies.Out);

        var dir = TestData.TempDir("cli-wado");
        var wado = await Run("wado", orthanc.DicomWebUrl, "--study", study, "--out", dir);
        Assert.True(wado.Code == 0, wado.Err);
        Assert.Equal(6, Directory.GetFiles(dir, "*.dcm").Length);
        Assert.Contains("6 instances", wado.Err);
    }

    [Fact]
    public async Task Errors_are_one_clear_line_and_exit_code_2()
    {
        var r = await Run("qido", "http://127.0.0.1:1/dicom-web", "--retries", "0");
        Assert.Equal(2, r.Code);
        Assert.StartsWith("medainode qido: DICOMweb cli: QIDO-RS studies: cannot reach the PACS", r.Err);

        var bad = await Run("qido", "not a url");
        Assert.Equal(2, bad.Code);
        Assert.Contains("DicomWeb:Pacs:0:BaseUrl", bad.Err);

        var missing = await Run("stow", "http://127.0.0.1:1/dicom-web", "/nonexistent/file.dcm");
        Assert.Equal(2, missing.Code);
        Assert.Contains("neither a file nor a folder", missing.Err);
    }
}
