using Microsoft.AspNetCore.SignalR.Client;
using RoomHub.Contracts;
using RoomHub.Tests.Infrastructure;

namespace RoomHub.Tests;

public sealed class MemberEventTests
{
    [Fact]
    public async Task MembersOfAnnouncedRoomsHearJoinsAndLeavesAndOthersDoNot()
    {
        await using var cluster = await RoomHubCluster.StartAsync(instances: 2, settings: new Dictionary<string, string?> { ["RoomHub:Presence:EventRooms:0"] = "lobby-*" });
        var announced = Rooms.Unique("lobby");
        var quiet = Rooms.Unique("quiet");
        await using var watcher = await TestClient.ConnectAsync(cluster[0]);
        var events = new System.Collections.Concurrent.ConcurrentQueue<(string Kind, RoomMember Member)>();
        watcher.Connection.On<RoomMember>(nameof(IRoomClient.MemberJoined), m => events.Enqueue(("joined", m)));
        watcher.Connection.On<RoomMember>(nameof(IRoomClient.MemberLeft), m => events.Enqueue(("left", m)));
        await watcher.SubscribeAsync(announced);
        await watcher.SubscribeAsync(quiet);

        await using var visitor = await TestClient.ConnectAsync(cluster[1]);
        await visitor.SubscribeAsync(quiet);
        await visitor.SubscribeAsync(announced);
        await Poll.UntilAsync(() => events.Any(e => e.Kind == "joined" && e.Member.ConnectionId == visitor.Connection.ConnectionId), "the visitor's join");
        await visitor.UnsubscribeAsync(announced);
        await Poll.UntilAsync(() => events.Any(e => e.Kind == "left" && e.Member.ConnectionId == visitor.Connection.ConnectionId), "the visitor's leave");

        Assert.All(events, e => Assert.Equal(announced, e.Member.Room));
    }
}
