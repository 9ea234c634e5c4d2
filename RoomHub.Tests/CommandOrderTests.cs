using Microsoft.AspNetCore.SignalR.Client;
using RoomHub.Contracts;
using RoomHub.Tests.Infrastructure;

namespace RoomHub.Tests;

/// <summary>
/// A connection's sends overlap on the server (their round trips to Redis are pipelined), yet every command takes
/// effect in the order the client sent it. These clients send without waiting for one call to finish before the next.
/// </summary>
public sealed class CommandOrderTests(ClusterFixture fixture) : IClassFixture<ClusterFixture>
{
    private RoomHubCluster Cluster => fixture.Cluster;

    [Fact]
    public async Task SendsIssuedTogetherReachTheRoomAndHistoryInTheOrderSent()
    {
        const int count = 60;
        var room = Rooms.Unique();
        await using var sender = await TestClient.ConnectAsync(Cluster[0]);
        await using var receiver = await TestClient.ConnectAsync(Cluster[1]);
        await receiver.SubscribeAsync(room);

        var sends = Enumerable.Range(0, count).Select(i => sender.SendAsync(room, $"m{i}")).ToArray();
        var ids = await Task.WhenAll(sends);

        await receiver.WaitForCountAsync(room, count);
        Assert.Equal(Enumerable.Range(0, count).Select(i => $"m{i}"), receiver.Received.Where(m => m.Room == room).Select(m => m.Message));
        Assert.Equal(ids, receiver.Received.Where(m => m.Room == room).Select(m => m.Id));
        var history = await receiver.Connection.InvokeAsync<IReadOnlyList<RoomMessage>>(nameof(IRoomHub.GetHistory), room, count);
        Assert.Equal(ids, history.Select(m => m.Id));
    }

    /// <summary>
    /// Several connections of one instance sending to a room at once: every member, on either instance, gets their
    /// messages in the order of their ids, so every member sees the same order. Also with no Redis, in memory.
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task MessagesAcceptedByOneInstanceReachEveryMemberInIdOrder(bool redis)
    {
        const int senders = 5, each = 60;
        await using var alone = redis ? null : await RoomHubInstance.StartAsync(new Dictionary<string, string?>());
        var accepting = alone ?? Cluster[0];
        var room = Rooms.Unique("id-order");
        var members = new List<TestClient>();
        foreach (var instance in redis ? [Cluster[0], Cluster[1], Cluster[0]] : new[] { accepting, accepting, accepting })
        {
            var member = await TestClient.ConnectAsync(instance);
            await member.SubscribeAsync(room);
            members.Add(member);
        }

        var clients = await Task.WhenAll(Enumerable.Range(0, senders).Select(_ => TestClient.ConnectAsync(accepting)));
        try
        {
            await Task.WhenAll(clients.Select((client, c) => Task.WhenAll(Enumerable.Range(0, each).Select(i => client.SendAsync(room, $"{c}:{i}")))));

            foreach (var member in members)
            {
                await member.WaitForCountAsync(room, senders * each);
                var ids = member.Received.Where(m => m.Room == room).Select(m => Server.Internal.Engine.StreamId.Parse(m.Id)).ToArray();
                Assert.Equal(ids.Order(), ids);
            }
        }
        finally
        {
            foreach (var client in clients.Concat(members))
            {
                await client.DisposeAsync();
            }
        }
    }

    /// <summary>
    /// A send whose store fails gives up its place in the room's line only after the sends before it: a send behind it
    /// must not overtake an earlier one still under way. Here the first message has its id but its store's answer is
    /// held, the second's store fails, and the third must still reach the member after the first.
    /// </summary>
    [Fact]
    public async Task ASendWhoseStoreFailsLetsNoLaterSendOvertakeAnEarlierOne()
    {
        AnswerHeldHistory? history = null;
        await using var server = await RoomHubInstance.StartAsync(new Dictionary<string, string?>(), replace: services =>
            services.Decorate<Server.Internal.Engine.IRoomHistory, AnswerHeldHistory>(inner => history = new AnswerHeldHistory(inner)));
        var room = Rooms.Unique("give-up");
        await using var member = await TestClient.ConnectAsync(server);
        await member.SubscribeAsync(room);
        await using var a = await TestClient.ConnectAsync(server);
        await using var b = await TestClient.ConnectAsync(server);
        await using var c = await TestClient.ConnectAsync(server);

        var first = a.SendAsync(room, "hold: first");
        await history!.Held.Task.WaitAsync(Poll.DefaultTimeout);
        await Assert.ThrowsAsync<Microsoft.AspNetCore.SignalR.HubException>(() => b.SendAsync(room, "fail: second"));
        var third = c.SendAsync(room, "third");
        await history.ThirdStored.Task.WaitAsync(Poll.DefaultTimeout);

        // Stored, the third would need only its publish to overtake the first: it must not reach the member meanwhile.
        var watched = System.Diagnostics.Stopwatch.StartNew();
        while (watched.Elapsed < TimeSpan.FromSeconds(1))
        {
            Assert.DoesNotContain(member.Received, m => m.Room == room);
            await Task.Delay(20);
        }

        history.Answer.TrySetResult();
        var ids = new[] { await first, await third };

        await member.WaitForCountAsync(room, 2);
        Assert.Equal(ids, member.Received.Where(m => m.Room == room).Select(m => m.Id));
    }

    /// <summary>Stores "hold:" messages at once (their ids are given) but answers only when told; "fail:" ones fail.</summary>
    private sealed class AnswerHeldHistory(Server.Internal.Engine.IRoomHistory inner) : Server.Internal.Engine.IRoomHistory
    {
        public TaskCompletionSource Held { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource Answer { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource ThirdStored { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task<RoomMessage> AppendAsync(string room, string text, DateTimeOffset sentAt, CancellationToken cancellationToken)
        {
            if (text.StartsWith("fail:", StringComparison.Ordinal))
            {
                return Task.FromException<RoomMessage>(new TimeoutException("The history append timed out (test)."));
            }

            var stored = inner.AppendAsync(room, text, sentAt, cancellationToken);
            if (text == "third")
            {
                ThirdStored.TrySetResult();
            }

            if (!text.StartsWith("hold:", StringComparison.Ordinal))
            {
                return stored;
            }

            Held.TrySetResult();
            return AnswerLaterAsync(stored);
        }

        private async Task<RoomMessage> AnswerLaterAsync(Task<RoomMessage> stored)
        {
            await Answer.Task;
            return await stored;
        }

        public Task<IReadOnlyList<RoomMessage>> GetLatestAsync(string room, int limit, long maxBytes, CancellationToken cancellationToken) =>
            inner.GetLatestAsync(room, limit, maxBytes, cancellationToken);

        public Task<ResumeResult> GetAfterAsync(string room, Server.Internal.Engine.StreamId? after, TimeSpan lookBack, long maxBytes, CancellationToken cancellationToken) =>
            inner.GetAfterAsync(room, after, lookBack, maxBytes, cancellationToken);
    }

    [Fact]
    public async Task SendsQueuedBehindAnotherCommandAreStoredInTheOrderSent()
    {
        // The sends wait together for the join before them; when it is done they must still be stored one after another.
        const int count = 30;
        for (var round = 0; round < 3; round++)
        {
            var room = Rooms.Unique();
            await using var client = await TestClient.ConnectAsync(Cluster[0]);

            var joining = client.SubscribeAsync(room);
            var sends = Enumerable.Range(0, count).Select(i => client.SendAsync(room, $"m{i}")).ToArray();
            await joining;
            var ids = await Task.WhenAll(sends);

            var history = await client.Connection.InvokeAsync<IReadOnlyList<RoomMessage>>(nameof(IRoomHub.GetHistory), room, count);
            Assert.Equal(Enumerable.Range(0, count).Select(i => $"m{i}"), history.Select(m => m.Message));
            Assert.Equal(ids, history.Select(m => m.Id));
            var resumed = await client.Connection.InvokeAsync<ResumeResult>(nameof(IRoomHub.Resume), room, ids[0]);
            Assert.Equal(ids, resumed.Messages.Select(m => m.Id)); // ids[0] itself: the resume's look-back.
        }
    }

    [Fact]
    public async Task AReadSentAfterSendsSeesThemAll()
    {
        const int count = 30;
        var room = Rooms.Unique();
        await using var client = await TestClient.ConnectAsync(Cluster[0]);

        var sends = Enumerable.Range(0, count).Select(i => client.SendAsync(room, $"m{i}")).ToArray();
        var reading = client.Connection.InvokeAsync<IReadOnlyList<RoomMessage>>(nameof(IRoomHub.GetHistory), room, 100);
        var ids = await Task.WhenAll(sends);

        Assert.Equal(ids, (await reading).Select(m => m.Id));
    }

    [Fact]
    public async Task ASendRightAfterAJoinReachesTheSender()
    {
        await using var client = await TestClient.ConnectAsync(Cluster[1]);
        for (var i = 0; i < 10; i++)
        {
            var room = Rooms.Unique();
            var joining = client.SubscribeAsync(room);
            var sending = client.SendAsync(room, "right after the join");
            await joining;
            var id = await sending;

            await client.WaitForAsync(m => m.Room == room && m.Id == id, "the sender's own message, sent before its join had finished");
        }
    }

    [Fact]
    public async Task ASendRightAfterALeaveDoesNotReachTheSender()
    {
        var room = Rooms.Unique();
        var marker = Rooms.Unique("marker");
        await using var client = await TestClient.ConnectAsync(Cluster[0]);
        await client.SubscribeAsync(room);
        await client.SubscribeAsync(marker);

        var leaving = client.UnsubscribeAsync(room);
        var sending = client.SendAsync(room, "after the leave");
        var markerId = client.SendAsync(marker, "marker");
        await Task.WhenAll(leaving, sending, markerId);

        await client.WaitForAsync(m => m.Room == marker && m.Id == markerId.Result, "the marker sent after everything else");
        Assert.DoesNotContain(client.Received, m => m.Room == room);
    }

    [Fact]
    public async Task ALegacyClientThatSubscribesAndSendsInOneBreathReceivesItsMessagesInOrder()
    {
        const int count = 40;
        var room = Rooms.Unique();
        await using var client = await LegacyClient.ConnectAsync(Cluster[0]);

        await client.SubscribeAsync(room);
        for (var i = 0; i < count; i++)
        {
            await client.SendMessageAsync(room, $"m{i}");
        }

        await client.WaitForFrameAsync($"m{count - 1}");
        Assert.Equal(Enumerable.Range(0, count).Select(i => $"m{i}"), client.Frames.Where(f => f.StartsWith('m')));
    }
}
