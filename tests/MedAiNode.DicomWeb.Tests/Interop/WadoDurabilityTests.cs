using System.Diagnostics;
using System.Text.RegularExpressions;
using MedAiNode.Dicom;
using MedAiNode.Dicom.IO;
using MedAiNode.DicomWeb.Tests.Support;
using Xunit.Abstractions;

namespace MedAiNode.DicomWeb.Tests.Interop;

/// <summary>Issue 16: files fetched with WADO-RS were renamed into place without their data being synced, unlike
/// C-STORE intake. The real system calls are watched with strace on the real wado verb against Orthanc.</summary>
public sealed class WadoDurabilityTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Every_fetched_file_is_fdatasynced_before_it_is_renamed_into_place()
    {
        using var orthanc = new OrthancServer();
        var files = Synthetic.PhantomFiles.Take(5).ToArray();
        foreach (var p in files) await orthanc.UploadAsync(p);
        var study = DicomFile.Open(files[0], new() { StopBeforePixelData = true }).Dataset.GetString(DicomTags.StudyInstanceUID)!;
        var dir = TestData.TempDir("wado-durable");
        var trace = Path.Combine(dir, "strace.txt");
        var outDir = Path.Combine(dir, "out");

        var psi = new ProcessStartInfo("strace")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var a in new[] { "-f", "-y", "-e", "trace=fdatasync,fsync,rename,renameat,renameat2", "-o", trace,
                     "dotnet", Path.Combine(AppContext.BaseDirectory, "medainode.dll"), "wado", orthanc.DicomWebUrl, "--study", study, "--out", outDir })
            psi.ArgumentList.Add(a);
        using var process = Process.Start(psi) ?? throw new InvalidOperationException("strace did not start (scripts/test.sh installs it)");
        try
        {
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(3));
            output.WriteLine(await stderr);
            Assert.Equal(0, process.ExitCode);
            Assert.Equal(5, (await stdout).Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
        }
        finally
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
        }

        var lines = File.ReadAllLines(trace);
        var synced = new HashSet<string>();
        var renamed = 0;
        foreach (var line in lines)
        {
            if (Regex.Match(line, @"f(data)?sync\(\d+<[^>]*/(\.wado-[0-9a-f]+\.partial)>") is { Success: true } s) synced.Add(s.Groups[2].Value);
            else if (Regex.Match(line, @"rename(at2?)?\(.*?(\.wado-[0-9a-f]+\.partial)"".*\.dcm""") is { Success: true } r)
            {
                renamed++;
                Assert.True(synced.Contains(r.Groups[2].Value), $"{r.Groups[2].Value} renamed before its data was synced:\n{line}");
            }
        }
        output.WriteLine($"{renamed} renames, {synced.Count} files synced");
        Assert.Equal(5, renamed);
    }
}
