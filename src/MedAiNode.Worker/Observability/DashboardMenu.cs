using Hangfire.Dashboard;
using RouteCollection = Hangfire.Dashboard.RouteCollection;

namespace MedAiNode.Worker.Observability;

/// <summary>Adds our pages to the Hangfire dashboard. Its routes and menu are process-wide, so each page is added once.</summary>
internal static class DashboardMenu
{
    // Hangfire's routes and menu are plain static lists: two hosts built at once in one process (the tests start many in
    // parallel) enumerated one while the other added to it ("Collection was modified"), or both added the same page.
    private static readonly Lock Gate = new();

    /// <summary>Our pages: running analyses with their progress, and studies with their lifecycle state.</summary>
    public static void AddOurPages() => AddOurPages(DashboardRoutes.Routes, NavigationMenu.Items);

    /// <summary>As above, into the routes and menu given (the tests' own).</summary>
    internal static void AddOurPages(RouteCollection routes, List<Func<RazorPage, MenuItem>> menu)
    {
        lock (Gate)
        {
            Add(routes, menu, "/progress", "Progress", () => new ProgressPage());
            Add(routes, menu, "/studies", "Studies", () => new StudiesPage());
        }
    }

    private static void Add(RouteCollection routes, List<Func<RazorPage, MenuItem>> menu, string path, string title, Func<RazorPage> create)
    {
        if (routes.FindDispatcher(path) is not null) return;
        routes.AddRazorPage(path, _ => create());
        menu.Add(page => new MenuItem(title, page.Url.To(path)) { Active = page.RequestPath.StartsWith(path, StringComparison.Ordinal) });
    }
}
