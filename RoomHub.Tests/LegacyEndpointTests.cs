using System.Net;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using RoomHub.Contracts;
using RoomHub.Server.Internal;
using RoomHub.Tests.Infrastructure;

namespace RoomHub.Tests;

public sealed class LegacyEndpointTests(ClusterFixture fixture) : IClassFixture<ClusterFixture>
{
    private static readonly long FrameLimit = new Server.RoomHubOptions().EffectiveMaxReceiveMessageSize;

    private RoomHubCluster Cluster => fixture.Cluster;

    [Fact]
    public async Task LegacyClientsOnTwoInstancesExchangeBareMessages()
    {
        var room = Rooms.Unique("legacy");
        await using var sender = await LegacyClient.ConnectAsync(Cluster[0]);
        await using var receiver = await LegacyClient.ConnectAsync(Cluster[1]);
        await receiver.SubscribeAsync(room);
        await using var probe = await TestClient.ConnectAsync(Cluster[1]);
        await WaitUntilMemberAsync(receiver, room);

        await sender.SendMessageAsync(room, "Hello, World!");

        await receiver.WaitForFrameAsync("Hello, World!");
        Assert.Empty(sender.Frames);
    }

    [Fact]
    public async Task NotificationPathAndAnyOtherPathServeTheLegacyProtocol()
    {
        var room = Rooms.Unique("paths");
        await using var notification = await LegacyClient.ConnectAsync(Cluster[0], "/notification");
        await using var elsewhere = await LegacyClient.ConnectAsync(Cluster[1], "/some/old/path");
        await using var fileLike = await LegacyClient.ConnectAsync(Cluster[1], "/chat.ws");
        await notification.SubscribeAsync(room);
        await elsewhere.SubscribeAsync(room);
        await fileLike.SubscribeAsync(room);
        await WaitUntilMemberAsync(notification, room);
        await WaitUntilMemberAsync(elsewhere, room);
        await WaitUntilMemberAsync(fileLike, room);

        await using var sender = await TestClient.ConnectAsync(Cluster[0]);
        await sender.SendAsync(room, "to every path");

        await notification.WaitForFrameAsync("to every path");
        await elsewhere.WaitForFrameAsync("to every path");
        await fileLike.WaitForFrameAsync("to every path");
    }

    [Fact]
    public async Task AClientThatAsksForSubprotocolsIsAnsweredWithTheFirstAndServed()
    {
        var room = Rooms.Unique("subprotocol");
        var socket = new ClientWebSocket();
        socket.Options.AddSubProtocol("chat");
        socket.Options.AddSubProtocol("json");
        await socket.ConnectAsync(LegacyClient.UrlOf(Cluster[0]), CancellationToken.None);
        Assert.Equal("chat", socket.SubProtocol);
        await using var client = LegacyClient.Wrap(socket);
        await client.SubscribeAsync(room);
        await WaitUntilMemberAsync(client, room);

        await client.SendMessageAsync(room, "with a subprotocol");

        await client.WaitForFrameAsync("with a subprotocol");
    }

    [Theory]
    [InlineData("chat/1.0")]
    [InlineData("a b")]
    [InlineData("chat, \u0001")]
    [InlineData("caf\u00e9")]
    public async Task ASubprotocolNameThatIsNotATokenIsRefusedWith400AndNoServerError(string header)
    {
        // Echoed as it came, such a name made an invalid response header (a 500 and an error in the log) or a
        // handshake the client had to fail.
        using var log = new LogCapture();
        await using var server = await RoomHubInstance.StartAsync(new Dictionary<string, string?>(), configure: builder => builder.Logging.AddProvider(log));

        await using var socket = await RawWebSocket.ConnectAsync(server, "/", new Dictionary<string, string> { ["Sec-WebSocket-Protocol"] = header });

        Assert.Equal(400, socket.Status);
        Assert.DoesNotContain(log.Entries, e => e.Level >= LogLevel.Error);
        await using var legacy = await LegacyClient.ConnectAsync(server);
        await legacy.SendMessageAsync(Rooms.Unique("after"), "still served");
    }

    [Fact]
    public async Task LegacyAndSignalRClientsShareRoomsAcrossInstances()
    {
        var room = Rooms.Unique("mixed");
        await using var legacy = await LegacyClient.ConnectAsync(Cluster[0]);
        await using var signalR = await TestClient.ConnectAsync(Cluster[1]);
        await legacy.SubscribeAsync(room);
        await signalR.SubscribeAsync(room);
        await WaitUntilMemberAsync(legacy, room);

        var fromSignalR = await signalR.SendAsync(room, "from SignalR");
        await legacy.WaitForFrameAsync("from SignalR");

        await legacy.SendMessageAsync(room, "from legacy ✓");
        var received = await signalR.WaitForAsync(m => m.Message == "from legacy ✓", "the legacy client's message");
        Assert.Equal(room, received.Room);
        Assert.NotEqual(fromSignalR, received.Id);
    }

    [Fact]
    public async Task EnvelopeModeDeliversIdRoomAndTime()
    {
        var room = Rooms.Unique("envelope");
        await using var legacy = await LegacyClient.ConnectAsync(Cluster[0], "/", "format=envelope");
        await legacy.SubscribeAsync(room);
        await WaitUntilMemberAsync(legacy, room, envelope: true);
        await using var sender = await TestClient.ConnectAsync(Cluster[1]);

        var id = await sender.SendAsync(room, "enveloped");

        var envelope = await legacy.WaitForJsonAsync(j => (string?)j["id"] == id, "the envelope");
        Assert.Equal("MESSAGE", (string?)envelope["type"]);
        Assert.Equal(room, (string?)envelope["room"]);
        Assert.Equal("enveloped", (string?)envelope["message"]);
        Assert.NotNull((string?)envelope["sentAt"]);
    }

    [Fact]
    public async Task DuplicateSubscribeDeliversOnceAndUnsubscribeStopsDelivery()
    {
        var room = Rooms.Unique("dup");
        await using var legacy = await LegacyClient.ConnectAsync(Cluster[1]);
        await legacy.SubscribeAsync(room);
        await legacy.SubscribeAsync(room);
        await WaitUntilMemberAsync(legacy, room);
        await using var sender = await TestClient.ConnectAsync(Cluster[0]);

        await sender.SendAsync(room, "once");
        await sender.SendAsync(room, "marker-1");
        await legacy.WaitForFrameAsync("marker-1");
        Assert.Single(legacy.Frames, f => f == "once");

        await legacy.UnsubscribeAsync(room);
        await legacy.SendMessageAsync(Rooms.Unique("barrier"), "x"); // frames are handled in order: once this is answered, the unsubscribe is done
        await legacy.SendAsync("""{"type":"SUBSCRIBE"}""");
        await legacy.WaitForErrorAsync(RoomErrorCodes.InvalidRoom);
        await sender.SendAsync(room, "after unsubscribe");
        var marker = Rooms.Unique("marker");
        await legacy.SubscribeAsync(marker);
        await WaitUntilMemberAsync(legacy, marker);
        Assert.DoesNotContain("after unsubscribe", legacy.Frames);
    }

    [Fact]
    public async Task NonStringMessageIsDeliveredAsItsJsonText()
    {
        var room = Rooms.Unique("json");
        await using var legacy = await LegacyClient.ConnectAsync(Cluster[0]);
        await legacy.SubscribeAsync(room);
        await WaitUntilMemberAsync(legacy, room);

        await legacy.SendAsync($$$"""{"type":"SEND_MESSAGE","roomId":"{{{room}}}","message":{"text":"hi","n":[1,2]}}""");

        await legacy.WaitForFrameAsync("""{"text":"hi","n":[1,2]}""");
    }

    [Fact]
    public async Task BadInputIsAnsweredAndDisturbsNobody()
    {
        var room = Rooms.Unique("innocent");
        await using var innocent = await LegacyClient.ConnectAsync(Cluster[0]);
        await innocent.SubscribeAsync(room);
        await WaitUntilMemberAsync(innocent, room);
        await using var attacker = await LegacyClient.ConnectAsync(Cluster[0]);
        await attacker.SubscribeAsync(room);

        var battery = new (string Frame, string Code)[]
        {
            ("{not json", "INVALID_JSON"),
            ("null", "INVALID_FRAME"),
            ("[1,2,3]", "INVALID_FRAME"),
            ("\"text\"", "INVALID_FRAME"),
            ("{}", "UNKNOWN_TYPE"),
            ("""{"type":"HACK"}""", "UNKNOWN_TYPE"),
            ("""{"type":"SUBSCRIBE"}""", "INVALID_ROOM"),
            ("""{"type":"SUBSCRIBE","room":42}""", "INVALID_ROOM"),
            ("""{"type":"UNSUBSCRIBE"}""", "INVALID_ROOM"),
            ("""{"type":"SEND_MESSAGE","message":"no room"}""", "INVALID_ROOM"),
            ("""{"type":"SEND_MESSAGE","roomId":""}""", "INVALID_MESSAGE"),
            ($$"""{"type":"SUBSCRIBE","room":"{{new string('r', 129)}}"}""", "INVALID_ROOM"),
            ("""{"type":"SUBSCRIBE","room":"bell\u0007"}""", "INVALID_ROOM"),
            ("""{"type":"SEND_MESSAGE","roomId":"","message":"empty room"}""", "INVALID_ROOM"),
            ($$"""{"type":"SEND_MESSAGE","roomId":"{{room}}","message":"{{new string('m', RoomLimits.DefaultMaxMessageBytes + 1)}}"}""", "MESSAGE_TOO_LARGE"),
        };

        foreach (var (frame, code) in battery)
        {
            var before = attacker.Json().Count(j => (string?)j["type"] == "ERROR");
            await attacker.SendAsync(frame);
            await Poll.UntilAsync(() => attacker.Json().Count(j => (string?)j["type"] == "ERROR") > before, $"an answer to {frame[..Math.Min(frame.Length, 60)]}");
            var answer = attacker.Json().Where(j => (string?)j["type"] == "ERROR").Last();
            Assert.Equal(code, (string?)answer["code"]);
            Assert.False(string.IsNullOrWhiteSpace((string?)answer["message"]));
        }

        // The UNSUBSCRIBE without a room deafened every client of the replaced server; here the attacker is still a member
        // and so is everyone else.
        await using var sender = await TestClient.ConnectAsync(Cluster[1]);
        await sender.SendAsync(room, "still delivered");
        await innocent.WaitForFrameAsync("still delivered");
        await attacker.WaitForFrameAsync("still delivered");
        Assert.Equal(WebSocketState.Open, attacker.Socket.State);
        Assert.DoesNotContain(innocent.Frames, f => f.Contains("ERROR", StringComparison.Ordinal));
    }

    [Fact]
    public async Task InvalidUtf8ClosesWith1007AndOthersStillReceive()
    {
        var room = Rooms.Unique("utf8");
        await using var innocent = await LegacyClient.ConnectAsync(Cluster[1]);
        await innocent.SubscribeAsync(room);
        await WaitUntilMemberAsync(innocent, room);
        await using var offender = await LegacyClient.ConnectAsync(Cluster[1]);

        await offender.SendAsync([0x7b, 0xff, 0xfe, 0x7d]);

        await offender.WaitUntilClosedAsync();
        Assert.Equal(WebSocketCloseStatus.InvalidPayloadData, offender.CloseStatus);
        await AssertStillDeliversAsync(innocent, room);
    }

    [Fact]
    public async Task FrameOverTheTransportLimitClosesWith1009AndOthersStillReceive()
    {
        var room = Rooms.Unique("big");
        await using var innocent = await LegacyClient.ConnectAsync(Cluster[0]);
        await innocent.SubscribeAsync(room);
        await WaitUntilMemberAsync(innocent, room);
        await using var offender = await LegacyClient.ConnectAsync(Cluster[0]);

        await offender.SendMessageAsync(room, new string('x', (int)FrameLimit + 10));

        await offender.WaitUntilClosedAsync();
        Assert.Equal(WebSocketCloseStatus.MessageTooBig, offender.CloseStatus);
        await AssertStillDeliversAsync(innocent, room);
    }

    [Theory]
    [InlineData('\u00e9')]
    [InlineData('\u0001')]
    public async Task AMessageAtTheLimitArrivesHoweverItsJsonIsEscaped(char character)
    {
        var room = Rooms.Unique("escaped");
        await using var receiver = await TestClient.ConnectAsync(Cluster[1]);
        await receiver.SubscribeAsync(room);
        await using var sender = await LegacyClient.ConnectAsync(Cluster[0]);
        var text = new string(character, RoomLimits.DefaultMaxMessageBytes / Encoding.UTF8.GetByteCount([character]));
        static string Escaped(string room, string text) =>
            $$"""{"type":"SEND_MESSAGE","roomId":"{{room}}","message":"{{string.Concat(text.Select(c => $"\\u{(int)c:x4}"))}}"}""";

        await sender.SendAsync(Escaped(room, text));
        await receiver.WaitForAsync(m => m.Room == room && m.Message == text, "the escaped message at the limit");

        await sender.SendAsync(Escaped(room, text + character));
        await sender.WaitForErrorAsync(RoomErrorCodes.MessageTooLarge);
        Assert.False(sender.IsClosed);
    }

    [Fact]
    public async Task AFrameOfExactlyTheTransportLimitIsReadAndAnswered()
    {
        await using var client = await LegacyClient.ConnectAsync(Cluster[0]);
        var head = "{\"type\":\"SEND_MESSAGE\",\"roomId\":\"" + Rooms.Unique("edge") + "\",\"message\":\"";
        const string tail = "\"}";
        var frame = head + new string('x', (int)FrameLimit - head.Length - tail.Length) + tail;
        Assert.Equal(FrameLimit, Encoding.UTF8.GetByteCount(frame));

        await client.SendAsync(frame);

        await client.WaitForErrorAsync(RoomErrorCodes.MessageTooLarge);
        Assert.False(client.IsClosed);
    }

    [Fact]
    public async Task BinaryFrameIsReadAsText()
    {
        var room = Rooms.Unique("binary");
        await using var legacy = await LegacyClient.ConnectAsync(Cluster[0]);

        await legacy.SendAsync(Encoding.UTF8.GetBytes($$"""{"type":"SUBSCRIBE","room":"{{room}}"}"""), WebSocketMessageType.Binary);

        await WaitUntilMemberAsync(legacy, room);
    }

    [Fact]
    public async Task ClosedLegacyConnectionLeavesItsRooms()
    {
        var room = Rooms.Unique("leave");
        var instance = Cluster[0];
        var legacy = await LegacyClient.ConnectAsync(instance);
        await legacy.SubscribeAsync(room);
        await WaitUntilMemberAsync(legacy, room);
        var connections = instance.Services.GetRequiredService<ConnectionRegistry>();
        Assert.Contains(connections.Snapshot(), c => c.Transport == ConnectionRegistry.Legacy);
        var legacyBefore = connections.Snapshot().Count(c => c.Transport == ConnectionRegistry.Legacy);

        await legacy.DisposeAsync();

        // The hub saw the disconnect: SignalR then drops the connection from every group it was in.
        await Poll.UntilAsync(() => connections.Snapshot().Count(c => c.Transport == ConnectionRegistry.Legacy) == legacyBefore - 1, "the legacy connection to leave the hub");
    }

    [Fact]
    public async Task PlainHttpRequestToTheLegacyPathIsToldToUpgrade()
    {
        using var http = new HttpClient { BaseAddress = Cluster[0].BaseAddress };

        var response = await http.GetAsync("/");

        Assert.Equal(HttpStatusCode.UpgradeRequired, response.StatusCode);
    }

    /// <summary>A broken WebSocket handshake is told what is wrong with it, not to use a WebSocket client.</summary>
    [Theory]
    [InlineData("Sec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", 426, "Sec-WebSocket-Version: 13")]
    [InlineData("Sec-WebSocket-Version: 13\r\n", 400, "Sec-WebSocket-Key")]
    [InlineData("Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: short\r\n", 400, "Sec-WebSocket-Key")]
    public async Task ABrokenUpgradeIsAnsweredWithWhatIsWrongWithIt(string headers, int status, string expected)
    {
        using var tcp = new System.Net.Sockets.TcpClient();
        await tcp.ConnectAsync(Cluster[0].BaseAddress.Host, Cluster[0].BaseAddress.Port);
        var stream = tcp.GetStream();
        await stream.WriteAsync(Encoding.UTF8.GetBytes($"GET /notification HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n{headers}Connection: close\r\n\r\n"));

        using var reader = new StreamReader(stream);
        var response = await reader.ReadToEndAsync().WaitAsync(TimeSpan.FromSeconds(10));

        Assert.StartsWith($"HTTP/1.1 {status} ", response, StringComparison.Ordinal);
        Assert.Contains(expected, response, StringComparison.Ordinal);
        if (status == 426)
        {
            Assert.Contains("Upgrade: websocket", response, StringComparison.Ordinal); // Every 426 names what to upgrade to.
        }
    }

    [Fact]
    public async Task UnknownFormatIsRefusedAtTheUpgrade()
    {
        using var socket = new ClientWebSocket();

        var error = await Assert.ThrowsAsync<WebSocketException>(() => socket.ConnectAsync(LegacyClient.UrlOf(Cluster[0], "/", "format=xml"), CancellationToken.None));

        Assert.Contains("400", error.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// Waits until the client's SUBSCRIBE has taken effect, without sleeping: a SignalR probe sends to the room until
    /// the legacy client receives one of its messages.
    /// </summary>
    private async Task WaitUntilMemberAsync(LegacyClient client, string room, bool envelope = false)
    {
        await using var probe = await TestClient.ConnectAsync(Cluster[0]);
        var marker = "probe-" + Guid.NewGuid().ToString("N");
        await Poll.UntilAsync(async () =>
        {
            await probe.SendAsync(room, marker);
            return client.Frames.Any(f => envelope ? f.Contains(marker, StringComparison.Ordinal) : f == marker);
        }, $"the legacy client to be a member of {room}");
    }

    private async Task AssertStillDeliversAsync(LegacyClient innocent, string room)
    {
        await using var sender = await TestClient.ConnectAsync(Cluster[1]);
        var text = "after the offender " + Guid.NewGuid().ToString("N");
        await sender.SendAsync(room, text);
        await innocent.WaitForFrameAsync(text);
    }
}
