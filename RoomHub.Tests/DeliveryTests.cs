using RoomHub.Tests.Infrastructure;

namespace RoomHub.Tests;

public sealed class DeliveryTests(ClusterFixture fixture) : IClassFixture<ClusterFixture>
{
    private RoomHubCluster Cluster => fixture.Cluster;

    [Fact]
    public async Task MessageSentOnOneInstanceReachesSubscriberOnAnother()
    {
        var room = Rooms.Unique();
        await using var sender = await TestClient.ConnectAsync(Cluster[0]);
        await using var receiver = await TestClient.ConnectAsync(Cluster[1]);
        await receiver.SubscribeAsync(room);

        var id = await sender.SendAsync(room, "hello across instances");

        var message = await receiver.WaitForAsync(m => m.Id == id, "the message on the other instance");
        Assert.Equal(room, message.Room);
        Assert.Equal("hello across instances", message.Message);
        Assert.InRange(message.SentAt, DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddMinutes(1));
    }

    [Fact]
    public async Task MessageSentOnAnInstanceReachesSubscriberOnTheSameInstance()
    {
        var room = Rooms.Unique();
        await using var sender = await TestClient.ConnectAsync(Cluster[0]);
        await using var receiver = await TestClient.ConnectAsync(Cluster[0]);
        await receiver.SubscribeAsync(room);

        var id = await sender.SendAsync(room, "hello next door");

        var message = await receiver.WaitForAsync(m => m.Id == id, "the message on the same instance");
        Assert.Equal("hello next door", message.Message);
    }

    [Fact]
    public async Task SenderThatIsAMemberReceivesItsOwnMessage()
    {
        var room = Rooms.Unique();
        await using var client = await TestClient.ConnectAsync(Cluster[0]);
        await client.SubscribeAsync(room);

        var id = await client.SendAsync(room, "echo");

        await client.WaitForAsync(m => m.Id == id, "the sender's own message");
    }

    [Fact]
    public async Task OneConnectionReceivesFromSeveralRooms()
    {
        var (first, second) = (Rooms.Unique("a"), Rooms.Unique("b"));
        await using var sender = await TestClient.ConnectAsync(Cluster[1]);
        await using var receiver = await TestClient.ConnectAsync(Cluster[0]);
        await receiver.SubscribeAsync(first);
        await receiver.SubscribeAsync(second);

        var idA = await sender.SendAsync(first, "to a");
        var idB = await sender.SendAsync(second, "to b");

        // Ids are unique within a room, so a message is known by its room and its id.
        Assert.Equal("to a", (await receiver.WaitForAsync(m => m.Room == first && m.Id == idA, "the message in the first room")).Message);
        Assert.Equal("to b", (await receiver.WaitForAsync(m => m.Room == second && m.Id == idB, "the message in the second room")).Message);
    }

    [Fact]
    public async Task SubscribingTwiceDeliversOnce()
    {
        var room = Rooms.Unique();
        var marker = Rooms.Unique("marker");
        await using var sender = await TestClient.ConnectAsync(Cluster[0]);
        await using var receiver = await TestClient.ConnectAsync(Cluster[1]);
        await receiver.SubscribeAsync(room);
        await receiver.SubscribeAsync(room);
        await receiver.SubscribeAsync(marker);

        var id = await sender.SendAsync(room, "once");
        var markerId = await sender.SendAsync(marker, "after");

        // The marker was published after the message, by the same sender: once it is here, any duplicate would be too.
        await receiver.WaitForAsync(m => m.Room == marker && m.Id == markerId, "the marker");
        Assert.Single(receiver.Received, m => m.Room == room && m.Id == id);
    }

    [Fact]
    public async Task UnsubscribedConnectionStopsReceiving()
    {
        var room = Rooms.Unique();
        var marker = Rooms.Unique("marker");
        await using var sender = await TestClient.ConnectAsync(Cluster[0]);
        await using var receiver = await TestClient.ConnectAsync(Cluster[1]);
        await receiver.SubscribeAsync(room);
        await receiver.SubscribeAsync(marker);
        var before = await sender.SendAsync(room, "before");
        await receiver.WaitForAsync(m => m.Id == before, "the message sent while subscribed");

        await receiver.UnsubscribeAsync(room);
        var after = await sender.SendAsync(room, "after");
        var markerId = await sender.SendAsync(marker, "marker");

        await receiver.WaitForAsync(m => m.Room == marker && m.Id == markerId, "the marker");
        Assert.DoesNotContain(receiver.Received, m => m.Room == room && m.Id == after);
    }

    [Fact]
    public async Task NonMemberReceivesNothing()
    {
        var room = Rooms.Unique();
        var marker = Rooms.Unique("marker");
        await using var sender = await TestClient.ConnectAsync(Cluster[0]);
        await using var member = await TestClient.ConnectAsync(Cluster[1]);
        await using var outsider = await TestClient.ConnectAsync(Cluster[1]);
        await member.SubscribeAsync(room);
        await outsider.SubscribeAsync(marker);

        var id = await sender.SendAsync(room, "members only");
        var markerId = await sender.SendAsync(marker, "marker");

        await member.WaitForAsync(m => m.Id == id, "the member's message");
        await outsider.WaitForAsync(m => m.Room == marker && m.Id == markerId, "the outsider's marker");
        Assert.DoesNotContain(outsider.Received, m => m.Room == room);
    }

    [Fact]
    public async Task OneSendersMessagesArriveInOrderOnEveryInstance()
    {
        const int count = 200;
        var room = Rooms.Unique();
        await using var sender = await TestClient.ConnectAsync(Cluster[0]);
        await using var near = await TestClient.ConnectAsync(Cluster[0]);
        await using var far = await TestClient.ConnectAsync(Cluster[1]);
        await near.SubscribeAsync(room);
        await far.SubscribeAsync(room);

        var ids = new List<string>();
        for (var i = 0; i < count; i++)
        {
            ids.Add(await sender.SendAsync(room, i.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        }

        foreach (var receiver in new[] { near, far })
        {
            await receiver.WaitForCountAsync(room, count);
            Assert.Equal(ids, receiver.Received.Where(m => m.Room == room).Select(m => m.Id));
            Assert.Equal(Enumerable.Range(0, count).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)), receiver.Received.Where(m => m.Room == room).Select(m => m.Message));
        }
    }

    [Fact]
    public async Task MessagePackClientAndJsonClientShareARoom()
    {
        var room = Rooms.Unique();
        await using var packed = await TestClient.ConnectAsync(Cluster[0], messagePack: true);
        await using var json = await TestClient.ConnectAsync(Cluster[1]);
        await packed.SubscribeAsync(room);
        await json.SubscribeAsync(room);

        var fromJson = await json.SendAsync(room, "from json");
        var fromPacked = await packed.SendAsync(room, "from messagepack ✓");

        var received = await packed.WaitForAsync(m => m.Id == fromJson, "the JSON client's message over MessagePack");
        Assert.Equal("from json", received.Message);
        Assert.Equal(room, received.Room);
        Assert.Equal("from messagepack ✓", (await json.WaitForAsync(m => m.Id == fromPacked, "the MessagePack client's message")).Message);
    }

    [Fact]
    public async Task MessageIdsIncreaseWithinARoom()
    {
        var room = Rooms.Unique();
        await using var sender = await TestClient.ConnectAsync(Cluster[0]);
        var first = await sender.SendAsync(room, "1");
        var second = await sender.SendAsync(room, "2");

        Assert.NotEqual(first, second);
        Assert.True(MessageIdOrder(first, second) < 0, $"{first} should sort before {second}");
    }

    private static int MessageIdOrder(string a, string b)
    {
        static (long, long) Parse(string id)
        {
            var parts = id.Split('-');
            return (long.Parse(parts[0], System.Globalization.CultureInfo.InvariantCulture), long.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture));
        }

        return Parse(a).CompareTo(Parse(b));
    }
}
