using Microsoft.AspNetCore.SignalR.Client;
using RoomHub.Contracts;
using RoomHub.Tests.Infrastructure;

namespace RoomHub.Tests;

/// <summary>Instances run as processes here, so that one can be killed with SIGKILL mid-flight.</summary>
public sealed class InstanceLossTests
{
    private static async Task<(RoomHubProcess A, RoomHubProcess B)> StartPairAsync(Dictionary<string, string?>? extra = null)
    {
        var redis = await RedisServer.Shared;
        var settings = new Dictionary<string, string?>(extra ?? [])
        {
            ["REDIS_URL"] = redis.Url,
            ["RoomHub:ChannelPrefix"] = "loss-" + Guid.NewGuid().ToString("N")[..12],
        };
        var started = await Task.WhenAll(RoomHubProcess.StartAsync(settings), RoomHubProcess.StartAsync(settings));
        return (started[0], started[1]);
    }

    private static async Task<TestClient> ConnectAsync(Uri hubUrl, string? session = null)
    {
        var url = session is null ? hubUrl : new Uri(hubUrl + "?session=" + session);
        return await TestClient.ConnectAsync(url);
    }

    [Fact]
    public async Task ClientOfAKilledInstanceResumesThroughAnotherAndMissesNothing()
    {
        var (a, b) = await StartPairAsync();
        await using var _a = a;
        await using var _b = b;
        var room = Rooms.Unique("killed");
        var victim = await ConnectAsync(a.HubUrl);
        await victim.SubscribeAsync(room);
        await using var publisher = await ConnectAsync(b.HubUrl);

        var published = new List<string>();
        for (var i = 0; i < 20; i++)
        {
            published.Add(await publisher.SendAsync(room, $"before {i}"));
        }

        await victim.WaitForAsync(m => m.Id == published[^1], "the messages before the kill");
        var lastId = victim.Received.Last(m => m.Room == room).Id;

        // The instance dies; the publisher keeps going while the client is away and while it comes back.
        a.Kill();
        using var stop = new CancellationTokenSource();
        var publishing = Task.Run(async () =>
        {
            for (var i = 0; !stop.IsCancellationRequested; i++)
            {
                var id = await publisher.SendAsync(room, $"after {i}");
                lock (published)
                {
                    published.Add(id);
                }

                // Steady traffic, inside the per-connection send limit (100 messages/s).
                await Task.Delay(15);
            }
        });
        await Poll.UntilAsync(() => { lock (published) { return published.Count > 60; } }, "messages published while the client is away");

        await using var back = await ConnectAsync(b.HubUrl);
        var resumed = await back.Connection.InvokeAsync<ResumeResult>(nameof(IRoomHub.Resume), room, lastId);
        await Poll.UntilAsync(() => back.Received.Count(m => m.Room == room) >= 20, "live messages after the resume");
        await stop.CancelAsync();
        await publishing;
        var finalId = await publisher.SendAsync(room, "final");
        published.Add(finalId);
        await back.WaitForAsync(m => m.Id == finalId, "the final message");

        Assert.True(resumed.Recovered);
        var had = victim.Received.Where(m => m.Room == room).Select(m => m.Id)
            .Concat(resumed.Messages.Select(m => m.Id))
            .Concat(back.Received.Where(m => m.Room == room).Select(m => m.Id))
            .ToHashSet();
        Assert.All(published, id => Assert.Contains(id, had));
        await victim.DisposeAsync();
    }

    [Fact]
    public async Task SessionRoomsSurviveAKilledInstanceWithoutAClientCall()
    {
        var (a, b) = await StartPairAsync();
        await using var _a = a;
        await using var _b = b;
        var session = Guid.NewGuid().ToString();
        var (red, blue) = (Rooms.Unique("red"), Rooms.Unique("blue"));
        var first = await ConnectAsync(a.HubUrl, session);
        await first.SubscribeAsync(red);
        await first.SubscribeAsync(blue);
        await using var publisher = await ConnectAsync(b.HubUrl);

        a.Kill();
        var whileAway = await publisher.SendAsync(red, "sent while away");

        await using var second = await ConnectAsync(b.HubUrl, session);
        var toRed = await publisher.SendAsync(red, "red again");
        var toBlue = await publisher.SendAsync(blue, "blue again");

        await second.WaitForAsync(m => m.Id == toRed, "a message in the first restored room");
        await second.WaitForAsync(m => m.Id == toBlue, "a message in the second restored room");
        await second.WaitForAsync(m => m.Id == whileAway, "the message sent while the client was away, replayed");
        await first.DisposeAsync();
    }

    [Fact]
    public async Task KilledInstancesMembersLeavePresenceWithinTheTtl()
    {
        var (a, b) = await StartPairAsync(new() { ["RoomHub:Presence:Ttl"] = "00:00:03" });
        await using var _a = a;
        await using var _b = b;
        var room = Rooms.Unique("presence-kill");
        var doomed = new[] { await ConnectAsync(a.HubUrl), await ConnectAsync(a.HubUrl) };
        await using var survivor = await ConnectAsync(b.HubUrl);
        foreach (var client in doomed.Append(survivor))
        {
            await client.SubscribeAsync(room);
        }

        Assert.Equal(3, (await survivor.Connection.InvokeAsync<RoomPresence>(nameof(IRoomHub.GetPresence), room)).Connections);

        a.Kill();
        var killedAt = DateTime.UtcNow;
        await Poll.UntilAsync(async () => (await survivor.PresenceAsync(room))?.Connections == 1,
            "the killed instance's members to leave presence", TimeSpan.FromSeconds(30));
        Assert.InRange(DateTime.UtcNow - killedAt, TimeSpan.Zero, TimeSpan.FromSeconds(10));
        foreach (var client in doomed)
        {
            await client.DisposeAsync();
        }
    }

    [Fact]
    public async Task JavaScriptClientWithAutomaticReconnectKeepsReceivingAfterItsInstanceIsKilled()
    {
        var (a, b) = await StartPairAsync();
        await using var _a = a;
        await using var _b = b;
        await using var balancer = new TcpForwarder(a.Port);
        var room = Rooms.Unique("js-reconnect");
        var session = Guid.NewGuid().ToString();
        await using var js = NodeProcess.Start("signalr-client.mjs", new Uri(balancer.BaseAddress, "hubs/rooms?session=" + session).ToString(), "reconnect");
        await js.WaitForEventAsync("ready");
        await js.SendAsync(new { op = "subscribe", room });
        await js.WaitForEventAsync("done", e => (string?)e["op"] == "subscribe");
        await using var publisher = await ConnectAsync(b.HubUrl);
        var before = await publisher.SendAsync(room, "before");
        await js.WaitForEventAsync("message", e => (string?)e["message"]?["id"] == before);

        balancer.Retarget(b.Port);
        a.Kill();
        var whileAway = await publisher.SendAsync(room, "while away");
        await js.WaitForEventAsync("reconnected", timeout: TimeSpan.FromSeconds(30));
        var after = await publisher.SendAsync(room, "after");

        await js.WaitForEventAsync("message", e => (string?)e["message"]?["id"] == after);
        await js.WaitForEventAsync("message", e => (string?)e["message"]?["id"] == whileAway);
    }
}
