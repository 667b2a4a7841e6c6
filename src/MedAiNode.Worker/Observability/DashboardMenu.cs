using Hangfire.Dashboard;

namespace MedAiNode.Worker.Observability;

/// <summary>Adds our pages to the Hangfire dashboard. Its routes and menu are process-wide, so each page is added once.</summary>
internal static class DashboardMenu
{
    /// <summary>Our pages: running analyses with their progress, and studies with their lifecycle state.</summary>
    public static void AddOurPages()
    {
        Add("/progress", "Progress", () => new ProgressPage());
        Add("/studies", "Studies", () => new StudiesPage());
    }

    private static void Add(string path, string title, Func<RazorPage> create)
    {
        if (DashboardRoutes.Routes.FindDispatcher(path) is not null) return;
        DashboardRoutes.Routes.AddRazorPage(path, _ => create());
        NavigationMenu.Items.Add(page => new MenuItem(title, page.Url.To(path)) { Active = page.RequestPath.StartsWith(path, StringComparison.Ordinal) });
    }
}
