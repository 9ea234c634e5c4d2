using System.Text.Json.Nodes;
using Microsoft.AspNetCore.SignalR.Client;
using RoomHub.Contracts;
using Microsoft.Extensions.DependencyInjection;
using RoomHub.Tests.Infrastructure;

namespace RoomHub.Tests;

/// <summary>
/// A returning session is put back in its rooms first and what it missed is read from history second, so no message
/// can fall between the two. The other side of that order: a message sent while the restore is under way reaches the
/// client live before the older ones are replayed, so the newest message a client holds proves nothing about the
/// older ones. The replay read is held here, so that moment is reached every time, not by luck.
/// </summary>
public sealed class SessionReplayTests
{
    private const int MissedCount = 5;

    private static async Task<(RoomHubInstance Server, HeldHistory History)> StartAsync()
    {
        var redis = await RedisServer.Shared;
        var server = await RoomHubInstance.StartAsync(
            new Dictionary<string, string?>
            {
                ["RoomHub:Redis"] = redis.Url,
                ["RoomHub:ChannelPrefix"] = "replay-" + Guid.NewGuid().ToString("N")[..12],
            },
            replace: HeldHistory.Wrap);
        return (server, server.Services.GetRequiredService<HeldHistory>());
    }

    /// <summary>A session's URL, after a connection of that session joined <paramref name="room"/> and went away.</summary>
    private static async Task<Uri> LeftInRoomAsync(RoomHubInstance server, string room)
    {
        var url = new Uri(server.HubUrl + "?session=" + Guid.NewGuid().ToString("N"));
        await using var first = await TestClient.ConnectAsync(url);
        await first.SubscribeAsync(room);
        return url;
    }

    private static async Task<List<string>> SendWhileAwayAsync(TestClient publisher, string room)
    {
        var ids = new List<string>();
        for (var i = 0; i < MissedCount; i++)
        {
            ids.Add(await publisher.SendAsync(room, $"while away {i}"));
        }

        return ids;
    }

    [Fact]
    public async Task RestoredSignalRSessionGetsWhatItMissedEvenAfterANewerMessageArrivedLive()
    {
        var (server, history) = await StartAsync();
        await using var _ = server;
        var room = Rooms.Unique("replay");
        var url = await LeftInRoomAsync(server, room);

        await using var publisher = await TestClient.ConnectAsync(server);
        var missed = await SendWhileAwayAsync(publisher, room);

        history.Hold();
        await using var back = await TestClient.ConnectAsync(url);
        await history.Reached.Task.WaitAsync(Poll.DefaultTimeout);
        var live = await publisher.SendAsync(room, "sent during the restore");
        await back.WaitForAsync(m => m.Room == room && m.Id == live, "the message sent during the restore, live");
        Assert.DoesNotContain(back.Received, m => m.Room == room && missed.Contains(m.Id));

        history.Release();
        await Poll.UntilAsync(() => missed.All(id => back.Received.Any(m => m.Room == room && m.Id == id)), "the messages sent while away, replayed");
    }

    [Fact]
    public async Task AReplayReadsNoMoreThanOneAnswerOfTheNewestMessages()
    {
        // One script reads a replay, holding Redis up for every instance: it reads what one answer holds, not the window.
        var redis = await RedisServer.Shared;
        await using var server = await RoomHubInstance.StartAsync(new Dictionary<string, string?>
        {
            ["RoomHub:Redis"] = redis.Url,
            ["RoomHub:ChannelPrefix"] = "replay-" + Guid.NewGuid().ToString("N")[..12],
            ["RoomHub:History:MaxAnswerBytes"] = "4096",
        });
        var room = Rooms.Unique("replay-bounded");
        var url = await LeftInRoomAsync(server, room);
        await using var publisher = await TestClient.ConnectAsync(server);
        var sent = new List<string>();
        for (var i = 0; i < 20; i++)
        {
            sent.Add(await publisher.SendAsync(room, $"{i:D2} " + new string('x', 1000)));
        }

        await using var back = await TestClient.ConnectAsync(url);
        await back.WaitForAsync(m => m.Id == sent[^1], "the newest message, replayed");
        var marker = await publisher.SendAsync(room, "after the replay");
        await back.WaitForAsync(m => m.Id == marker, "a message after the replay, live");

        var replayed = back.Received.Where(m => sent.Contains(m.Id)).Select(m => m.Id).ToList();
        Assert.InRange(replayed.Count, 1, 5); // up to the message whose text crosses the budget
        Assert.Equal(sent.TakeLast(replayed.Count), replayed);
    }

    [Fact]
    public async Task RestoredLegacySessionGetsWhatItMissedEvenAfterANewerMessageArrivedLive()
    {
        var (server, history) = await StartAsync();
        await using var _ = server;
        var room = Rooms.Unique("legacy-replay");
        var query = $"session={Guid.NewGuid():N}&format=envelope";
        await using (var first = await LegacyClient.ConnectAsync(server, "/", query))
        {
            await first.SendAsync(new JsonObject { ["type"] = "RESUME", ["room"] = room }.ToJsonString());
            await first.WaitForJsonAsync(j => (string?)j["type"] == "RESUME", "the RESUME answer");
        }

        await using var publisher = await TestClient.ConnectAsync(server);
        var missed = await SendWhileAwayAsync(publisher, room);

        history.Hold();
        await using var back = await LegacyClient.ConnectAsync(server, "/", query);
        await history.Reached.Task.WaitAsync(Poll.DefaultTimeout);
        var live = await publisher.SendAsync(room, "sent during the restore");
        await back.WaitForJsonAsync(j => IsMessage(j, room, live), "the message sent during the restore, live");
        Assert.DoesNotContain(back.Json(), j => missed.Any(id => IsMessage(j, room, id)));

        history.Release();
        await Poll.UntilAsync(() => missed.All(id => back.Json().Any(j => IsMessage(j, room, id))), "the messages sent while away, replayed");
    }

    [Fact]
    public async Task ASessionWhoseMissedMessagesCannotBeReadIsCutAndGetsThemOnItsNextConnection()
    {
        var (server, history) = await StartAsync();
        await using var _ = server;
        var room = Rooms.Unique("replay-fails");
        var url = await LeftInRoomAsync(server, room);

        await using var publisher = await TestClient.ConnectAsync(server);
        var missed = await SendWhileAwayAsync(publisher, room);

        // The first restore cannot read the room's history. Skipping that room's replay would lose its messages for
        // good; the connection is cut instead, and the client's next one (automatic reconnect) replays them.
        history.FailNext();
        var received = new System.Collections.Concurrent.ConcurrentQueue<RoomMessage>();
        await using var back = ReturningClient.Build(url, retries: 100, delay: TimeSpan.FromMilliseconds(100));
        back.On<RoomMessage>(nameof(IRoomClient.ReceiveMessage), received.Enqueue);
        await back.StartRetryingAsync();

        await Poll.UntilAsync(() => missed.All(id => received.Any(m => m.Room == room && m.Id == id)), "the messages sent while away, replayed by a later connection");
        Assert.True(history.Failed, "the first replay read was made to fail");
    }

    private static bool IsMessage(JsonObject frame, string room, string id) =>
        (string?)frame["type"] == "MESSAGE" && (string?)frame["room"] == room && (string?)frame["id"] == id;
}
