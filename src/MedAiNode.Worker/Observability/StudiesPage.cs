using System.Net;
using Hangfire.Dashboard;
using Hangfire.Dashboard.Pages;
using MedAiNode.Store;

namespace MedAiNode.Worker.Observability;

/// <summary>A dashboard page: this node's studies with lifecycle state, triage, attempts and reason, failed ones first.</summary>
/// <remarks>The reason says why a study failed, or how it ended; the same data as GET /api/studies.</remarks>
internal sealed class StudiesPage : RazorPage
{
    public override void Execute()
    {
        Layout = new LayoutPage("Studies");
        var studies = Context.GetHttpContext().RequestServices.GetRequiredService<StudyStore>().List()
            .OrderBy(s => s.State != StudyState.Failed).ThenByDescending(s => s.UpdatedAt).Take(500).ToList();
        WriteLiteral("<h1 class=\"page-header\">Studies</h1>");
        if (studies.Count == 0)
        {
            WriteLiteral("<div class=\"alert alert-info\">No study is in the store.</div>");
            return;
        }
        var counts = string.Join(", ", studies.GroupBy(s => s.State).OrderBy(g => g.Key).Select(g => $"{g.Key}: {g.Count()}"));
        WriteLiteral($"<p>{WebUtility.HtmlEncode(counts)}</p>");
        var positive = studies.Count(s => s.Triage?.Positive == true);
        if (positive > 0) WriteLiteral($"<div class=\"alert alert-danger\">Triage positive: {positive} {(positive == 1 ? "study" : "studies")}</div>");
        WriteLiteral("<table class=\"table\"><thead><tr><th>Study</th><th>State</th><th>Triage</th><th>Attempts</th><th>Instances</th><th>Updated</th><th>Reason</th></tr></thead><tbody>");
        foreach (var s in studies)
        {
            var css = s.State == StudyState.Failed ? " class=\"danger\"" : s.Triage?.Positive == true ? " class=\"warning\"" : "";
            WriteLiteral($"<tr{css}><td>{WebUtility.HtmlEncode(s.StudyInstanceUid)}</td><td data-state=\"{s.State}\">{s.State}</td>{TriageCell(s.Triage)}<td>{s.Attempts}</td>" +
                         $"<td>{s.InstanceCount}</td><td>{s.UpdatedAt:u}</td><td>{WebUtility.HtmlEncode(s.Reason ?? "")}</td></tr>");
        }
        WriteLiteral("</tbody></table>");
    }

    /// <summary>POSITIVE with the rules that fired and their volumes, "negative", or empty when not triaged.</summary>
    private static string TriageCell(TriageRecord? triage)
    {
        if (triage is null) return "<td data-triage=\"none\"></td>";
        if (!triage.Positive) return "<td data-triage=\"negative\">negative</td>";
        var fired = string.Join("; ", triage.Findings.Where(f => f.Positive).Select(f => $"{f.Rule}: {f.Name} {f.VolumeMl:0.##} ml > {f.ThresholdMl:0.##} ml"));
        return $"<td data-triage=\"positive\"><span class=\"label label-danger\">POSITIVE</span> {WebUtility.HtmlEncode(fired)}</td>";
    }
}
