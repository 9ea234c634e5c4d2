using System.Net;
using Microsoft.Extensions.DependencyInjection;
using RoomHub.Server.Internal.Engine;
using RoomHub.Tests.Infrastructure;

namespace RoomHub.Tests;

/// <summary>
/// Instances need not agree with each other, or with Redis, on the time: whatever one instance writes and another
/// compares (a presence entry's expiry, a session's last-seen time) and whatever is compared with message ids (the start
/// of a session's replay, of a backplane outage's) is dated by Redis's clock. One instance here runs well off the
/// machine's clock, as a node whose time sync has failed would; the other and Redis keep the machine's time.
/// </summary>
public sealed class ClockSkewTests
{
    private static readonly TimeSpan Ahead = TimeSpan.FromMinutes(10);

    private static async Task<RoomHubInstance> StartAsync(string prefix, TimeSpan skew, string? redisUrl = null)
    {
        redisUrl ??= (await RedisServer.Shared).Url;
        return await RoomHubInstance.StartAsync(
            new Dictionary<string, string?> { ["RoomHub:Redis"] = redisUrl, ["RoomHub:ChannelPrefix"] = prefix },
            replace: services => services.AddSingleton<TimeProvider>(new SkewedClock(skew)));
    }

    private static string NewPrefix() => "skew-" + Guid.NewGuid().ToString("N")[..12];

    [Fact]
    public async Task ASessionLastSeenOnAnInstanceWhoseClockIsAheadGetsWhatItMissedOnAnother()
    {
        var prefix = NewPrefix();
        await using var ahead = await StartAsync(prefix, Ahead);
        await using var right = await StartAsync(prefix, TimeSpan.Zero);
        var room = Rooms.Unique("skewed-session");
        var session = Guid.NewGuid().ToString("N");
        await using (var first = await TestClient.ConnectAsync(new Uri(ahead.HubUrl + "?session=" + session)))
        {
            await first.SubscribeAsync(room);
        }

        // The instance records the session's last-seen time once it has seen the connection go.
        var store = right.Services.GetRequiredService<ISessionStore>();
        await Poll.UntilAsync(async () => (await store.GetAsync("anonymous", session, CancellationToken.None))?.LastSeen > DateTimeOffset.UnixEpoch, "the session's close to be recorded");

        await using var publisher = await TestClient.ConnectAsync(right);
        var missed = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            missed.Add(await publisher.SendAsync(room, $"while away {i}"));
        }

        await using var back = await TestClient.ConnectAsync(new Uri(right.HubUrl + "?session=" + session));
        await Poll.UntilAsync(() => missed.All(id => back.Received.Any(m => m.Id == id)), "the messages sent while away, replayed");
    }

    [Fact]
    public async Task PresenceCountsTheMembersOfAnInstanceWhoseClockIsBehindAndOfOneWhoseClockIsAhead()
    {
        var prefix = NewPrefix();
        await using var behind = await StartAsync(prefix, -Ahead);
        await using var right = await StartAsync(prefix, TimeSpan.Zero);
        await using var early = await StartAsync(prefix, Ahead);
        var room = Rooms.Unique("skewed-presence");
        await using var a = await TestClient.ConnectAsync(behind);
        await using var b = await TestClient.ConnectAsync(right);
        await using var c = await TestClient.ConnectAsync(early);
        await a.SubscribeAsync(room);
        await b.SubscribeAsync(room);
        await c.SubscribeAsync(room);

        foreach (var observer in new[] { a, b, c })
        {
            Assert.Equal(3, (await observer.PresenceAsync(room))!.Connections);
        }

        // Gone is gone on every instance, however far ahead the clock of the one that counted it.
        await c.DisposeAsync();
        await Poll.UntilAsync(async () => (await a.PresenceAsync(room))?.Connections == 2, "the member that left to be gone");
        Assert.Equal(2, (await b.PresenceAsync(room))!.Connections);
    }

    [Fact]
    public async Task MessagesAcceptedWhileTheBackplaneOfAnInstanceWhoseClockIsAheadWasCutReachItsMembers()
    {
        var redis = await RedisServer.Shared;
        await using var link = new TcpForwarder(redis.Port);
        var prefix = NewPrefix();
        await using var ahead = await StartAsync(prefix, Ahead, $"redis://127.0.0.1:{link.Port}");
        await using var right = await StartAsync(prefix, TimeSpan.Zero);
        var room = Rooms.Unique("skewed-backplane");
        await using var member = await TestClient.ConnectAsync(ahead);
        await member.SubscribeAsync(room);
        await using var publisher = await TestClient.ConnectAsync(right);
        var before = await publisher.SendAsync(room, "before");
        await member.WaitForAsync(m => m.Id == before, "delivery before the cut");
        using var http = new HttpClient { BaseAddress = ahead.BaseAddress };

        link.Hold();
        await Poll.UntilAsync(async () => (await http.GetAsync("/health")).StatusCode == HttpStatusCode.ServiceUnavailable, "the instance to see Redis gone");
        var missed = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            missed.Add(await publisher.SendAsync(room, $"during the cut {i}"));
        }

        link.Release();
        await Poll.UntilAsync(() => missed.All(id => member.Received.Any(m => m.Id == id)), "the messages accepted during the cut, re-sent from history");
    }
}
