using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Client;
using RoomHub.Contracts;
using RoomHub.Tests.Infrastructure;

namespace RoomHub.Tests;

/// <summary>
/// A SignalR client's WebSocket that connects without negotiating leaves HTTP once open, as a legacy one does: the
/// server runs the hub over its own WebSocket transport on the TCP connection, and the request that opened it ends.
/// Clients that negotiate keep SignalR's transports. Both must look the same to the client.
/// </summary>
public sealed class HubWebSocketTests
{
    [Fact]
    public async Task AWebSocketThatDidNotNegotiateEndsItsRequestAndCarriesJsonAndMessagePack()
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

        // A client that negotiates runs within its request, over SignalR's transport, and reaches the same room.
        await using var negotiated = await TestClient.ConnectAsync(server);
        await negotiated.SubscribeAsync(room);
        Assert.True(requests.Count >= 1, "a negotiated WebSocket runs within its request");
        await negotiated.SendAsync(room, "from a negotiated client");
        await json.WaitForAsync(m => m.Message == "from a negotiated client", "the negotiated client's message");
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
