using System.Net.Http.Headers;
using MedAiNode.Testing;

namespace MedAiNode.Export.Tests;

/// <summary>The test webhook receiver itself: it must stop cleanly after answering, or a test that passed fails in its
/// clean-up (seen on a fresh machine: "Address already in use" from the receiver's Dispose).</summary>
public class WebhookReceiverTests
{
    [Fact]
    public async Task A_receiver_that_answered_and_closed_connections_stops_without_an_error()
    {
        var receiver = new WebhookReceiver();
        using (var http = new HttpClient())
        {
            for (var i = 0; i < 3; i++)
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, receiver.Url) { Content = new StringContent($"{{\"alertId\":\"a{i}\"}}") };
                request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
                // The receiver closes each connection after its answer: its side of each is left in TIME_WAIT on its port.
                request.Headers.ConnectionClose = true;
                using var answer = await http.SendAsync(request);
                Assert.Equal(200, (int)answer.StatusCode);
            }
        }
        Assert.Equal(["a0", "a1", "a2"], receiver.DistinctAlertIds);
        var error = Record.Exception(receiver.Dispose);
        Assert.Null(error);
        // And the port is free again once it stopped.
        using var again = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, receiver.Port);
        again.Server.SetSocketOption(System.Net.Sockets.SocketOptionLevel.Socket, System.Net.Sockets.SocketOptionName.ReuseAddress, true);
        again.Start();
        again.Stop();
    }
}
