using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using RoomHub.Tests.Infrastructure;

namespace RoomHub.Tests.Security;

public sealed class TimeoutTests
{
    private static readonly Dictionary<string, string?> Short = new()
    {
        ["RoomHub:Security:HandshakeTimeout"] = "00:00:01",
        ["RoomHub:Security:FrameTimeout"] = "00:00:01",
    };

    [Theory]
    [InlineData("GET / HTTP/1.1\r\nHost: x\r\n")]
    [InlineData("")] // Kestrel alone would hold this one for its keep-alive timeout (130 s): its headers timeout starts at the first byte.
    public async Task AClientThatDoesNotSendItsRequestIsCutAfterTheHandshakeTimeout(string sent)
    {
        await using var server = await RoomHubInstance.StartAsync(Short);
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(server.BaseAddress.Host, server.BaseAddress.Port);
        await tcp.GetStream().WriteAsync(Encoding.ASCII.GetBytes(sent));

        Assert.True(await ClosedWithinAsync(tcp.GetStream(), TimeSpan.FromSeconds(8)), "the connection should be cut");
    }

    [Fact]
    public async Task AClientWhoseFirstBytesComeLateButInTimeIsServed()
    {
        await using var server = await RoomHubInstance.StartAsync(Short);
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(server.BaseAddress.Host, server.BaseAddress.Port);
        await Task.Delay(TimeSpan.FromMilliseconds(300)); // The delay is the case under test, not a wait for something.
        var stream = tcp.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes("GET /alive HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));

        using var reader = new StreamReader(stream, Encoding.ASCII);
        Assert.StartsWith("HTTP/1.1 200", await reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(8)), StringComparison.Ordinal);
    }

    /// <summary>A server whose log holds Kestrel's connection events too, so a test can tell when it has seen a connection.</summary>
    private static Task<RoomHubInstance> StartWatchedAsync(LogCapture log, string handshakeTimeout) =>
        RoomHubInstance.StartAsync(new Dictionary<string, string?>(Short) { ["RoomHub:Security:HandshakeTimeout"] = handshakeTimeout }, configure: builder =>
        {
            builder.Logging.AddProvider(log);
            builder.Logging.AddFilter("Microsoft.AspNetCore.Server.Kestrel.Connections", LogLevel.Debug);
        });

    private static int Count(LogCapture log, string eventName) => log.Entries.Count(e => e.EventId.Name == eventName);

    [Fact]
    public async Task AConnectionResetBeforeItsFirstByteLeavesNoErrorInTheLog()
    {
        using var log = new LogCapture();
        await using var server = await StartWatchedAsync(log, "00:00:10");
        for (var i = 0; i < 5; i++)
        {
            using var tcp = new TcpClient();
            await tcp.ConnectAsync(server.BaseAddress.Host, server.BaseAddress.Port);
            await Poll.UntilAsync(() => Count(log, "ConnectionStart") > i, "the server to take the connection");
            tcp.Client.Close(timeout: 0); // An abortive close: a reset.
        }

        await Poll.UntilAsync(() => Count(log, "ConnectionStop") >= 5, "the server to end the five connections");
        Assert.DoesNotContain(log.Entries, e => e.Level >= LogLevel.Warning);
    }

    [Fact]
    public async Task AConnectionThatHasSentNothingDoesNotHoldUpTheStop()
    {
        using var log = new LogCapture();
        var server = await StartWatchedAsync(log, "00:00:30");
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(server.BaseAddress.Host, server.BaseAddress.Port);
        await Poll.UntilAsync(() => Count(log, "ConnectionStart") > 0, "the server to take the connection");

        var clock = System.Diagnostics.Stopwatch.StartNew();
        await server.DisposeAsync();

        // Without the stop's request to close, the connection would hold it until the host's stop budget (10 s here) ran out.
        Assert.InRange(clock.Elapsed, TimeSpan.Zero, TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task AHubClientThatNeverCompletesTheSignalRHandshakeIsDropped()
    {
        await using var server = await RoomHubInstance.StartAsync(Short);
        await using var socket = await RawWebSocket.ConnectAsync(server, "/hubs/rooms");
        Assert.Equal(101, socket.Status);

        var (_, _) = await socket.ReadUntilCloseAsync(TimeSpan.FromSeconds(8));
        Assert.True(await socket.IsDisconnectedWithinAsync(TimeSpan.FromSeconds(8)));
    }

    [Fact]
    public async Task AHubClientThatNeverPingsIsDroppedAfterTheClientTimeout()
    {
        // SignalR's own client timeout waits for the first ping; a client that never sends one is dropped all the same.
        await using var server = await RoomHubInstance.StartAsync(new Dictionary<string, string?>(Short) { ["RoomHub:Security:ClientTimeout"] = "00:00:03" });
        await using var socket = await RawWebSocket.ConnectAsync(server, "/hubs/rooms");
        await socket.SendTextAsync("{\"protocol\":\"json\",\"version\":1}\u001e");
        Assert.Equal("{}\u001e", (await socket.ReadFrameAsync())?.Text);
        await socket.SendTextAsync("{\"type\":1,\"invocationId\":\"1\",\"target\":\"Subscribe\",\"arguments\":[\"silent\"]}\u001e");

        var started = DateTime.UtcNow;
        Assert.True(await socket.IsDisconnectedWithinAsync(TimeSpan.FromSeconds(15)));
        Assert.True(DateTime.UtcNow - started >= TimeSpan.FromSeconds(2), "dropped before the client timeout");
    }

    [Fact]
    public async Task AHubClientThatPingsIsNotDroppedWhileItsSessionIsRestoredForLongerThanTheClientTimeout()
    {
        // While the hub restores a session (here its replay's read of history is held), it reads nothing from the client:
        // the pings wait unread, and that wait is not the client's silence.
        await using var server = await RoomHubInstance.StartAsync(
            new Dictionary<string, string?>(Short) { ["RoomHub:Security:ClientTimeout"] = "00:00:02" },
            replace: HeldHistory.Wrap);
        var history = server.Services.GetRequiredService<HeldHistory>();
        var room = Rooms.Unique("restoring");
        var session = Guid.NewGuid().ToString("N");
        await using (var first = await TestClient.ConnectAsync(new Uri(server.HubUrl + "?session=" + session)))
        {
            await first.SubscribeAsync(room);
        }

        await using var publisher = await TestClient.ConnectAsync(server);
        var missed = await publisher.SendAsync(room, "while away");

        history.Hold();
        await using var socket = await RawWebSocket.ConnectAsync(server, "/hubs/rooms?session=" + session);
        await socket.SendTextAsync("{\"protocol\":\"json\",\"version\":1}\u001e");
        Assert.Equal("{}\u001e", (await socket.ReadFrameAsync())?.Text);
        await history.Reached.Task.WaitAsync(TimeSpan.FromSeconds(10));
        using var stop = new CancellationTokenSource();
        var pinging = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                await socket.SendTextAsync("{\"type\":6}\u001e");
                await Task.Delay(TimeSpan.FromMilliseconds(500), stop.Token).ContinueWith(_ => { });
            }
        });

        Assert.False(await socket.IsDisconnectedWithinAsync(TimeSpan.FromSeconds(5)), "dropped while its session was being restored");

        history.Release();
        RawWebSocket.Frame? frame;
        do
        {
            frame = await socket.ReadFrameAsync(TimeSpan.FromSeconds(10));
        }
        while (frame is not null && !frame.Text.Contains(missed, StringComparison.Ordinal)); // Pings may come first.

        Assert.NotNull(frame);
        Assert.False(await socket.IsDisconnectedWithinAsync(TimeSpan.FromSeconds(3)), "dropped although it pings");
        await stop.CancelAsync();
        await pinging;
    }

    [Fact]
    public async Task ALegacyFrameThatNeverCompletesCannotHoldTheConnection()
    {
        await using var server = await RoomHubInstance.StartAsync(Short);
        await using var socket = await RawWebSocket.ConnectAsync(server, "/");
        await socket.SendFrameAsync(0x1, Encoding.UTF8.GetBytes("{\"type\":"), fin: false);

        Assert.True(await socket.IsDisconnectedWithinAsync(TimeSpan.FromSeconds(8)));
    }

    /// <summary>
    /// The frame timeout runs from a frame's header on, not from its first few kilobytes: with pings off, nothing else
    /// would ever cut a client that stops in the middle of a frame.
    /// </summary>
    [Theory]
    [InlineData(0)]
    [InlineData(4)]
    [InlineData(5000)]
    public async Task ALegacyFrameThatStopsEarlyIsCutByTheFrameTimeoutWithPingsOff(int sent)
    {
        await using var server = await RoomHubInstance.StartAsync(new Dictionary<string, string?>(Short)
        {
            ["RoomHub:Legacy:KeepAliveInterval"] = "00:00:00",
        });
        await using var socket = await RawWebSocket.ConnectAsync(server, "/");
        await socket.SendFrameAsync(0x1, new byte[sent], declaredLength: 10_000);

        Assert.True(await socket.IsDisconnectedWithinAsync(TimeSpan.FromSeconds(8)));
    }

    /// <summary>A client that stops inside a frame's header (no masking key yet) is cut by the frame timeout too.</summary>
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(5)]
    public async Task ALegacyFrameThatStopsInsideItsHeaderIsCutByTheFrameTimeoutWithPingsOff(int headerBytes)
    {
        await using var server = await RoomHubInstance.StartAsync(new Dictionary<string, string?>(Short)
        {
            ["RoomHub:Legacy:KeepAliveInterval"] = "00:00:00",
        });
        await using var socket = await RawWebSocket.ConnectAsync(server, "/");

        // A masked text frame of 100 bytes: 0x81, 0x80 | 100, then a 4-byte masking key; only the first bytes are sent.
        await socket.SendRawAsync(new byte[] { 0x81, 0x80 | 100, 1, 2, 3 }[..headerBytes]);

        Assert.True(await socket.IsDisconnectedWithinAsync(TimeSpan.FromSeconds(8)));
    }

    /// <summary>
    /// An idle client's pongs, and its own pings even when they arrive in parts, are control frames the WebSocket handles
    /// while it waits for the next message: none of them starts a frame's deadline that nothing would then meet.
    /// </summary>
    [Fact]
    public async Task AnIdleLegacyClientThatAnswersPingsIsNeverTakenForAStalledFrame()
    {
        // A frame timeout of 2 s, not Short's 1 s: the test's own client runs in this process, and on a busy machine a
        // second between its two writes of a ping is a stalled header indeed.
        await using var server = await RoomHubInstance.StartAsync(new Dictionary<string, string?>(Short)
        {
            ["RoomHub:Security:FrameTimeout"] = "00:00:02",
            ["RoomHub:Legacy:KeepAliveInterval"] = "00:00:00.250",
            ["RoomHub:Legacy:KeepAliveTimeout"] = "00:00:10",
        });
        await using var socket = await RawWebSocket.ConnectAsync(server, "/");
        socket.NoDelay = true;

        // Two and a half frame timeouts of answering pings and sending pings of its own, some of them in two parts: a
        // deadline left running by the first of them would cut the connection within the second frame timeout.
        var pongs = 0;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(5))
        {
            var frame = await socket.ReadFrameAsync(TimeSpan.FromSeconds(4));
            Assert.True(frame is not null, $"the connection was cut (or no frame came for 4 s) after {clock.Elapsed.TotalSeconds:0.0} s");
            Assert.True(frame.Opcode != 0x8, $"the server closed the connection after {clock.Elapsed.TotalSeconds:0.0} s");
            if (frame.Opcode == 0x9)
            {
                await socket.SendFrameAsync(0xA, frame.Payload);
                pongs++;

                // A ping of the client's own: its first byte, then, a moment later, the rest (mask bit, no payload,
                // masking key). The pause is the point: the server sees a header in part, whose deadline the rest ends.
                await socket.SendRawAsync([0x89]);
                await Task.Delay(100);
                await socket.SendRawAsync([0x80, 1, 2, 3, 4]);
            }
        }

        // The server's pings go out on the connection's heartbeat, once a second at most.
        Assert.True(pongs >= 3, $"only {pongs} pings came");
        await socket.SendTextAsync("""{"type":"PRESENCE","room":"still-here"}""");
        await Poll.UntilAsync(async () => (await socket.ReadFrameAsync(TimeSpan.FromSeconds(2)))?.Text.Contains("\"PRESENCE\"", StringComparison.Ordinal) == true, "an answer on the idle connection");
    }

    [Fact]
    public async Task ALegacyFrameDeclaringAHugeLengthIsCutOffAsSoonAsItCrossesTheSizeLimit()
    {
        // One kilobyte past the limit, and then nothing: the frame is refused at once, not when its buffer would be full.
        await using var server = await RoomHubInstance.StartAsync(Short);
        await using var socket = await RawWebSocket.ConnectAsync(server, "/");
        await socket.SendFrameAsync(0x1, new byte[new Server.RoomHubOptions().EffectiveMaxReceiveMessageSize + 1024], declaredLength: 1L << 40);

        var (code, _) = await socket.ReadUntilCloseAsync(TimeSpan.FromSeconds(8));
        Assert.Equal(1009, code);
    }

    [Fact]
    public async Task ALegacyFrameCutShortThenSilentIsDroppedByTheKeepAlive()
    {
        // Mid-frame, a client cannot answer pings: the keep-alive timeout bounds a frame that stops arriving.
        await using var server = await RoomHubInstance.StartAsync(new Dictionary<string, string?>(Short)
        {
            ["RoomHub:Legacy:KeepAliveInterval"] = "00:00:01",
            ["RoomHub:Legacy:KeepAliveTimeout"] = "00:00:01",
        });
        await using var socket = await RawWebSocket.ConnectAsync(server, "/");
        await socket.SendFrameAsync(0x1, Encoding.UTF8.GetBytes("{\"ty"), declaredLength: 100);

        Assert.True(await socket.IsDisconnectedWithinAsync(TimeSpan.FromSeconds(10)));
    }

    private static async Task<bool> ClosedWithinAsync(NetworkStream stream, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        var buffer = new byte[4096];
        try
        {
            while (await stream.ReadAsync(buffer, cts.Token) > 0)
            {
            }

            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
        catch (IOException)
        {
            return true;
        }
    }
}
