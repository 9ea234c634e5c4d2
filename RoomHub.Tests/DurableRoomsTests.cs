using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Client;
using RoomHub.Contracts;
using RoomHub.Tests.Infrastructure;

namespace RoomHub.Tests;

public sealed class DurableRoomsTests(ClusterFixture fixture) : IClassFixture<ClusterFixture>
{
    private RoomHubCluster Cluster => fixture.Cluster;

    [Fact]
    public async Task HistoryIsSharedByEveryInstanceOldestFirst()
    {
        var room = Rooms.Unique("history");
        await using var sender = await TestClient.ConnectAsync(Cluster[0]);
        var ids = new List<string>();
        for (var i = 1; i <= 5; i++)
        {
            ids.Add(await sender.SendAsync(room, $"m{i}"));
        }

        await using var reader = await TestClient.ConnectAsync(Cluster[1]);
        var latest = await reader.Connection.InvokeAsync<IReadOnlyList<RoomMessage>>(nameof(IRoomHub.GetHistory), room, 3);

        Assert.Equal(ids.Skip(2), latest.Select(m => m.Id));
        Assert.Equal(["m3", "m4", "m5"], latest.Select(m => m.Message));
        Assert.All(latest, m => Assert.Equal(room, m.Room));
    }

    [Fact]
    public async Task MessageIdsIncreaseWithinARoomWhicheverInstanceAcceptedThem()
    {
        var room = Rooms.Unique();
        await using var a = await TestClient.ConnectAsync(Cluster[0]);
        await using var b = await TestClient.ConnectAsync(Cluster[1]);

        var ids = new List<string>();
        for (var i = 0; i < 10; i++)
        {
            ids.Add(await (i % 2 == 0 ? a : b).SendAsync(room, "x"));
        }

        Assert.Equal(ids.OrderBy(Server.Internal.Engine.StreamId.Parse), ids);
    }

    [Fact]
    public async Task BadHistoryAndResumeArgumentsAreRefusedClearly()
    {
        await using var client = await TestClient.ConnectAsync(Cluster[0]);

        var badLimit = await Assert.ThrowsAsync<HubException>(() => client.Connection.InvokeAsync<IReadOnlyList<RoomMessage>>(nameof(IRoomHub.GetHistory), "room", 0));
        Assert.Contains("INVALID_ARGUMENT: ", badLimit.Message, StringComparison.Ordinal);
        var badId = await Assert.ThrowsAsync<HubException>(() => client.Connection.InvokeAsync<ResumeResult>(nameof(IRoomHub.Resume), "room", "yesterday"));
        Assert.Contains("INVALID_ARGUMENT: ", badId.Message, StringComparison.Ordinal);
        var badRoom = await Assert.ThrowsAsync<HubException>(() => client.Connection.InvokeAsync<RoomPresence>(nameof(IRoomHub.GetPresence), ""));
        Assert.Contains("INVALID_ROOM: ", badRoom.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ResumeJoinsTheRoomAndReturnsWhatWasMissed()
    {
        var room = Rooms.Unique("resume");
        await using var sender = await TestClient.ConnectAsync(Cluster[0]);
        var first = await sender.SendAsync(room, "seen");
        var missed = new[] { await sender.SendAsync(room, "missed 1"), await sender.SendAsync(room, "missed 2") };

        await using var client = await TestClient.ConnectAsync(Cluster[1]);
        var resumed = await client.Connection.InvokeAsync<ResumeResult>(nameof(IRoomHub.Resume), room, first);

        // What came after the last id, and, before it, what was accepted within the look-back (which a member may
        // receive after the message it resumes from): here the message it was at.
        Assert.True(resumed.Recovered);
        Assert.Equal([first, .. missed], resumed.Messages.Select(m => m.Id));
        var live = await sender.SendAsync(room, "live");
        await client.WaitForAsync(m => m.Id == live, "a live message after the resume");
    }

    [Fact]
    public async Task PresenceCountsMembersOnEveryInstanceAndForgetsThoseWhoLeave()
    {
        var room = Rooms.Unique("presence");
        await using var a1 = await TestClient.ConnectAsync(Cluster[0]);
        await using var a2 = await TestClient.ConnectAsync(Cluster[0]);
        var b1 = await TestClient.ConnectAsync(Cluster[1]);
        foreach (var client in new[] { a1, a2, b1 })
        {
            await client.SubscribeAsync(room);
        }

        var presence = await a1.Connection.InvokeAsync<RoomPresence>(nameof(IRoomHub.GetPresence), room);
        Assert.Equal(3, presence.Connections);
        Assert.Equal(room, presence.Room);

        await a2.UnsubscribeAsync(room);
        await b1.DisposeAsync();
        await Poll.UntilAsync(async () => (await a1.PresenceAsync(room))?.Connections == 1, "presence to count only the remaining member");
    }
}
