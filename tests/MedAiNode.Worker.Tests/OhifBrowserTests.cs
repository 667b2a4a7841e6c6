using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using MedAiNode.Dicom;
using MedAiNode.Dicom.IO;
using MedAiNode.Imaging.Nifti;
using MedAiNode.Results;
using Xunit.Abstractions;

namespace MedAiNode.Worker.Tests;

/// <summary>
/// Our SEG and SR in the viewer a hospital would use: OHIF 3.13.2 (the built dist/ of @ohif/app from npm) in Debian's
/// chromium, driven by puppeteer-core (browser/ohif-check.mjs), reading Orthanc over DICOMweb. `medainode analyze`
/// runs on the real LIDC chest CT (ct-lung-quant); Orthanc gets the CT, the SEG and the SR; OHIF opens the SEG and the
/// SR as a user would. Screenshots and result.json are kept under the test's output (artefacts/ohif-browser/).
/// </summary>
public class OhifBrowserTests(ITestOutputHelper output)
{
    private const string Chromium = "/usr/bin/chromium";
    private const string Series = "lidc-idri-0001-chest";
    private static readonly string BrowserDir = Path.Combine(TestData.RepoRoot, "tests", "MedAiNode.Worker.Tests", "browser");
    private const string OhifVersion = "3.13.2";

    [Fact]
    public async Task Ohif_decodes_our_seg_slice_by_slice_and_opens_our_sr_with_every_group()
    {
        var clock = Stopwatch.StartNew();
        Assert.True(File.Exists(Chromium), $"Debian's chromium is not installed ({Chromium} missing): apt-get install chromium (scripts/test.sh does).");
        var install = Tool.Run("bash", [Path.Combine(BrowserDir, "install.sh")], timeoutMs: 900_000);
        Assert.True(install.ExitCode == 0, $"browser/install.sh failed (node, npm and the npm registry are needed):\n{install.StdErr}\n{install.StdOut}");
        var dist = Path.Combine(BrowserDir, "node_modules", $".ohif-app-{OhifVersion}", "dist");

        // The project's own pipeline on the real series, as a user would run it.
        var analysis = TestData.TempDir("ohif-analyze");
        var source = TestData.Path_("ct", Series);
        var analyze = Tool.Run("dotnet", [Path.Combine(AppContext.BaseDirectory, "medainode.dll"), "analyze", source, "--out", analysis, "--model", "ct-lung-quant"], timeoutMs: 900_000);
        Assert.True(analyze.ExitCode == 0, analyze.StdErr + analyze.StdOut);
        var segPath = Path.Combine(analysis, "seg.dcm");
        var srPath = Path.Combine(analysis, "sr.dcm");
        var seg = DicomFile.Open(segPath).Dataset;
        var segSeriesDescription = seg.GetString(DicomTags.SeriesDescription)!;
        var srSeriesDescription = DicomFile.Open(srPath).Dataset.GetString(DicomTags.SeriesDescription)!;
        var segTrackingUids = seg.GetSequence(DicomTags.SegmentSequence)!.Items.ToDictionary(
            i => i.GetString(DicomTags.SegmentLabel)!, i => i.GetString(DicomTags.TrackingUID)!);

        using var orthanc = new OrthancServer();
        foreach (var f in Directory.EnumerateFiles(source, "*.dcm").Order(StringComparer.Ordinal).Append(segPath).Append(srPath))
            await orthanc.UploadAsync(f);
        var studyUid = seg.GetString(DicomTags.StudyInstanceUID)!;

        var artefacts = Path.Combine(AppContext.BaseDirectory, "artefacts", "ohif-browser");
        if (Directory.Exists(artefacts)) Directory.Delete(artefacts, true);
        Directory.CreateDirectory(artefacts);
        output.WriteLine($"screenshots and result.json: {artefacts}");
        var specPath = Path.Combine(analysis, "ohif-spec.json");
        File.WriteAllText(specPath, JsonSerializer.Serialize(new
        {
            dist,
            orthanc = orthanc.RestUrl,
            studyUid,
            outDir = artefacts,
            chromium = Chromium,
            segDescription = segSeriesDescription,
            srDescription = srSeriesDescription,
            showLabels = new[] { 2, 3 }, // show the slice with the most lung
            timeoutMs = 300_000,
        }));
        // node stops chromium and its server itself; a timeout kills its whole process tree.
        var run = Tool.Run("node", [Path.Combine(BrowserDir, "ohif-check.mjs"), specPath], timeoutMs: 1_200_000);
        output.WriteLine(run.StdOut);
        var resultPath = Path.Combine(artefacts, "result.json");
        Assert.True(File.Exists(resultPath), $"ohif-check.mjs wrote no result ({run.ExitCode}):\n{run.StdErr}\n{run.StdOut}");
        var result = JsonNode.Parse(File.ReadAllText(resultPath))!;
        Assert.True(run.ExitCode == 0 && result["failure"] is null, $"in the browser: {result["failure"]}\n{run.StdErr}\nsteps: {result["steps"]}\nconsole errors: {result["consoleErrors"]}");
        Assert.True(result["pageErrors"]!.AsArray().Count == 0, "uncaught errors in the page: " + result["pageErrors"]);

        // SEG: OHIF's labelmap (cornerstone's segmentation state) equals the project's label map, slice by slice.
        var ohifSeg = result["seg"]!;
        Assert.Equal(segTrackingUids.Keys.Order(), ohifSeg["segments"]!.AsArray().Select(s => s!["label"]!.GetValue<string>()).Order());
        var series = SourceSeries.Open(source);
        var labels = NiftiIO.Read(Path.Combine(analysis, "labels.nii.gz"));
        var bySop = ohifSeg["slices"]!.AsArray().ToDictionary(s => s!["sop"]!.GetValue<string>(), s => s!);
        Assert.Equal(series.Images.Count, bySop.Count);
        var differing = new List<string>();
        long labelled = 0;
        foreach (var img in series.Images)
        {
            var ours = SliceOf(labels, img);
            labelled += ours.Count(v => v != 0);
            Assert.True(bySop.TryGetValue(img.SopInstanceUid, out var theirs), $"OHIF has no labelmap slice for {img.SopInstanceUid}");
            if (theirs["length"]!.GetValue<int>() != ours.Length || theirs["fnv"]!.GetValue<uint>() != Fnv1a(ours))
                differing.Add($"{img.SopInstanceUid}: ours {Counts(ours)}, OHIF's {theirs["counts"]!.ToJsonString()}");
        }
        Assert.True(labelled > 1_000_000, $"the label map is nearly empty ({labelled} voxels)");
        Assert.True(differing.Count == 0, $"{differing.Count} of {series.Images.Count} slices differ:\n" + string.Join("\n", differing.Take(10)));
        Assert.False(result["segErrorBoundary"]!.GetValue<bool>(), "OHIF showed its error boundary after opening the SEG");

        // SR: opens without an error boundary, every group parsed with its coordinates, placed on the CT, and its
        // volume; a segment's group carries the SEG segment's Tracking UID.
        Assert.False(result["srErrorBoundary"]!.GetValue<bool>(), "OHIF showed its error boundary after opening the SR");
        var sr = result["sr"]!;
        Assert.NotNull(sr["viewportImage"]);
        using var measurementsJson = JsonDocument.Parse(File.ReadAllText(Path.Combine(analysis, "measurements.json")));
        var volumes = measurementsJson.RootElement.GetProperty("measurements").EnumerateArray()
            .Where(m => m.GetProperty("concept").GetProperty("value").GetString() == "118565006")
            .ToDictionary(m => string.Join(" + ", m.GetProperty("segments").EnumerateArray().Select(s => s.GetString()))
                // A lesion's group (a nodule candidate) is tracked as "<segment> lesion <n>", as the SR names it.
                + (m.TryGetProperty("lesion", out var n) && n.ValueKind == JsonValueKind.Number ? $" lesion {n.GetInt32()}" : ""),
                m => m.GetProperty("value").GetDouble());
        var groups = sr["measurements"]!.AsArray().Select(m => m!).ToList();
        Assert.Equal(volumes.Keys.Order(), groups.Select(g => g["trackingIdentifier"]!.GetValue<string>()).Order());
        foreach (var g in groups)
        {
            var name = g["trackingIdentifier"]!.GetValue<string>();
            Assert.True(g["loaded"]!.GetValue<bool>(), $"OHIF did not place group {name} on any display set");
            var coords = g["coords"]!.AsArray();
            Assert.True(coords.Count > 0, $"OHIF found no coordinates in group {name}");
            var first = coords[0]!;
            Assert.Equal("SCOORD3D", first["valueType"]!.GetValue<string>());
            Assert.Equal(DicomFile.Open(Directory.EnumerateFiles(source, "*.dcm").First()).Dataset.GetString(DicomTags.FrameOfReferenceUID), first["frameOfReference"]!.GetValue<string>());
            var volume = g["labels"]!.AsArray().Select(l => l!).FirstOrDefault(l => l["label"]!.GetValue<string>() == "Volume");
            Assert.True(volume is not null, $"OHIF lists no Volume for {name}: {g["labels"]!.ToJsonString()}");
            Assert.Equal(volumes[name].ToString("F2", CultureInfo.InvariantCulture) + " ml", volume!["value"]!.GetValue<string>());
            if (segTrackingUids.TryGetValue(name, out var segUid)) Assert.Equal(segUid, g["trackingUid"]!.GetValue<string>());
        }
        Assert.Equal(groups.Select(g => g["trackingUid"]!.GetValue<string>()).Order(), sr["annotations"]!.AsArray().Select(a => a!.GetValue<string>()).Order());
        foreach (var png in new[] { "01-study.png", "02-seg.png", "03-sr.png", "04-sr-measurement-panel.png" })
            Assert.True(new FileInfo(Path.Combine(artefacts, png)).Length > 10_000, $"screenshot {png} missing or empty");
        output.WriteLine($"wall time {clock.Elapsed.TotalSeconds:F0} s");
    }

    /// <summary>The label map's values on one source slice's pixel grid (row by row), by the slice's own geometry.</summary>
    private static byte[] SliceOf(Imaging.Volumes.Volume labels, SourceImage img)
    {
        var slice = new byte[img.Rows * img.Columns];
        var toIndex = labels.Affine.Inverse();
        for (var r = 0; r < img.Rows; r++)
            for (var c = 0; c < img.Columns; c++)
            {
                var p = img.PixelToPatient(r, c);
                var i = toIndex.Apply(new Imaging.Geometry.Vec3(p[0], p[1], p[2]));
                int x = (int)Math.Round(i.X), y = (int)Math.Round(i.Y), z = (int)Math.Round(i.Z);
                Assert.True(labels.Dims.Contains(x, y, z) && Math.Abs(i.Z - z) < 1e-3, $"pixel ({r},{c}) of {img.SopInstanceUid} is off the label map's grid ({i})");
                slice[r * img.Columns + c] = (byte)labels[x, y, z];
            }
        return slice;
    }

    private static uint Fnv1a(byte[] data)
    {
        var h = 0x811c9dc5u;
        foreach (var b in data) h = (h ^ b) * 0x01000193u;
        return h;
    }

    private static string Counts(byte[] slice) =>
        "{" + string.Join(",", slice.Where(v => v != 0).GroupBy(v => v).OrderBy(g => g.Key).Select(g => $"\"{g.Key}\":{g.Count()}")) + "}";
}
