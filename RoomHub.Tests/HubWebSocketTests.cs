using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Client;
using RoomHub.Contracts;
using RoomHub.Tests.Infrastructure;

namespace RoomHub.Tests;

/// <summary>
/// A SignalR client's WebSocket leaves HTTP once open, as a legacy one does, whether it negotiated or not: the server
/// runs the hub over its own WebSocket transport on the TCP connection, and the request that opened it ends. Clients of
/// Server-Sent Events and long polling keep SignalR's transports. All must look the same to the client.
/// </summary>
public sealed class HubWebSocketTests
{
    [Fact]
    public async Task SignalRWebSocketsEndTheirRequestsAndCarryJsonAndMessagePackWhetherTheyNegotiatedOrNot()
    {
        var requests = new RequestsInFlight();
        await using var server = await RoomHubInstance.StartAsync(new Dictionary<string, string?>(), configure: builder => builder.Services.AddSingleton<IStartupFilter>(requests));
        var room = Rooms.Unique();

        await using var json = await TestClient.ConnectAsync(server.HubUrl, skipNegotiation: true);
        await using var messagePack = await TestClient.ConnectAsync(server.HubUrl, skipNegotiation: true, messagePack: true);
        await json.SubscribeAsync(room);
        await messagePack.SubscribeAsync(room);

        // Both connections are open and answer, and no request is in flight for them.
        await Poll.UntilAsync(() => Task.FromResult(requests.Count == 0), "the WebSockets' requests to end");
        Assert.Equal(2, (await json.PresenceAsync(room))?.Connections);

        await json.SendAsync(room, "from json");
        await messagePack.SendAsync(room, "from messagepack");
        foreach (var client in new[] { json, messagePack })
        {
            await client.WaitForCountAsync(room, 2);
            Assert.Equal(["from json", "from messagepack"], client.Received.Select(m => m.Message).Order());
        }

        // A client that negotiates leaves HTTP too, and reaches the same room.
        await using var negotiated = await TestClient.ConnectAsync(server);
        await negotiated.SubscribeAsync(room);
        await Poll.UntilAsync(() => Task.FromResult(requests.Count == 0), "the negotiated WebSocket's request to end");
        await negotiated.SendAsync(room, "from a negotiated client");
        await json.WaitForAsync(m => m.Message == "from a negotiated client", "the negotiated client's message");

        // Clients that fall back to Server-Sent Events or long polling keep SignalR's transports, within their requests.
        await using var polling = await TestClient.ConnectAsync(new HubConnectionBuilder().WithUrl(server.HubUrl, Microsoft.AspNetCore.Http.Connections.HttpTransportType.LongPolling));
        await polling.SubscribeAsync(room);
        await json.SendAsync(room, "to a polling client");
        await polling.WaitForAsync(m => m.Message == "to a polling client", "the message over long polling");
        await Poll.UntilAsync(() => Task.FromResult(requests.Count >= 1), "a poll to be in flight"); // Between two polls, none is.
    }

    /// <summary>
    /// A negotiated WebSocket leaves HTTP under the connection id its client was given; its token serves one WebSocket,
    /// and any other request for it is refused with 409 while SignalR keeps its own (never started) record of it.
    /// </summary>
    [Fact]
    public async Task ANegotiatedWebSocketKeepsItsConnectionIdAndItsTokenServesOnce()
    {
        var requests = new RequestsInFlight();
        await using var server = await RoomHubInstance.StartAsync(new Dictionary<string, string?> { ["RoomHub:Presence:EventRooms:0"] = "lobby-*" },
            configure: builder => builder.Services.AddSingleton<IStartupFilter>(requests));
        var lobby = Rooms.Unique("lobby");
        await using var watcher = await TestClient.ConnectAsync(server.HubUrl, skipNegotiation: true);
        var joined = new System.Collections.Concurrent.ConcurrentQueue<string>();
        watcher.Connection.On<RoomMember>(nameof(IRoomClient.MemberJoined), m => joined.Enqueue(m.ConnectionId));
        await watcher.SubscribeAsync(lobby);

        using var http = new HttpClient { BaseAddress = server.BaseAddress };
        async Task<(string ConnectionId, string Token)> NegotiateAsync()
        {
            using var negotiation = await http.PostAsync("hubs/rooms/negotiate?negotiateVersion=1", null);
            negotiation.EnsureSuccessStatusCode();
            using var answer = System.Text.Json.JsonDocument.Parse(await negotiation.Content.ReadAsStringAsync());
            return (answer.RootElement.GetProperty("connectionId").GetString()!, Uri.EscapeDataString(answer.RootElement.GetProperty("connectionToken").GetString()!));
        }

        var (connectionId, token) = await NegotiateAsync();
        await using var socket = await RawWebSocket.ConnectAsync(server, "/hubs/rooms?id=" + token);
        Assert.Equal(101, socket.Status);
        await socket.SendTextAsync("{\"protocol\":\"json\",\"version\":1}\u001e");
        Assert.Equal("{}\u001e", (await socket.ReadFrameAsync())?.Text);
        await socket.SendTextAsync($"{{\"type\":1,\"invocationId\":\"1\",\"target\":\"Subscribe\",\"arguments\":[\"{lobby}\"]}}\u001e");
        await Poll.UntilAsync(() => Task.FromResult(joined.Contains(connectionId)), "the negotiated connection's join, under its negotiated id");
        await Poll.UntilAsync(() => Task.FromResult(requests.Count == 0), "the WebSocket's request to end");

        // The same token again, as a WebSocket or as a poll: refused, and the open connection goes on.
        await using var second = await RawWebSocket.ConnectAsync(server, "/hubs/rooms?id=" + token);
        Assert.Equal(409, second.Status);
        using var poll = await http.GetAsync("hubs/rooms?id=" + token);
        Assert.Equal(System.Net.HttpStatusCode.Conflict, poll.StatusCode);
        using var send = await http.PostAsync("hubs/rooms?id=" + token, new StringContent("{}\u001e"));
        Assert.Equal(System.Net.HttpStatusCode.Conflict, send.StatusCode);

        // A token whose connection SignalR serves (a poll came with it first) stays SignalR's: a WebSocket with it then gets
        // SignalR's refusal of a change of transport, not this server's transport.
        var (_, otherToken) = await NegotiateAsync();
        using var firstPoll = await http.GetAsync("hubs/rooms?id=" + otherToken);
        Assert.Equal(System.Net.HttpStatusCode.OK, firstPoll.StatusCode);
        await using var late = await RawWebSocket.ConnectAsync(server, "/hubs/rooms?id=" + otherToken);
        Assert.Equal(400, late.Status);

        // A token nobody negotiated is SignalR's to refuse, as before.
        await using var unknown = await RawWebSocket.ConnectAsync(server, "/hubs/rooms?id=unknown");
        Assert.Equal(404, unknown.Status);

        await watcher.SendAsync(lobby, "still there");
        var deadline = DateTime.UtcNow.AddSeconds(10);
        string? text;
        do
        {
            text = (await socket.ReadFrameAsync(TimeSpan.FromSeconds(10)))?.Text;
        }
        while (text is not null && !text.Contains("still there", StringComparison.Ordinal) && DateTime.UtcNow < deadline);

        Assert.Contains("still there", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TheServersTransportSendsMessagePackInBinaryFramesAndJsonInTextFrames()
    {
        await using var server = await RoomHubInstance.StartAsync(new Dictionary<string, string?>());

        await using var json = await RawWebSocket.ConnectAsync(server, "/hubs/rooms");
        await json.SendTextAsync("{\"protocol\":\"json\",\"version\":1}\u001e");
        var answer = await json.ReadFrameAsync();
        Assert.Equal((0x1, "{}\u001e"), (answer?.Opcode, answer?.Text));

        await using var binary = await RawWebSocket.ConnectAsync(server, "/hubs/rooms");
        await binary.SendTextAsync("{\"protocol\":\"messagepack\",\"version\":1}\u001e");
        answer = await binary.ReadFrameAsync();
        Assert.Equal((0x2, "{}\u001e"), (answer?.Opcode, answer?.Text));

        // An invocation in MessagePack, split over two binary frames: [1, {}, "1", "Subscribe", ["a-room"]] with its
        // length prefix. Its completion comes back in a binary frame.
        byte[] invocation = [0x95, 0x01, 0x80, 0xA1, (byte)'1', 0xA9, .. "Subscribe"u8, 0x91, 0xA6, .. "a-room"u8];
        byte[] message = [(byte)invocation.Length, .. invocation];
        await binary.SendFrameAsync(0x2, message.AsMemory(0, 5));
        await binary.SendFrameAsync(0x2, message.AsMemory(5));
        var completion = await binary.ReadFrameAsync();
        Assert.NotNull(completion);
        Assert.Equal(0x2, completion.Opcode);
        Assert.Equal(0x03, completion.Payload[2]); // A completion: [3, {}, "1", ...] after the length prefix and the array header.
    }

    [Fact]
    public async Task SignalRsPingsKeepAClientAliveAndNothingFollowsItsCloseFrameButTheServersClose()
    {
        await using var server = await RoomHubInstance.StartAsync(new Dictionary<string, string?>(), configure: builder =>
            builder.Services.Configure<HubOptions>(options => options.KeepAliveInterval = TimeSpan.FromSeconds(1)));

        await using var socket = await RawWebSocket.ConnectAsync(server, "/hubs/rooms");
        await socket.SendTextAsync("{\"protocol\":\"json\",\"version\":1}\u001e");
        Assert.Equal("{}\u001e", (await socket.ReadFrameAsync())?.Text);

        // SignalR's ping, which a SignalR client needs within its server timeout (30 s by default) to stay connected.
        var ping = await socket.ReadFrameAsync(TimeSpan.FromSeconds(5));
        Assert.Equal("{\"type\":6}\u001e", ping?.Text);

        // The client closes: the server answers with its own close frame, and sends nothing else (not SignalR's close
        // message, which SignalR's own transport does not send after the client's close either).
        await socket.SendCloseAsync(1000);
        var (code, frames) = await socket.ReadUntilCloseAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(1000, code);
        Assert.All(frames, frame => Assert.Equal("{\"type\":6}\u001e", frame.Text));
        Assert.True(await socket.IsDisconnectedWithinAsync(TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public async Task AMalformedSessionIsRefusedInTheHandshakeOverTheServersTransport()
    {
        await using var server = await RoomHubInstance.StartAsync(new Dictionary<string, string?>());
        await using var socket = await RawWebSocket.ConnectAsync(server, "/hubs/rooms?session=short");
        Assert.Equal(101, socket.Status);
        await socket.SendTextAsync("{\"protocol\":\"json\",\"version\":1}\u001e");
        var answer = await socket.ReadFrameAsync();
        Assert.Contains(RoomErrorCodes.InvalidArgument, answer?.Text, StringComparison.Ordinal);
    }

    /// <summary>
    /// The hub ends while the client still sends more than the hub's input holds (64 KiB): a message over the size limit,
    /// or data after a refused handshake. The connection must end all the same and give its place back.
    /// </summary>
    [Theory]
    [InlineData("/hubs/rooms", true)]
    [InlineData("/hubs/rooms?session=short", false)]
    public async Task AConnectionTheHubEndsWhileTheClientStillSendsEndsAndGivesItsPlaceBack(string path, bool oneLargeMessage)
    {
        await using var server = await RoomHubInstance.StartAsync(new Dictionary<string, string?>
        {
            ["RoomHub:Security:MaxConnections"] = "1",
            ["RoomHub:MaxReceiveMessageSize"] = "4096",
            ["RoomHub:MaxMessageBytes"] = "1024",
        });

        var socket = await RawWebSocket.ConnectAsync(server, path);
        Assert.Equal(101, socket.Status);
        await socket.SendTextAsync("{\"protocol\":\"json\",\"version\":1}\u001e");
        var answer = await socket.ReadFrameAsync();
        Assert.NotNull(answer);
        var sending = Task.Run(async () =>
        {
            try
            {
                if (oneLargeMessage)
                {
                    await socket.SendTextAsync("{\"type\":1,\"target\":\"SendMessage\",\"arguments\":[\"r\",\"" + new string('x', 300 * 1024) + "\"]}\u001e");
                }
                else
                {
                    for (var i = 0; i < 12; i++)
                    {
                        await socket.SendTextAsync(new string('x', 16 * 1024));
                    }
                }
            }
            catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException or ObjectDisposedException)
            {
                // Cut while sending: the server is done with it.
            }
        });

        Assert.True(await socket.IsDisconnectedWithinAsync(TimeSpan.FromSeconds(15)), "the connection was not closed");
        await sending;
        await socket.DisposeAsync();
        await Poll.UntilAsync(async () =>
        {
            await using var next = await RawWebSocket.ConnectAsync(server, "/hubs/rooms");
            return next.Status == 101;
        }, "the connection's place to be given back");
    }

    /// <summary>Counts the requests in flight, around the whole pipeline.</summary>
    private sealed class RequestsInFlight : IStartupFilter
    {
        private int _count;

        public int Count => Volatile.Read(ref _count);

        public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
        {
            app.Use(async (context, inner) =>
            {
                Interlocked.Increment(ref _count);
                try
                {
                    await inner(context);
                }
                finally
                {
                    Interlocked.Decrement(ref _count);
                }
            });
            next(app);
        };
    }
}
