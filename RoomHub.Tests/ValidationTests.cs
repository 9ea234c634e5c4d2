using System.Text;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Client;
using RoomHub.Contracts;
using RoomHub.Tests.Infrastructure;

namespace RoomHub.Tests;

public sealed class ValidationTests(ClusterFixture fixture) : IClassFixture<ClusterFixture>
{
    private RoomHubCluster Cluster => fixture.Cluster;

    public static TheoryData<string?, string> BadRooms => new()
    {
        { null, "A room name is required" },
        { "", "A room name is required" },
        { new string('r', RoomLimits.MaxRoomNameLength + 1), "at most 128 characters" },
        { "tab\there", "control characters" },
        { "new\nline", "control characters" },
        { "nul\0", "control characters" },
    };

    [Theory]
    [MemberData(nameof(BadRooms))]
    public async Task BadRoomNameIsRefusedOnEveryMethodAndTheConnectionStaysUsable(string? room, string expected)
    {
        await using var client = await TestClient.ConnectAsync(Cluster[0]);

        foreach (var call in new Func<Task>[] { () => client.SubscribeAsync(room!), () => client.UnsubscribeAsync(room!), () => client.SendAsync(room!, "hi") })
        {
            var error = await Assert.ThrowsAsync<HubException>(call);
            Assert.Contains(RoomErrorCodes.InvalidRoom + ": ", error.Message, StringComparison.Ordinal);
            Assert.Contains(expected, error.Message, StringComparison.Ordinal);
        }

        await AssertStillUsableAsync(client);
    }

    [Fact]
    public async Task RoomNameOfExactlyTheLimitIsAccepted()
    {
        var room = Rooms.Unique()[..20] + new string('x', RoomLimits.MaxRoomNameLength - 20);
        await using var client = await TestClient.ConnectAsync(Cluster[1]);
        await client.SubscribeAsync(room);

        var id = await client.SendAsync(room, "fits");

        await client.WaitForAsync(m => m.Id == id, "the message in a 128-character room");
    }

    [Fact]
    public async Task NullMessageIsRefused()
    {
        await using var client = await TestClient.ConnectAsync(Cluster[0]);

        var error = await Assert.ThrowsAsync<HubException>(() => client.SendAsync(Rooms.Unique(), null!));

        Assert.Contains(RoomErrorCodes.InvalidMessage + ": ", error.Message, StringComparison.Ordinal);
        await AssertStillUsableAsync(client);
    }

    [Fact]
    public async Task MessageOfExactlyTheLimitIsDeliveredAndOneByteMoreIsRefused()
    {
        var room = Rooms.Unique();
        await using var sender = await TestClient.ConnectAsync(Cluster[0]);
        await using var receiver = await TestClient.ConnectAsync(Cluster[1]);
        await receiver.SubscribeAsync(room);

        // 'é' is two bytes of UTF-8: the limit counts bytes, not characters.
        var atLimit = new string('é', RoomLimits.DefaultMaxMessageBytes / 2);
        var id = await sender.SendAsync(room, atLimit);
        Assert.Equal(atLimit, (await receiver.WaitForAsync(m => m.Id == id, "the message at the limit")).Message);

        var error = await Assert.ThrowsAsync<HubException>(() => sender.SendAsync(room, atLimit + "x"));
        Assert.Contains(RoomErrorCodes.MessageTooLarge + ": ", error.Message, StringComparison.Ordinal);
        Assert.Contains("65537", error.Message, StringComparison.Ordinal);
        await AssertStillUsableAsync(sender);
    }

    [Fact]
    public async Task FrameBeyondTheTransportLimitClosesOnlyThatConnection()
    {
        var room = Rooms.Unique();
        await using var bystander = await TestClient.ConnectAsync(Cluster[0]);
        await bystander.SubscribeAsync(room);
        await using var offender = await TestClient.ConnectAsync(Cluster[0]);
        var closed = new TaskCompletionSource<Exception?>(TaskCreationOptions.RunContinuationsAsynchronously);
        offender.Connection.Closed += error =>
        {
            closed.TrySetResult(error);
            return Task.CompletedTask;
        };

        // Six times the message limit and 1 KiB is the transport limit by default; this frame is past it.
        var huge = new string('x', RoomLimits.DefaultMaxMessageBytes * 7);
        await Assert.ThrowsAnyAsync<Exception>(() => offender.SendAsync(room, huge));

        var reason = await closed.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.NotNull(reason);
        Assert.Contains("closed the connection with the following error", reason.Message, StringComparison.Ordinal);
        await AssertStillUsableAsync(bystander);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ArgumentsThatDoNotMatchAreRefusedWithInvalidArgumentAndTheConnectionStaysUsable(bool messagePack)
    {
        // SignalR refuses these before the hub; the refusal carries a code and what the method takes, as others do.
        await using var client = await TestClient.ConnectAsync(Cluster[1], messagePack);
        var calls = new (Func<Task> Call, string Expected)[]
        {
            (() => client.Connection.InvokeAsync(nameof(IRoomHub.Subscribe), new { nested = true }), "Subscribe(string)"),
            (() => client.Connection.InvokeAsync(nameof(IRoomHub.Subscribe), 5), "Subscribe(string)"),
            (() => client.Connection.InvokeAsync(nameof(IRoomHub.SendMessage), "room"), "SendMessage(string, string)"),
            (() => client.Connection.InvokeAsync(nameof(IRoomHub.GetHistory), "room", 1.5), "GetHistory(string, int)"),
            (() => client.Connection.InvokeAsync(nameof(IRoomHub.GetHistory), "room", "5"), "GetHistory(string, int)"),
            (() => client.Connection.InvokeAsync("NoSuchMethod", "room"), "There is no hub method 'NoSuchMethod'"),
        };

        foreach (var (call, expected) in calls)
        {
            var error = await Assert.ThrowsAsync<HubException>(call);
            Assert.Contains(RoomErrorCodes.InvalidArgument + ": ", error.Message, StringComparison.Ordinal);
            Assert.Contains(expected, error.Message, StringComparison.Ordinal);
        }

        await AssertStillUsableAsync(client);
    }

    [Fact]
    public async Task StreamsAreRefusedWithInvalidArgumentSinceNoMethodTakesOrGivesOne()
    {
        await using var client = await TestClient.ConnectAsync(Cluster[1]);

        var streamed = await Assert.ThrowsAnyAsync<Exception>(async () =>
        {
            await foreach (var _ in client.Connection.StreamAsync<object>(nameof(IRoomHub.GetHistory), "room", 5))
            {
            }
        });
        var given = await Assert.ThrowsAsync<HubException>(() =>
            client.Connection.InvokeAsync(nameof(IRoomHub.Subscribe), "room", System.Threading.Channels.Channel.CreateUnbounded<string>().Reader));

        Assert.Contains(RoomErrorCodes.InvalidArgument + ": GetHistory is not a streaming method", (streamed as HubException ?? streamed.InnerException)?.Message, StringComparison.Ordinal);
        Assert.Contains(RoomErrorCodes.InvalidArgument + ": Subscribe takes no stream arguments", given.Message, StringComparison.Ordinal);
        await AssertStillUsableAsync(client);
    }

    /// <summary>
    /// A message type this server does not know (a newer client's) is skipped, and what follows it is handled. SignalR
    /// alone would parse the same frame again on every read and never handle anything after it.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task AMessageOfAnUnknownTypeIsSkippedAndTheCallsAfterItAreAnswered(bool messagePack)
    {
        await using var socket = await RawWebSocket.ConnectAsync(Cluster[0], "/hubs/rooms");
        await socket.SendTextAsync($"{{\"protocol\":\"{(messagePack ? "messagepack" : "json")}\",\"version\":1}}\u001e");
        var room = Encoding.UTF8.GetBytes(Rooms.Unique("after-unknown")[..30]);
        if (messagePack)
        {
            // Length-prefixed MessagePack arrays: [99], then [1, {}, "p1", "GetPresence", [room], []].
            await socket.SendFrameAsync(0x2, new byte[] { 0x02, 0x91, 0x63 });
            byte[] call = [0x96, 0x01, 0x80, 0xa2, (byte)'p', (byte)'1', 0xab, .. "GetPresence"u8, 0x91, (byte)(0xa0 | room.Length), .. room, 0x90];
            await socket.SendFrameAsync(0x2, (byte[])[(byte)call.Length, .. call]);
        }
        else
        {
            await socket.SendTextAsync("{\"type\":99}\u001e");
            await socket.SendTextAsync($"{{\"type\":1,\"invocationId\":\"p1\",\"target\":\"GetPresence\",\"arguments\":[\"{Encoding.UTF8.GetString(room)}\"]}}\u001e");
        }

        // The handshake's answer comes first; then the call's completion, which names its invocation id.
        var answered = false;
        while (!answered && await socket.ReadFrameAsync() is { } frame)
        {
            answered = frame.Payload.AsSpan().IndexOf("p1"u8) >= 0;
        }

        Assert.True(answered, "the call after the unknown message should be answered");
    }

    [Theory]
    [InlineData("roomhub-legacy")]
    [InlineData("roomhub-legacy-envelope")]
    public async Task TheLegacyEndpointsOwnProtocolsAreNotServedOnTheHubsUrl(string protocol)
    {
        await using var socket = await RawWebSocket.ConnectAsync(Cluster[0], "/hubs/rooms");
        Assert.Equal(101, socket.Status);

        await socket.SendTextAsync($"{{\"protocol\":\"{protocol}\",\"version\":1}}\u001e");

        Assert.True(await socket.IsDisconnectedWithinAsync(TimeSpan.FromSeconds(8)), "the connection should be cut");
        await using var client = await TestClient.ConnectAsync(Cluster[0]);
        await AssertStillUsableAsync(client);
    }

    private static async Task AssertStillUsableAsync(TestClient client)
    {
        Assert.Equal(HubConnectionState.Connected, client.Connection.State);
        var room = Rooms.Unique("still-usable");
        await client.SubscribeAsync(room);
        var id = await client.SendAsync(room, "still here");
        await client.WaitForAsync(m => m.Id == id, "a message after the refused call");
    }

    [Theory]
    [InlineData(0, true)]
    [InlineData(1, false)]
    [InlineData(4, false)]
    public async Task ASignalRMessageIsHeldToMaxReceiveMessageSizeToTheByte(int over, bool accepted)
    {
        // The hub's own bound leaves room for the legacy endpoint's record prefix; SignalR clients get none of it.
        const int max = 8192;
        await using var server = await RoomHubInstance.StartAsync(new Dictionary<string, string?>
        {
            ["RoomHub:MaxMessageBytes"] = "1024",
            ["RoomHub:MaxReceiveMessageSize"] = max.ToString(System.Globalization.CultureInfo.InvariantCulture),
        });
        await using var socket = await RawWebSocket.ConnectAsync(server, "/hubs/rooms");
        Assert.Equal(101, socket.Status);
        await socket.SendTextAsync("{\"protocol\":\"json\",\"version\":1}\u001e");
        Assert.Equal("{}\u001e", (await socket.ReadFrameAsync())?.Text);

        // A record (its separator included) of exactly the size asked for, padded with a property the protocol skips.
        var head = "{\"type\":1,\"invocationId\":\"probe\",\"target\":\"GetPresence\",\"arguments\":[\"room\"],\"pad\":\"";
        var tail = "\"}\u001e";
        var record = head + new string('x', max + over - head.Length - tail.Length) + tail;
        Assert.Equal(max + over, Encoding.UTF8.GetByteCount(record));
        await socket.SendTextAsync(record);

        var (_, frames) = await socket.ReadUntilCloseAsync(TimeSpan.FromSeconds(10));
        var answered = frames.Any(f => f.Text.Contains("\"type\":3", StringComparison.Ordinal) && f.Text.Contains("\"invocationId\":\"probe\"", StringComparison.Ordinal));
        Assert.Equal(accepted, answered);
    }
}
