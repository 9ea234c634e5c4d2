using System.Text.Json.Nodes;
using Microsoft.AspNetCore.SignalR.Client;
using RoomHub.Contracts;
using RoomHub.Tests.Infrastructure;

namespace RoomHub.Tests.Security;

/// <summary>
/// A client that reads is never taken for a slow consumer because of what it asked for: a history, a resume or a
/// session's replay may be many times its outbound queue (here 40 × 16 KB against a queue of 33 KB, the smallest allowed).
/// </summary>
public sealed class LargeReplyTests
{
    private const int Count = 40;
    private const int Asked = 4;
    private static readonly string Filler = new('x', 16_000);

    private static readonly Dictionary<string, string?> Settings = new()
    {
        ["RoomHub:MaxMessageBytes"] = "16384",
        ["RoomHub:Security:MaxOutboundBufferBytes"] = "33792",
    };

    private static async Task FillAsync(RoomHubInstance server, string room)
    {
        await using var publisher = await TestClient.ConnectAsync(server);
        for (var i = 0; i < Count; i++)
        {
            await publisher.SendAsync(room, $"{i}:{Filler}");
        }
    }

    private static async Task AssertStillServedAsync(LegacyClient legacy, string room)
    {
        await legacy.SubscribeAsync(room);
        await Poll.UntilAsync(async () =>
        {
            await legacy.SendMessageAsync(room, "still here");
            return legacy.Frames.Contains("still here");
        }, "the client to be served after its large reply");
    }

    [Fact]
    public async Task AHistoryLargerThanTheOutboundQueueReachesTheClientThatAskedForIt()
    {
        await using var server = await RoomHubInstance.StartAsync(Settings);
        var room = Rooms.Unique("large-history");
        await FillAsync(server, room);

        // Asked for in a row, without waiting for the answers: each is 20 times the queue.
        await using var legacy = await LegacyClient.ConnectAsync(server);
        for (var i = 0; i < Asked; i++)
        {
            await legacy.SendAsync(new JsonObject { ["type"] = "HISTORY", ["room"] = room, ["limit"] = Count }.ToJsonString());
            await legacy.SendAsync(new JsonObject { ["type"] = "RESUME", ["room"] = room, ["lastId"] = "" }.ToJsonString());
        }

        await Poll.UntilAsync(() => legacy.Json().Count(j => (string?)j["type"] is "HISTORY" or "RESUME") == 2 * Asked || legacy.IsClosed, "every answer");
        Assert.False(legacy.IsClosed);
        Assert.All(legacy.Json().Where(j => (string?)j["type"] is "HISTORY" or "RESUME"), answer => Assert.Equal(Count, answer["messages"]!.AsArray().Count));

        await using var hub = await TestClient.ConnectAsync(server);
        var histories = Enumerable.Range(0, Asked).Select(_ => hub.Connection.InvokeAsync<IReadOnlyList<RoomMessage>>(nameof(IRoomHub.GetHistory), room, Count)).ToList();
        var resumes = Enumerable.Range(0, Asked).Select(_ => hub.Connection.InvokeAsync<ResumeResult>(nameof(IRoomHub.Resume), room, "")).ToList();
        Assert.All(await Task.WhenAll(histories), answer => Assert.Equal(Count, answer.Count));
        Assert.All(await Task.WhenAll(resumes), answer => Assert.Equal(Count, answer.Messages.Count));
        Assert.Equal(HubConnectionState.Connected, hub.Connection.State);
        await AssertStillServedAsync(legacy, room);
    }

    [Fact]
    public async Task ASessionReplayLargerThanTheOutboundQueueReachesTheReturningClient()
    {
        await using var server = await RoomHubInstance.StartAsync(Settings);
        var room = Rooms.Unique("large-replay");
        var hubSession = new Uri(server.HubUrl + "?session=" + Guid.NewGuid().ToString("N"));
        var legacySession = "session=" + Guid.NewGuid().ToString("N");
        await using (var first = await TestClient.ConnectAsync(hubSession))
        {
            await first.SubscribeAsync(room);
        }

        await using (var first = await LegacyClient.ConnectAsync(server, query: legacySession))
        {
            await first.SubscribeAsync(room);
            await AssertStillServedAsync(first, room);
        }

        await FillAsync(server, room);

        await using var hub = await TestClient.ConnectAsync(hubSession);
        await hub.WaitForCountAsync(room, Count);
        Assert.Equal(HubConnectionState.Connected, hub.Connection.State);
        await using var legacy = await LegacyClient.ConnectAsync(server, query: legacySession);
        await Poll.UntilAsync(() => legacy.Frames.Count(f => f.EndsWith(Filler, StringComparison.Ordinal)) >= Count, "the replayed messages at the legacy client");
        await AssertStillServedAsync(legacy, room);
    }
}
