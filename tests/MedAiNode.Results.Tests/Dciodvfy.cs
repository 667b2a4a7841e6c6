namespace MedAiNode.Results.Tests;

/// <summary>Runs dicom3tools' dciodvfy on a file: errors fail the test; warnings are returned so each test can check
/// them against the list we explain in conformance/results.md.</summary>
internal static class Dciodvfy
{
    public static string[] Check(string path, params string[] allowedWarnings)
    {
        var r = Tool.Run("dciodvfy", [path]);
        var lines = (r.StdOut + "\n" + r.StdErr).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var errors = lines.Where(l => l.StartsWith("Error", StringComparison.Ordinal)).ToArray();
        Assert.True(errors.Length == 0, $"dciodvfy reports errors for {Path.GetFileName(path)}:\n{string.Join("\n", lines)}");
        var warnings = lines.Where(l => l.StartsWith("Warning", StringComparison.Ordinal)).ToArray();
        var unexplained = warnings.Where(w => !allowedWarnings.Any(a => w.Contains(a, StringComparison.Ordinal))).ToArray();
        Assert.True(unexplained.Length == 0, $"dciodvfy warnings not yet explained in conformance/results.md for {Path.GetFileName(path)}:\n{string.Join("\n", unexplained)}");
        return warnings;
    }
}
