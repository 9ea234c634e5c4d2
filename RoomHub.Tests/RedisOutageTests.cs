using System.Diagnostics;
using System.Net;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Client;
using RoomHub.Contracts;
using RoomHub.Tests.Infrastructure;

namespace RoomHub.Tests;

[Collection(IsolatedCollection.Name)]
public sealed class RedisOutageTests
{
    [Fact]
    public async Task RedisKilledAndRestartedIsSurvivedHonestly()
    {
        // A Redis of this test's own, since it is killed.
        await using var redis = new RedisServer();
        await redis.StartAsync();
        await using var cluster = await RoomHubCluster.StartAsync(instances: 2, redis: redis);
        var room = Rooms.Unique("outage");
        await using var sender = await TestClient.ConnectAsync(cluster[0]);
        await using var receiver = await TestClient.ConnectAsync(cluster[1]);
        await receiver.SubscribeAsync(room);
        await using var legacy = await LegacyClient.ConnectAsync(cluster[1]);
        await legacy.SubscribeAsync(room);

        await legacy.WaitUntilInRoomAsync(sender, room);
        var before = await sender.SendAsync(room, "before");
        await receiver.WaitForAsync(m => m.Id == before, "delivery before the outage");
        await legacy.WaitForFrameAsync("before");
        using var http = new HttpClient { BaseAddress = cluster[0].BaseAddress };

        redis.Kill();

        // Sends fail fast and clearly; nobody is disconnected; the instance still accepts new clients; it says it is not ready.
        await Poll.UntilAsync(async () => (await http.GetAsync("/health")).StatusCode == HttpStatusCode.ServiceUnavailable, "/health to report not ready");
        var clock = Stopwatch.StartNew();
        var error = await Assert.ThrowsAsync<HubException>(() => sender.SendAsync(room, "during"));
        Assert.InRange(clock.Elapsed, TimeSpan.Zero, TimeSpan.FromSeconds(2));
        Assert.Contains(RoomErrorCodes.SendFailed + ": ", error.Message, StringComparison.Ordinal);
        await legacy.SendMessageAsync(room, "legacy during");
        await legacy.WaitForErrorAsync(RoomErrorCodes.SendFailed);
        await using var newcomer = await TestClient.ConnectAsync(cluster[0]);

        // A room that has members on the instance can be joined and left without Redis; a room that has none cannot.
        await using var bystander = await TestClient.ConnectAsync(cluster[1]);
        await bystander.SubscribeAsync(room);
        await bystander.UnsubscribeAsync(room);
        var refused = await Assert.ThrowsAsync<HubException>(() => bystander.SubscribeAsync(Rooms.Unique("nobody-here")));
        Assert.Contains(RoomErrorCodes.Unavailable + ": ", refused.Message, StringComparison.Ordinal);
        Assert.Equal(HubConnectionState.Connected, sender.Connection.State);
        Assert.Equal(HubConnectionState.Connected, receiver.Connection.State);
        Assert.Equal(System.Net.WebSockets.WebSocketState.Open, legacy.Socket.State);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/alive")).StatusCode);

        await redis.StartAsync();
        var back = Stopwatch.StartNew();

        // Within 2 s of Redis answering again, sends succeed and reach the rooms that existed before, on both instances.
        var after = await sender.SendOnceAcceptedAsync(room, "after", TimeSpan.FromSeconds(2));
        var recovery = back.Elapsed;

        // The other instance may resubscribe a moment after this send: what it missed meanwhile is re-sent from history.
        await receiver.WaitForAsync(m => m.Id == after, "cross-instance delivery after the outage", TimeSpan.FromSeconds(3));
        await legacy.WaitForFrameAsync("after", TimeSpan.FromSeconds(3));
        var later = await sender.SendAsync(room, "later");
        await receiver.WaitForAsync(m => m.Id == later, "live cross-instance delivery", TimeSpan.FromSeconds(2));
        await Poll.UntilAsync(async () => (await http.GetAsync("/health")).StatusCode == HttpStatusCode.OK, "/health to report ready again");
        Assert.InRange(recovery, TimeSpan.Zero, TimeSpan.FromSeconds(2));
    }

    [Fact]
    public async Task RedisThatStopsAnsweringFailsSendsInBoundedTimeAndIsSurvived()
    {
        // A Redis that keeps its connections open and answers nothing (a stalled host, a paused VM): no connection error
        // arrives, so only the operation timeout (RoomHub:RedisOperationTimeout, 1.5 s) can tell.
        await using var redis = new RedisServer();
        await redis.StartAsync();
        await using var cluster = await RoomHubCluster.StartAsync(instances: 2, redis: redis);
        var room = Rooms.Unique("stall");
        await using var sender = await TestClient.ConnectAsync(cluster[0]);
        await using var receiver = await TestClient.ConnectAsync(cluster[1]);
        await receiver.SubscribeAsync(room);
        var before = await sender.SendAsync(room, "before");
        await receiver.WaitForAsync(m => m.Id == before, "delivery before the stall");

        redis.Freeze(true);
        try
        {
            var clock = Stopwatch.StartNew();
            var error = await Assert.ThrowsAsync<HubException>(() => sender.SendAsync(room, "during"));
            Assert.InRange(clock.Elapsed, TimeSpan.Zero, TimeSpan.FromSeconds(4));
            Assert.Contains(RoomErrorCodes.SendFailed + ": ", error.Message, StringComparison.Ordinal);

            // A returning session cannot be restored: it is cut within the same bound, not left hanging.
            var session = Guid.NewGuid().ToString("N");
            clock.Restart();
            await using var returning = ReturningClient.Build(new Uri(cluster[1].HubUrl + "?session=" + session));
            var closed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            returning.Closed += _ => { closed.TrySetResult(); return Task.CompletedTask; };
            try
            {
                await returning.StartAsync();
                await closed.Task.WaitAsync(TimeSpan.FromSeconds(10));
            }
            catch (Exception ex) when (ex is not TimeoutException)
            {
                // Cut before the handshake's answer was read.
            }

            Assert.InRange(clock.Elapsed, TimeSpan.Zero, TimeSpan.FromSeconds(5));
            Assert.Equal(HubConnectionState.Connected, sender.Connection.State);
            Assert.Equal(HubConnectionState.Connected, receiver.Connection.State);
        }
        finally
        {
            redis.Freeze(false);
        }

        // Once Redis answers again, sends succeed and reach the other instance.
        var after = await sender.SendOnceAcceptedAsync(room, "after", TimeSpan.FromSeconds(10));
        await receiver.WaitForAsync(m => m.Id == after, "cross-instance delivery after the stall", TimeSpan.FromSeconds(5));
    }

    /// <summary>Joins the room as soon as Redis answers again: a join refused meanwhile is tried again.</summary>
    private static Task JoinOnceRedisAnswersAsync(TestClient client, string room) => Poll.UntilAsync(async () =>
    {
        try
        {
            await client.SubscribeAsync(room);
            return true;
        }
        catch (HubException)
        {
            return false;
        }
    }, "the join to succeed once Redis answers");

    [Fact]
    public async Task JoinsAndLeavesThatRedisLeftUnansweredLeaveTheInstanceReceivingTheRoomCorrectly()
    {
        // A stall, not a lost connection: the instance still takes Redis for connected, so the backplane is asked to
        // subscribe and unsubscribe, and Redis never answers.
        await using var redis = new RedisServer();
        await redis.StartAsync();
        await using var cluster = await RoomHubCluster.StartAsync(instances: 2, redis: redis);
        var fresh = Rooms.Unique("stalled-join");
        var solo = Rooms.Unique("stalled-leave");
        await using var sender = await TestClient.ConnectAsync(cluster[0]);
        await using var joiner = await TestClient.ConnectAsync(cluster[1]);
        await using var leaver = await TestClient.ConnectAsync(cluster[1]);
        await leaver.SubscribeAsync(solo);
        var held = Rooms.Unique("stalled-resume");
        await using var holder = await TestClient.ConnectAsync(cluster[1]);
        await holder.SubscribeAsync(held);
        await using var resumer = await TestClient.ConnectAsync(cluster[1]);

        redis.Freeze(true);
        try
        {
            // The first join of a room on the instance needs Redis: refused, nothing changed.
            var refused = await Assert.ThrowsAsync<HubException>(() => joiner.SubscribeAsync(fresh));
            Assert.Contains(RoomErrorCodes.Unavailable + ": ", refused.Message, StringComparison.Ordinal);

            // The last member's leave has taken effect on the instance when Redis fails to answer it, so it succeeds.
            await leaver.UnsubscribeAsync(solo);

            // A resume of a room with members on the instance joins without Redis, then cannot read history: refused,
            // and not left in the room.
            var unread = await Assert.ThrowsAsync<HubException>(() => resumer.Connection.InvokeAsync<ResumeResult>(nameof(IRoomHub.Resume), held, ""));
            Assert.Contains(RoomErrorCodes.Unavailable + ": ", unread.Message, StringComparison.Ordinal);
        }
        finally
        {
            redis.Freeze(false);
        }

        // Once Redis answers, the room joined again reaches its members on that instance: the one refused and a newcomer.
        await JoinOnceRedisAnswersAsync(joiner, fresh);
        await using var newcomer = await TestClient.ConnectAsync(cluster[1]);
        await newcomer.SubscribeAsync(fresh);
        var toSolo = await sender.SendOnceAcceptedAsync(solo, "to the room left", TimeSpan.FromSeconds(10));
        var toHeld = await sender.SendAsync(held, "to the room not resumed");
        var after = await sender.SendAsync(fresh, "after");
        await joiner.WaitForAsync(m => m.Id == after, "the room joined after the stall, on the refused member");
        await newcomer.WaitForAsync(m => m.Id == after, "the room joined after the stall, on a newcomer");

        await holder.WaitForAsync(m => m.Id == toHeld, "the room of the refused resume, on its member");

        // And the room left during the stall stays left, as does the one whose resume was refused.
        await leaver.SubscribeAsync(fresh);
        await resumer.SubscribeAsync(fresh);
        var marker = await sender.SendAsync(fresh, "marker");
        await leaver.WaitForAsync(m => m.Id == marker, "a later message of a room the leaver is in");
        await resumer.WaitForAsync(m => m.Id == marker, "a later message of a room the resumer is in");
        Assert.DoesNotContain(leaver.Received, m => m.Id == toSolo);
        Assert.DoesNotContain(resumer.Received, m => m.Id == toHeld);
    }

    [Fact]
    public async Task AJoinMadeWhileAnEarlierJoinOfTheRoomHangsIsNotLeftWithoutTheRoom()
    {
        // The first join of a room hangs on a stalled Redis; a second join of the same room comes in meanwhile. Whatever
        // each is answered, one answered "joined" must receive the room once Redis is back.
        await using var redis = new RedisServer();
        await redis.StartAsync();
        await using var cluster = await RoomHubCluster.StartAsync(instances: 2, redis: redis);
        var room = Rooms.Unique("stalled-joins");
        await using var sender = await TestClient.ConnectAsync(cluster[0]);
        await using var first = await TestClient.ConnectAsync(cluster[1]);
        await using var second = await TestClient.ConnectAsync(cluster[1]);

        bool secondJoined;
        redis.Freeze(true);
        try
        {
            var firstJoin = first.SubscribeAsync(room);
            await Task.Delay(200); // The first join is under way (it hangs for the operation timeout).
            var secondJoin = second.SubscribeAsync(room);
            await Assert.ThrowsAsync<HubException>(() => firstJoin);
            secondJoined = await secondJoin.ContinueWith(t => t.IsCompletedSuccessfully);
        }
        finally
        {
            redis.Freeze(false);
        }

        if (!secondJoined)
        {
            await JoinOnceRedisAnswersAsync(second, room);
        }

        var after = await sender.SendOnceAcceptedAsync(room, "after", TimeSpan.FromSeconds(10));
        await second.WaitForAsync(m => m.Id == after, $"the room on the second member (its join during the stall {(secondJoined ? "succeeded" : "failed")})");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task AnInstanceStopsCleanlyWhileRedisIsAwayOrDoesNotAnswer(bool frozen)
    {
        // Stopping releases the backplane's subscriptions with a blocking call to Redis, which fails while Redis is
        // away: the stop must still end, without an error, so the process exits as it should.
        await using var redis = new RedisServer();
        await redis.StartAsync();
        var cluster = await RoomHubCluster.StartAsync(instances: 1, redis: redis);
        await using (var member = await TestClient.ConnectAsync(cluster[0]))
        {
            await member.SubscribeAsync(Rooms.Unique("stopping"));
        }

        if (frozen)
        {
            redis.Freeze(true);
        }
        else
        {
            redis.Kill();
        }

        try
        {
            var clock = Stopwatch.StartNew();
            await cluster.DisposeAsync();
            Assert.InRange(clock.Elapsed, TimeSpan.Zero, TimeSpan.FromSeconds(10));
        }
        finally
        {
            redis.Freeze(false);
        }
    }

    [Fact]
    public async Task ASessionThatReturnsWhileRedisIsAwayIsBackInItsRoomsOnceRedisIs()
    {
        await using var redis = new RedisServer();
        await redis.StartAsync();
        await using var cluster = await RoomHubCluster.StartAsync(instances: 2, redis: redis);
        var room = Rooms.Unique("outage-session");
        var session = Guid.NewGuid().ToString("N");
        await using (var before = await TestClient.ConnectAsync(new Uri(cluster[1].HubUrl + "?session=" + session)))
        {
            await before.SubscribeAsync(room);
        }

        // Redis crashes, with its data saved (a Redis without persistence would come back without the session).
        await redis.SaveAsync();
        redis.Kill();
        using var http = new HttpClient { BaseAddress = cluster[0].BaseAddress };
        await Poll.UntilAsync(async () => (await http.GetAsync("/health")).StatusCode == HttpStatusCode.ServiceUnavailable, "/health to report not ready");

        // Its rooms cannot be restored while Redis is away: the connection is dropped, not refused, so the client keeps
        // reconnecting instead of giving up, and is back in its rooms once Redis is.
        var received = new System.Collections.Concurrent.ConcurrentQueue<RoomMessage>();
        var states = new System.Collections.Concurrent.ConcurrentQueue<string>();
        await using var returning = ReturningClient.Build(new Uri(cluster[0].HubUrl + "?session=" + session), retries: 200, delay: TimeSpan.FromMilliseconds(250));
        returning.On<RoomMessage>(nameof(IRoomClient.ReceiveMessage), received.Enqueue);
        returning.Reconnecting += ex => { states.Enqueue("reconnecting: " + ex?.Message); return Task.CompletedTask; };
        returning.Reconnected += _ => { states.Enqueue("reconnected"); return Task.CompletedTask; };
        returning.Closed += ex => { states.Enqueue("closed: " + ex?.Message); return Task.CompletedTask; };
        await returning.StartRetryingAsync();
        states.Enqueue("started");
        try
        {
            await Poll.UntilAsync(() => states.Any(s => s.StartsWith("reconnecting", StringComparison.Ordinal) || s.StartsWith("closed", StringComparison.Ordinal)),
                "the connection to be dropped while its session cannot be restored");
        }
        catch (TimeoutException)
        {
            throw new TimeoutException("not dropped: " + string.Join(" | ", states) + " state " + returning.State);
        }
        Assert.DoesNotContain(states, s => s.StartsWith("closed", StringComparison.Ordinal));

        await redis.StartAsync();
        await using var sender = await TestClient.ConnectAsync(cluster[1]);
        await Poll.UntilAsync(async () =>
        {
            try
            {
                await sender.SendAsync(room, "after");
            }
            catch (HubException)
            {
            }

            return received.Any(m => m.Room == room);
        }, "the returning session to receive in its room once Redis is back: " + string.Join(" | ", states), TimeSpan.FromSeconds(30));
        Assert.Equal(HubConnectionState.Connected, returning.State);
    }
}
