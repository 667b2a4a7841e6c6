using Hangfire.Dashboard;
using RouteCollection = Hangfire.Dashboard.RouteCollection;
using MedAiNode.Worker.Observability;

namespace MedAiNode.Worker.Tests;

/// <summary>Hangfire's dashboard routes and menu are process-wide lists, and the tests build many hosts at once: a run
/// under load failed with "Collection was modified" when one host looked its pages up while another added them.</summary>
public class DashboardMenuTests
{
    [Fact]
    public void Hosts_built_at_once_add_each_page_exactly_once_and_never_trip_over_each_other()
    {
        for (var round = 0; round < 200; round++)
        {
            var routes = new RouteCollection();
            var menu = new List<Func<RazorPage, MenuItem>>();
            using var start = new Barrier(8);
            var errors = new System.Collections.Concurrent.ConcurrentBag<Exception>();
            var hosts = Enumerable.Range(0, 8).Select(_ => new Thread(() =>
            {
                try
                {
                    start.SignalAndWait();
                    DashboardMenu.AddOurPages(routes, menu);
                }
                catch (Exception e) { errors.Add(e); }
            })).ToList();
            hosts.ForEach(h => h.Start());
            hosts.ForEach(h => h.Join());
            Assert.Empty(errors);
            Assert.Equal(2, menu.Count);
            Assert.NotNull(routes.FindDispatcher("/progress"));
            Assert.NotNull(routes.FindDispatcher("/studies"));
        }
    }
}
