using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using MedAiNode.Dicom.IO;
using MedAiNode.Dicom.Json;

namespace MedAiNode.Dicom.Tests;

/// <summary>Every real file parses, and its elements equal what DCMTK's dcm2json reports (pixel data aside).</summary>
public class DcmtkParityTests
{
    public static IEnumerable<object[]> Files => TestData.AllDicomFilesData();

    [Theory]
    [MemberData(nameof(Files))]
    public void Elements_match_dcm2json(string relativePath)
    {
        var path = Path.Combine(TestData.SharedData, relativePath);
        var ours = DicomJson.Serialize(DicomFile.Open(path).Dataset, new DicomJsonOptions { OmitPixelData = true });
        var dcmtk = Tool.Run("dcm2json", new[] { path });
        if (dcmtk.ExitCode != 0 && dcmtk.StdErr.Contains("compressed pixel data"))
        {
            // dcm2json cannot inline encapsulated pixel data: let DCMTK drop it from a copy, then compare the rest.
            var copy = Path.Combine(TestData.TempDir("parity"), "copy.dcm");
            File.Copy(path, copy);
            var mod = Tool.Run("dcmodify", new[] { "-nb", "-ea", "(7fe0,0010)", copy });
            Assert.True(mod.ExitCode == 0, mod.StdErr);
            dcmtk = Tool.Run("dcm2json", new[] { copy });
        }
        Assert.True(dcmtk.ExitCode == 0, dcmtk.StdErr);

        var expected = Canonical(JsonNode.Parse(dcmtk.StdOut)!.AsObject());
        var actual = Canonical(JsonNode.Parse(ours)!.AsObject());
        var diffs = new List<string>();
        Compare(expected, actual, "", diffs);
        Assert.True(diffs.Count == 0, $"{relativePath}: {diffs.Count} differences from dcm2json:\n" + string.Join("\n", diffs.Take(20)));
    }

    /// <summary>Normalises both sides: numbers as doubles, strings trimmed, empty values dropped, binary as bytes.</summary>
    internal static SortedDictionary<string, object?> Canonical(JsonObject obj)
    {
        var result = new SortedDictionary<string, object?>(StringComparer.Ordinal);
        foreach (var (key, node) in obj)
        {
            // Group lengths, pixel data and trailing padding (which dcmodify drops when it rewrites) are not compared.
            if (key.EndsWith("0000", StringComparison.Ordinal) || key is "7FE00010" or "FFFCFFFC") continue;
            var attr = node!.AsObject();
            var vr = attr["vr"]!.GetValue<string>();
            object? value = null;
            if (attr["InlineBinary"] is { } b)
            {
                var bytes = Convert.FromBase64String(b.GetValue<string>());
                // Compare binary values without their one padding byte.
                if (bytes.Length % 2 == 1) bytes = bytes.Append((byte)0).ToArray();
                value = Convert.ToBase64String(bytes);
            }
            else if (attr["Value"] is JsonArray arr && arr.Count > 0)
            {
                if (vr == "SQ") value = arr.Select(i => (object?)Canonical(i!.AsObject())).ToList();
                else value = arr.Select(v => (object?)Scalar(v, vr == "FL")).ToList();
            }
            result[key + " " + vr] = value;
        }
        return result;
    }

    private static string Number(double d, bool single) =>
        single ? (d == 0 ? 0f : (float)d).ToString("R", CultureInfo.InvariantCulture) : (d == 0 ? 0d : d).ToString("G15", CultureInfo.InvariantCulture);

    private static string? Scalar(JsonNode? v, bool single)
    {
        switch (v)
        {
            case null: return null;
            case JsonObject pn:
                return string.Join("=", new[] { "Alphabetic", "Ideographic", "Phonetic" }.Select(k => pn[k]?.GetValue<string>() ?? "")).TrimEnd('=');
            case JsonValue jv when jv.GetValueKind() == JsonValueKind.Number:
                return Number(double.Parse(jv.ToJsonString(), CultureInfo.InvariantCulture), single);
            default:
                var s = v.GetValue<string>().Trim();
                return double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && s.Any(char.IsDigit)
                    ? Number(d, single) : s;
        }
    }

    private static void Compare(SortedDictionary<string, object?> expected, SortedDictionary<string, object?> actual, string path, List<string> diffs)
    {
        foreach (var key in expected.Keys.Union(actual.Keys).OrderBy(k => k, StringComparer.Ordinal))
        {
            var where = path + key;
            if (!expected.TryGetValue(key, out var e)) { diffs.Add($"{where}: only ours has it"); continue; }
            if (!actual.TryGetValue(key, out var a)) { diffs.Add($"{where}: only DCMTK has it"); continue; }
            CompareValue(e, a, where, diffs);
        }
    }

    private static void CompareValue(object? e, object? a, string where, List<string> diffs)
    {
        switch (e, a)
        {
            case (null, null): return;
            case (List<object?> el, List<object?> al):
                if (el.Count != al.Count) { diffs.Add($"{where}: {el.Count} values (DCMTK) vs {al.Count} (ours)"); return; }
                for (var i = 0; i < el.Count; i++) CompareValue(el[i], al[i], $"{where}[{i}]", diffs);
                return;
            case (SortedDictionary<string, object?> ed, SortedDictionary<string, object?> ad):
                Compare(ed, ad, where + "/", diffs);
                return;
            case (string es, string @as):
                if (es != @as) diffs.Add($"{where}: '{es}' (DCMTK) vs '{@as}' (ours)");
                return;
            default:
                diffs.Add($"{where}: {e ?? "empty"} (DCMTK) vs {a ?? "empty"} (ours)");
                return;
        }
    }
}
