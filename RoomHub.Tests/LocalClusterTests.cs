using System.Net;
using RoomHub.Tests.Infrastructure;

namespace RoomHub.Tests;

public sealed class LocalClusterTests
{
    [Fact]
    public async Task ClientsThroughTheLoadBalancerShareRoomsAcrossInstancesThroughARestartAndDownStopsEverything()
    {
        await using var cluster = await LocalCluster.UpAsync(instances: 3);
        var pids = cluster.RecordedPids();
        Assert.Equal(["haproxy", "instance-1", "instance-2", "instance-3", "redis"], pids.Keys.Order());
        Assert.All(pids.Values, pid => Assert.True(LocalCluster.IsRunning(pid)));

        // Round-robin puts consecutive connections on different instances, so the message crosses the backplane.
        var room = Rooms.Unique("lb");
        await using (var receiver = await TestClient.ConnectAsync(cluster.HubUrl, skipNegotiation: true))
        await using (var sender = await TestClient.ConnectAsync(cluster.HubUrl, skipNegotiation: true))
        // A negotiating client's two requests reach one instance only thanks to the balancer's affinity cookie.
        await using (var negotiating = await TestClient.ConnectAsync(cluster.HubUrl, skipNegotiation: false))
        {
            await receiver.SubscribeAsync(room);
            await negotiating.SubscribeAsync(room);

            var id = await sender.SendAsync(room, "through the load balancer");

            Assert.Equal("through the load balancer", (await receiver.WaitForAsync(m => m.Id == id, "the message through the load balancer")).Message);
            await negotiating.WaitForAsync(m => m.Id == id, "the message on the negotiating client");
        }

        var restarted = await cluster.RunAsync("restart-instance", "2");
        Assert.True(restarted.ExitCode == 0, $"restart-instance failed: {restarted}");
        Assert.False(LocalCluster.IsRunning(pids["instance-2"]));
        var newPid = cluster.RecordedPids()["instance-2"];
        Assert.NotEqual(pids["instance-2"], newPid);
        Assert.True(LocalCluster.IsRunning(newPid));

        var status = await cluster.RunAsync("status");
        Assert.Equal(0, status.ExitCode);
        Assert.Equal(5, status.Output.Split('\n').Count(line => line.Contains(" healthy ", StringComparison.Ordinal)));
        await AssertEveryInstanceServesThroughTheBalancerAsync(cluster);

        var down = await cluster.RunAsync("down");
        Assert.True(down.ExitCode == 0, $"down failed: {down}");
        var all = pids.Values.Append(newPid).ToArray();
        await Poll.UntilAsync(() => all.All(pid => !LocalCluster.IsRunning(pid)), "every process of the cluster to be gone");
        Assert.Empty(cluster.RecordedPids());
    }

    // A client per instance (round-robin over three) subscribes; one more sends; all three hear it.
    private static async Task AssertEveryInstanceServesThroughTheBalancerAsync(LocalCluster cluster)
    {
        var room = Rooms.Unique("after-restart");
        var clients = new List<TestClient>();
        try
        {
            for (var i = 0; i < cluster.Instances; i++)
            {
                clients.Add(await TestClient.ConnectAsync(cluster.HubUrl, skipNegotiation: true));
                await clients[^1].SubscribeAsync(room);
            }

            await using var sender = await TestClient.ConnectAsync(cluster.HubUrl, skipNegotiation: true);
            var id = await sender.SendAsync(room, "after the restart");
            foreach (var client in clients)
            {
                await client.WaitForAsync(m => m.Id == id, "the message after the restart");
            }
        }
        finally
        {
            foreach (var client in clients)
            {
                await client.DisposeAsync();
            }
        }

        using var http = new HttpClient();
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(new Uri(cluster.HubUrl, "/health"))).StatusCode);
    }
}
