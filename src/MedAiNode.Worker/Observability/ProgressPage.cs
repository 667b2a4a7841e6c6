using System.Net;
using Hangfire.Dashboard;
using Hangfire.Dashboard.Pages;

namespace MedAiNode.Worker.Observability;

/// <summary>
/// A dashboard page, "Progress", listing the jobs running now on every node with how far each analysis has got
/// (the job parameter "progress" the analysis writes every 5 %). Refreshes itself every 2 s.
/// </summary>
internal sealed class ProgressPage : RazorPage
{
    public override void Execute()
    {
        Layout = new LayoutPage("Analysis progress");
        var running = Storage.GetMonitoringApi().ProcessingJobs(0, 200);
        using var connection = Storage.GetConnection();
        WriteLiteral("<meta http-equiv=\"refresh\" content=\"2\"><h1 class=\"page-header\">Analysis progress</h1>");
        if (running.Count == 0)
        {
            WriteLiteral("<div class=\"alert alert-info\">No job is running.</div>");
            return;
        }
        WriteLiteral("<table class=\"table\"><thead><tr><th>Job</th><th>Study</th><th>Server</th><th>Started</th><th style=\"width:35%\">Progress</th></tr></thead><tbody>");
        foreach (var (id, job) in running)
        {
            var percent = int.TryParse(connection.GetJobParameter(id, "progress")?.Trim('"'), out var p) ? p : (int?)null;
            var what = job.Job is null ? "?" : $"{job.Job.Method.Name.Replace("Async", "")} {job.Job.Args.FirstOrDefault()}";
            var bar = percent is null
                ? "<span class=\"text-muted\">waiting</span>"
                : $"<div class=\"progress\" style=\"margin:0\"><div class=\"progress-bar\" role=\"progressbar\" style=\"width:{percent}%\">{percent}%</div></div>";
            WriteLiteral($"<tr><td><a href=\"{Url.JobDetails(id)}\">{WebUtility.HtmlEncode(id)}</a></td><td>{WebUtility.HtmlEncode(what)}</td>" +
                         $"<td>{WebUtility.HtmlEncode(job.ServerId ?? "")}</td><td>{job.StartedAt:u}</td><td data-progress=\"{percent}\">{bar}</td></tr>");
        }
        WriteLiteral("</tbody></table>");
    }
}
