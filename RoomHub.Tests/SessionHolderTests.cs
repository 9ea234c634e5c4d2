using Microsoft.AspNetCore.SignalR.Client;
using RoomHub.Contracts;
using RoomHub.Tests.Infrastructure;

namespace RoomHub.Tests;

/// <summary>
/// After a network drop a session's old connection can outlive the client's move to a new one, on this instance or
/// another. Only the newest connection speaks for the session: the old one's rooms, re-asserted by the heartbeat or
/// written at its close, must not bring back a room the client has left since.
/// </summary>
public sealed class SessionHolderTests(ClusterFixture fixture) : IClassFixture<ClusterFixture>
{
    private RoomHubCluster Cluster => fixture.Cluster;

    private static async Task<int> MembersAsync(TestClient client, string room) =>
        (await client.Connection.InvokeAsync<RoomPresence>(nameof(IRoomHub.GetPresence), room)).Connections;

    [Fact]
    public async Task ARoomLeftOnTheNewConnectionIsNotBroughtBackByTheOldOne()
    {
        var left = Rooms.Unique("left");
        var kept = Rooms.Unique("kept");
        var session = "?session=" + Guid.NewGuid().ToString("N");
        var old = await TestClient.ConnectAsync(new Uri(Cluster[0].HubUrl + session));
        await old.SubscribeAsync(left);
        await old.SubscribeAsync(kept);

        await using (var current = await TestClient.ConnectAsync(new Uri(Cluster[1].HubUrl + session)))
        {
            await current.UnsubscribeAsync(left);
            await old.DisposeAsync();
        }

        await using var watcher = await TestClient.ConnectAsync(Cluster[0]);
        await Poll.UntilAsync(async () => await MembersAsync(watcher, left) == 0 && await MembersAsync(watcher, kept) == 0, "both connections to be gone");

        // Invocations are served only once the restore is over: the presence it reads is the restored connection's.
        await using var back = await TestClient.ConnectAsync(new Uri(Cluster[0].HubUrl + session));
        Assert.Equal(1, await MembersAsync(back, kept));
        Assert.Equal(0, await MembersAsync(back, left));
    }
}
