using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using MedAiNode.Dicom;
using MedAiNode.Dicom.IO;
using MedAiNode.Imaging.Nifti;
using MedAiNode.Results;
using MedAiNode.Results.Reports;
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
        // The SR's key-slice lengths (one planar group per segment and lesion): what OHIF's measurement panel can list.
        var lengths = KeySliceLengths(DicomFile.Open(srPath).Dataset);
        Assert.True(lengths.Count > 0, "the SR has no key-slice length group");
        var jumpTo = lengths.FirstOrDefault(l => l.Label.Contains(" lesion ", StringComparison.Ordinal)) ?? lengths[0];

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
            jumpTo = jumpTo.Label, // the measurement-panel entry to click (the first lesion's)
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
        var all = sr["measurements"]!.AsArray().Select(m => m!).ToList();
        bool IsLength(JsonNode g) => g["trackingIdentifier"]!.GetValue<string>() == MeasurementReportOptions.CornerstoneLengthTrackingIdentifier;
        var groups = all.Where(g => !IsLength(g)).ToList();
        Assert.Equal(volumes.Keys.Order(), groups.Select(g => g["trackingIdentifier"]!.GetValue<string>()).Order());
        // Each key-slice length group: placed on its source image by its 2D SCOORD, its Long axis listed.
        var planar = all.Where(IsLength).ToList();
        Assert.Equal(lengths.Count, planar.Count);
        foreach (var (g, expected) in planar.Zip(lengths))
        {
            Assert.True(g["loaded"]!.GetValue<bool>(), $"OHIF did not place the key-slice length of {expected.Label}");
            var c = g["coords"]!.AsArray()[0]!;
            Assert.Equal(("SCOORD", "POLYLINE", expected.Image), (c["valueType"]!.GetValue<string>(), c["graphicType"]!.GetValue<string>(), c["image"]!.GetValue<string>()));
            var axis = g["labels"]!.AsArray().Select(l => l!).Single(l => l["label"]!.GetValue<string>() == "Long axis");
            Assert.Equal(expected.LengthMm.ToString("F2", CultureInfo.InvariantCulture) + " mm", axis["value"]!.GetValue<string>());
        }
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
        Assert.Equal(all.Select(g => g["trackingUid"]!.GetValue<string>()).Order(), sr["annotations"]!.AsArray().Select(a => a!.GetValue<string>()).Order());

        // The measurement panel: OHIF offered to track the SR (it recognises the length groups as its Length tool), and
        // once the reader said Yes it lists one entry per key-slice length, labelled with the region's name and volume
        // (the group's Comment), valued with our Long axis, on the image our SCOORD names. The volumetric groups are not
        // listed (no OHIF tool holds a segment's volume; conformance/results.md).
        Assert.True(sr["isRehydratable"]!.GetValue<bool>(), "OHIF did not recognise any group of the SR as one of its tools");
        Assert.NotNull(result["trackPrompt"]);
        var tracked = result["tracked"]!.AsArray().Select(t => t!).ToList();
        Assert.Equal(lengths.Select(l => l.Label).Order(), tracked.Select(t => t["label"]!.GetValue<string>()).Order());
        foreach (var expected in lengths)
        {
            var t = tracked.Single(x => x["label"]!.GetValue<string>() == expected.Label);
            Assert.Equal("Length", t["toolName"]!.GetValue<string>());
            Assert.Equal(expected.Image, t["sop"]!.GetValue<string>());
            // Our NUM as OHIF keeps it (Cornerstone may recompute it from the two points once it draws them: the same
            // line, unrounded, so within the NUM's 0.1 mm rounding).
            Assert.True(Math.Abs(double.Parse(t["length"]!.ToString(), CultureInfo.InvariantCulture) - expected.LengthMm) <= 0.051,
                $"{expected.Label}: OHIF holds length {t["length"]}, the SR says {expected.LengthMm} mm");
            // The entry's value as OHIF formats it (3 significant digits): our length to that precision.
            var shown = t["primary"]!.AsArray().Select(p => p!.GetValue<string>()).Single();
            Assert.EndsWith(" mm", shown);
            Assert.True(Math.Abs(double.Parse(shown[..^3], CultureInfo.InvariantCulture) - expected.LengthMm) <= 0.005 * expected.LengthMm + 0.01,
                $"{expected.Label}: OHIF shows {shown}, the SR says {expected.LengthMm} mm");
        }
        var rows = result["panelRows"]!.AsArray().Select(r => r!.GetValue<string>()).ToList();
        Assert.Equal(lengths.Count, rows.Count);
        foreach (var expected in lengths) Assert.Contains(rows, r => r.Contains(expected.Label, StringComparison.Ordinal));
        // The labels' volumes are the SR's own Volume NUMs (measurements.json, to the SR's 0.001 mL).
        foreach (var expected in lengths)
        {
            var name = expected.Label[..expected.Label.IndexOf(", volume ", StringComparison.Ordinal)];
            var ml = double.Parse(expected.Label[(expected.Label.IndexOf(", volume ", StringComparison.Ordinal) + 9)..^3], CultureInfo.InvariantCulture);
            Assert.Equal(volumes[name], ml, 3);
        }
        // Clicking an entry shows its image with the length drawn on it.
        var jump = result["jump"]!;
        Assert.Equal(jumpTo.Image, jump["image"]!.GetValue<string>());
        Assert.True(jump["drawnLengths"]!.GetValue<int>() >= 1, "OHIF drew no length on the entry's image");
        output.WriteLine($"OHIF's measurement panel: {rows.Count} entries; jumped to {jumpTo.Label} on {jumpTo.Image}: {jump["text"]!.ToJsonString()}");
        foreach (var png in new[] { "01-study.png", "02-seg.png", "03-sr.png", "04-sr-measurement-panel.png", "06-measurement-on-its-image.png" })
            Assert.True(new FileInfo(Path.Combine(artefacts, png)).Length > 10_000, $"screenshot {png} missing or empty");
        output.WriteLine($"wall time {clock.Elapsed.TotalSeconds:F0} s");
    }

    private sealed record KeySliceLength(string Label, double LengthMm, string Image);

    /// <summary>The SR's key-slice length groups in document order: Comment, Long axis value and the image its SCOORD is on.</summary>
    private static List<KeySliceLength> KeySliceLengths(DicomDataset sr)
    {
        static string? Meaning(DicomDataset i) => i.GetSequence(DicomTags.ConceptNameCodeSequence)?.Items[0].GetString(DicomTags.CodeMeaning);
        static IEnumerable<DicomDataset> Content(DicomDataset i) => i.GetSequence(DicomTags.ContentSequence)?.Items ?? [];
        var imaging = Content(sr).Single(i => Meaning(i) == "Imaging Measurements");
        return Content(imaging)
            .Where(g => Content(g).Any(i => Meaning(i) == "Tracking Identifier" && i.GetString(DicomTags.TextValue) == MeasurementReportOptions.CornerstoneLengthTrackingIdentifier))
            .Select(g =>
            {
                var num = Content(g).Single(i => i.GetString(DicomTags.ValueType) == "NUM");
                var value = double.Parse(num.GetSequence(DicomTags.MeasuredValueSequence)!.Items[0].GetString(DicomTags.NumericValue)!, CultureInfo.InvariantCulture);
                var image = Content(Content(num).Single(i => i.GetString(DicomTags.ValueType) == "SCOORD")).Single()
                    .GetSequence(DicomTags.ReferencedSOPSequence)!.Items[0].GetString(DicomTags.ReferencedSOPInstanceUID)!;
                return new KeySliceLength(Content(g).Single(i => Meaning(i) == "Comment").GetString(DicomTags.TextValue)!, value, image);
            }).ToList();
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
