using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using System.Net.WebSockets;
using System.Text;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using RoomHub.Server.Internal;
using RoomHub.Server.Internal.WebSockets;

namespace RoomHub.Tests;

/// <summary>
/// The server end of a legacy WebSocket that left HTTP, over a connection whose input the test writes a client's
/// frames into, whose output it reads the server's frames from, and whose heartbeat it beats.
/// </summary>
public sealed class ServerWebSocketTests : IDisposable
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);

    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private readonly Pipe _input = new(new PipeOptions(useSynchronizationContext: false));
    private readonly Pipe _output = new(new PipeOptions(useSynchronizationContext: false));

    public void Dispose() => _services.Dispose();

    [Fact]
    public async Task AFragmentedMessageArrivesWholeAndAPingBetweenItsFragmentsIsAnswered()
    {
        var (socket, _) = Open();

        // A header and a payload cut anywhere across the client's writes, the mask running on from one read to the next.
        var bytes = ClientFrame(0x01, "hel"u8).Concat(ClientFrame(0x89, "p"u8)).Concat(ClientFrame(0x80, "lo, world"u8)).ToArray();
        var first = socket.ReceiveAsync(Memory<byte>.Empty, CancellationToken.None).AsTask();
        foreach (var piece in bytes.Chunk(3))
        {
            await _input.Writer.WriteAsync(piece);
        }

        var start = await first.WaitAsync(Deadline);
        Assert.Equal((0, WebSocketMessageType.Text, false), (start.Count, start.MessageType, start.EndOfMessage));

        Assert.Equal("hello, world", Encoding.UTF8.GetString(await RestOfMessageAsync(socket, 4)));
        Assert.Equal([(0x8A, "p")], await ServerFramesAsync(1));
    }

    [Fact]
    public async Task ALargeFrameArrivesIntactInOddPiecesReadInOddSizes()
    {
        var (socket, _) = Open();
        var payload = new byte[70_001];
        new Random(7).NextBytes(payload);
        byte[] key = [0x5A, 0xA5, 0x3C, 0xC3];
        var frame = new byte[14 + payload.Length];
        frame[0] = 0x82;
        frame[1] = 0x80 | 127;
        BinaryPrimitives.WriteUInt64BigEndian(frame.AsSpan(2), (ulong)payload.Length);
        key.CopyTo(frame, 10);
        for (var i = 0; i < payload.Length; i++)
        {
            frame[14 + i] = (byte)(payload[i] ^ key[i % 4]);
        }

        var writing = Task.Run(async () =>
        {
            foreach (var piece in frame.Chunk(997))
            {
                await _input.Writer.WriteAsync(piece);
            }
        });

        var start = await socket.ReceiveAsync(Memory<byte>.Empty, CancellationToken.None).AsTask().WaitAsync(Deadline);
        Assert.Equal((WebSocketMessageType.Binary, false), (start.MessageType, start.EndOfMessage));
        var received = await RestOfMessageAsync(socket, 4093);
        await writing.WaitAsync(Deadline);
        Assert.Equal(payload, received);
    }

    [Fact]
    public async Task AnEmptyFinalFrameIsAWholeEmptyMessage()
    {
        var (socket, _) = Open();
        await _input.Writer.WriteAsync(ClientFrame(0x81, []));
        var result = await socket.ReceiveAsync(Memory<byte>.Empty, CancellationToken.None).AsTask().WaitAsync(Deadline);
        Assert.Equal((0, WebSocketMessageType.Text, true), (result.Count, result.MessageType, result.EndOfMessage));
    }

    public static TheoryData<string, byte[], int> Violations => new()
    {
        { "an unmasked frame", [0x81, 0x01, (byte)'x'], 1002 },
        { "a reserved bit", ClientFrame(0xC1, "x"u8), 1002 },
        { "an unknown opcode", ClientFrame(0x83, []), 1002 },
        { "a fragmented ping", ClientFrame(0x09, []), 1002 },
        { "a ping of 126 bytes", ClientFrame(0x89, new byte[126]), 1002 },
        { "a continuation of nothing", ClientFrame(0x80, "x"u8), 1002 },
        { "a new message within one", ClientFrame(0x01, "a"u8).Concat(ClientFrame(0x81, "b"u8)).ToArray(), 1002 },
        { "a close frame of one byte", ClientFrame(0x88, [3]), 1002 },
        { "a close code a peer may not send", ClientFrame(0x88, [0x03, 0xED]), 1002 },
        { "a close reason that is not UTF-8", ClientFrame(0x88, [0x03, 0xE8, 0xC3, 0x28]), 1007 },
    };

    [Theory]
    [MemberData(nameof(Violations))]
    public async Task AClientThatBreaksTheProtocolGetsACloseFrameWithItsCodeAndTheReceiveFails(string what, byte[] bytes, int code)
    {
        var (socket, _) = Open();
        await _input.Writer.WriteAsync(bytes);
        var buffer = new byte[16];
        var failed = await Assert.ThrowsAsync<WebSocketException>(async () =>
        {
            while (true)
            {
                await socket.ReceiveAsync(buffer.AsMemory(), CancellationToken.None).AsTask().WaitAsync(Deadline);
            }
        });

        Assert.Contains("protocol", failed.Message);
        var close = Assert.Single(await ServerFramesAsync(1));
        Assert.True(close.First == 0x88, what);
        Assert.Equal(code, BinaryPrimitives.ReadUInt16BigEndian(Encoding.Latin1.GetBytes(close.Text)));
        Assert.Equal(WebSocketState.CloseSent, socket.State);
        await Assert.ThrowsAsync<WebSocketException>(() => socket.ReceiveAsync(buffer.AsMemory(), CancellationToken.None).AsTask());
    }

    [Fact]
    public async Task AClientsCloseFrameEndsTheReceiveWithItsCodeAndReasonAndTheAnswerClosesTheSocket()
    {
        var (socket, _) = Open();
        await _input.Writer.WriteAsync(ClientFrame(0x88, [0x03, 0xE8, .. "bye"u8]));
        var result = await socket.ReceiveAsync(Memory<byte>.Empty, CancellationToken.None).AsTask().WaitAsync(Deadline);
        Assert.Equal(WebSocketMessageType.Close, result.MessageType);
        Assert.Equal((WebSocketCloseStatus.NormalClosure, "bye", WebSocketState.CloseReceived), (socket.CloseStatus, socket.CloseStatusDescription, socket.State));

        await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "", CancellationToken.None);
        Assert.Equal(WebSocketState.Closed, socket.State);
        Assert.Equal([(0x88, "\u0003\u00e8")], await ServerFramesAsync(1));
    }

    [Fact]
    public async Task AClientIsPingedAndKeptWhileItAnswersAndCutWhenItStops()
    {
        // The timeout leaves room for the test's own pong to wait for a thread of a pool the whole suite keeps busy: at
        // 100 ms, a pong read late in CI cut a client that had answered.
        var (socket, connection) = Open(keepAliveInterval: TimeSpan.FromMilliseconds(20), keepAliveTimeout: TimeSpan.FromMilliseconds(1000));
        var receive = socket.ReceiveAsync(Memory<byte>.Empty, CancellationToken.None).AsTask();

        // Pings, each answered with a pong: the client stays, well past the timeout.
        var until = Environment.TickCount64 + 2500;
        while (Environment.TickCount64 < until)
        {
            await BeatUntilAsync(connection, TakeOutput);
            await _input.Writer.WriteAsync(ClientFrame(0x8A, []));
        }

        Assert.Null(connection.AbortedWith);
        Assert.False(receive.IsCompleted);

        // Then it answers no more: it is cut once the timeout has passed, and the receive fails.
        await BeatUntilAsync(connection, () => connection.AbortedWith is not null);
        Assert.Equal(WebSocketState.Aborted, socket.State);
        var failed = await Assert.ThrowsAsync<WebSocketException>(() => receive.WaitAsync(Deadline));
        Assert.Contains("ping", failed.Message);
    }

    /// <summary>A SignalR client's WebSocket sends no pings (the client sends SignalR's own), and cuts a client that falls silent.</summary>
    [Fact]
    public async Task WithPingsOffAClientSilentWhileAReadWaitsIsCutAndABusySessionsIsNot()
    {
        var (socket, connection) = Open(keepAliveInterval: TimeSpan.Zero, keepAliveTimeout: TimeSpan.FromMilliseconds(200));

        // Nobody receives (the session is busy): however long that lasts, the client is not silent.
        var until = Environment.TickCount64 + 500;
        await BeatUntilAsync(connection, () => Environment.TickCount64 > until);
        Assert.Null(connection.AbortedWith);
        Assert.False(TakeOutput(), "no ping goes out");

        // A read waits, and the client sends nothing: it is cut.
        var receive = socket.ReceiveAsync(Memory<byte>.Empty, CancellationToken.None).AsTask();
        await BeatUntilAsync(connection, () => connection.AbortedWith is not null);
        var failed = await Assert.ThrowsAsync<WebSocketException>(() => receive.WaitAsync(Deadline));
        Assert.Contains("sent nothing", failed.Message);
        Assert.False(TakeOutput(), "no ping went out");
    }

    [Fact]
    public async Task AClientWhosePongWaitsUnreadWhileTheSessionIsBusyIsNotCut()
    {
        // Nobody receives (the session waits on a full hub input, say): the pongs stay unread in the input.
        var (_, connection) = Open(keepAliveInterval: TimeSpan.FromMilliseconds(20), keepAliveTimeout: TimeSpan.FromMilliseconds(100));
        var until = Environment.TickCount64 + 400;
        await BeatUntilAsync(connection, () =>
        {
            if (TakeOutput())
            {
                _input.Writer.Write(ClientFrame(0x8A, []));
                _ = _input.Writer.FlushAsync();
            }

            return Environment.TickCount64 > until;
        });

        Assert.Null(connection.AbortedWith);
    }

    [Theory]
    [InlineData(1012)]
    [InlineData(1013)]
    [InlineData(1014)]
    [InlineData(4000)]
    public async Task AClientsCloseWithAnyRegisteredCodeIsTaken(int code)
    {
        var (socket, _) = Open();
        var payload = new byte[2];
        BinaryPrimitives.WriteUInt16BigEndian(payload, (ushort)code);
        await _input.Writer.WriteAsync(ClientFrame(0x88, payload));
        var result = await socket.ReceiveAsync(Memory<byte>.Empty, CancellationToken.None).AsTask().WaitAsync(Deadline);
        Assert.Equal((WebSocketMessageType.Close, (WebSocketCloseStatus)code), (result.MessageType, socket.CloseStatus));
    }

    [Fact]
    public async Task AConnectionResetEndsTheReceiveWithAWebSocketException()
    {
        var (socket, _) = Open();
        var receive = socket.ReceiveAsync(Memory<byte>.Empty, CancellationToken.None).AsTask();
        await _input.Writer.CompleteAsync(new ConnectionResetException("reset by peer"));
        var failed = await Assert.ThrowsAsync<WebSocketException>(() => receive.WaitAsync(Deadline));
        Assert.IsType<ConnectionResetException>(failed.InnerException);
    }

    [Fact]
    public async Task ALongCloseReasonIsCutAtAWholeCharacter()
    {
        var (socket, _) = Open();
        await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, new string('é', 100), CancellationToken.None);
        var close = Assert.Single(await ServerFramesAsync(1));
        Assert.Equal(0x88, close.First);
        Assert.Equal(2 + 122, close.Text.Length); // 61 two-byte characters
        Assert.Equal(new string('é', 61), Encoding.UTF8.GetString(Encoding.Latin1.GetBytes(close.Text[2..])));
    }

    [Fact]
    public async Task AHeaderThatStopsHalfWayIsCutAfterTheFrameTimeoutAndAnIdleClientIsNot()
    {
        var (socket, connection) = Open(frameTimeout: TimeSpan.FromMilliseconds(50));
        var receive = socket.ReceiveAsync(Memory<byte>.Empty, CancellationToken.None).AsTask();

        // Idle, with nothing half sent, for several times the frame timeout: nothing happens.
        var idleUntil = Environment.TickCount64 + 200;
        await BeatUntilAsync(connection, () => Environment.TickCount64 > idleUntil);
        Assert.Null(connection.AbortedWith);

        // The first byte of a header, and no more.
        await _input.Writer.WriteAsync(new byte[] { 0x81 });
        await BeatUntilAsync(connection, () => connection.AbortedWith is not null);
        await Assert.ThrowsAsync<WebSocketException>(() => receive.WaitAsync(Deadline));
    }

    [Fact]
    public async Task ControlFramesBackToBackAcrossTheClientsWritesAreNotTakenForAStalledHeader()
    {
        // Each ping arrives whole within a few milliseconds, its last bytes in the same write as the next one's first byte.
        // The deadline is 1.5 s, so that a receive held up on a busy machine (the whole suite on 2 cores held one up for
        // over 500 ms) is not taken for a late frame; the pings go on for more than twice as long.
        var (socket, connection) = Open(frameTimeout: TimeSpan.FromMilliseconds(1500));
        var receive = socket.ReceiveAsync(Memory<byte>.Empty, CancellationToken.None).AsTask();
        var ping = ClientFrame(0x89, "x"u8);
        await _input.Writer.WriteAsync(ping.AsMemory(0, 1));
        var until = Environment.TickCount64 + 3500;
        await BeatUntilAsync(connection, () =>
        {
            _input.Writer.Write(ping.AsSpan(1));
            _input.Writer.Write(ping.AsSpan(0, 1));
            _ = _input.Writer.FlushAsync();
            TakeOutput();
            return Environment.TickCount64 > until || connection.AbortedWith is not null;
        });

        Assert.Null(connection.AbortedWith);
        Assert.False(receive.IsCompleted);
    }

    [Fact]
    public async Task AbortWakesAWaitingReceiveAndCutsTheConnection()
    {
        var (socket, connection) = Open();
        var receive = socket.ReceiveAsync(Memory<byte>.Empty, CancellationToken.None).AsTask();
        socket.Abort();
        await Assert.ThrowsAsync<WebSocketException>(() => receive.WaitAsync(Deadline));
        Assert.NotNull(connection.AbortedWith);
        Assert.Equal(WebSocketState.Aborted, socket.State);
    }

    [Fact]
    public async Task AClientThatLeavesWithoutACloseFrameEndsTheReceive()
    {
        var (socket, _) = Open();
        await _input.Writer.WriteAsync(new byte[] { 0x81, 0x85 });
        await _input.Writer.CompleteAsync();
        var failed = await Assert.ThrowsAsync<WebSocketException>(() => socket.ReceiveAsync(Memory<byte>.Empty, CancellationToken.None).AsTask().WaitAsync(Deadline));
        Assert.Equal(WebSocketError.ConnectionClosedPrematurely, failed.WebSocketErrorCode);
    }

    private (ServerWebSocket Socket, TestConnection Connection) Open(TimeSpan? keepAliveInterval = null, TimeSpan? keepAliveTimeout = null, TimeSpan? frameTimeout = null)
    {
        var telemetry = new RoomHubTelemetry(_services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(), new ConnectionRegistry());
        var frames = new WebSocketFrameWriter(_output.Writer, telemetry, new PipeOptions(useSynchronizationContext: false));
        return Over(_input.Reader, _output.Writer, frames, keepAliveInterval ?? TimeSpan.Zero, keepAliveTimeout ?? Timeout.InfiniteTimeSpan, frameTimeout ?? Timeout.InfiniteTimeSpan);
    }

    /// <summary>A legacy WebSocket over a test connection of the given pipes, writing through <paramref name="frames"/>.</summary>
    internal static (ServerWebSocket Socket, TestConnection Connection) Over(PipeReader input, PipeWriter output, WebSocketFrameWriter frames, TimeSpan? keepAliveInterval = null, TimeSpan? keepAliveTimeout = null, TimeSpan? frameTimeout = null)
    {
        var connection = new TestConnection(new DuplexPipe(input, output));
        var handoff = new ConnectionHandoff(connection);
        var socket = new ServerWebSocket(handoff, frames, subProtocol: null, keepAliveInterval ?? TimeSpan.Zero, keepAliveTimeout ?? Timeout.InfiniteTimeSpan, frameTimeout ?? Timeout.InfiniteTimeSpan);
        return (socket, connection);
    }

    /// <summary>Receives the rest of the current message, <paramref name="bufferSize"/> bytes at most at a time.</summary>
    private static async Task<byte[]> RestOfMessageAsync(ServerWebSocket socket, int bufferSize)
    {
        var received = new List<byte>();
        var buffer = new byte[bufferSize];
        ValueWebSocketReceiveResult result;
        do
        {
            result = await socket.ReceiveAsync(buffer.AsMemory(), CancellationToken.None).AsTask().WaitAsync(Deadline);
            received.AddRange(buffer.Take(result.Count));
        }
        while (!result.EndOfMessage);

        return [.. received];
    }

    /// <summary>Whether the server wrote anything since last asked (taken and let go).</summary>
    private bool TakeOutput()
    {
        if (!_output.Reader.TryRead(out var read))
        {
            return false;
        }

        _output.Reader.AdvanceTo(read.Buffer.End);
        return !read.Buffer.IsEmpty;
    }

    /// <summary>Beats the connection's heartbeat, as Kestrel does (more often here), until <paramref name="done"/>.</summary>
    private async Task BeatUntilAsync(TestConnection connection, Func<bool> done)
    {
        var deadline = Environment.TickCount64 + (long)Deadline.TotalMilliseconds;
        while (true)
        {
            connection.Beat();
            if (done())
            {
                return;
            }

            Assert.True(Environment.TickCount64 < deadline, "deadline passed");
            await Task.Delay(5);
        }
    }

    /// <summary>Reads the server's frames (unmasked) until <paramref name="count"/> are in: first byte and payload as Latin-1.</summary>
    private async Task<List<(int First, string Text)>> ServerFramesAsync(int count)
    {
        var frames = new List<(int, string)>();
        using var deadline = new CancellationTokenSource(Deadline);
        var bytes = new List<byte>();
        while (frames.Count < count)
        {
            var read = await _output.Reader.ReadAsync(deadline.Token);
            bytes.AddRange(read.Buffer.ToArray());
            _output.Reader.AdvanceTo(read.Buffer.End);
            while (bytes.Count >= 2 && bytes.Count >= 2 + (bytes[1] & 0x7f))
            {
                Assert.True((bytes[1] & 0x80) == 0 && (bytes[1] & 0x7f) < 126, "a small unmasked frame");
                var length = bytes[1] & 0x7f;
                frames.Add((bytes[0], Encoding.Latin1.GetString(bytes.Skip(2).Take(length).ToArray())));
                bytes.RemoveRange(0, 2 + length);
            }
        }

        return frames;
    }

    /// <summary>A client's frame: first byte as given, masked with a key that changes every byte.</summary>
    internal static byte[] ClientFrame(byte first, ReadOnlySpan<byte> payload)
    {
        byte[] key = [0x5A, 0xA5, 0x3C, 0xC3];
        var header = payload.Length < 126 ? 2 : 4;
        var frame = new byte[header + 4 + payload.Length];
        frame[0] = first;
        if (header == 2)
        {
            frame[1] = (byte)(0x80 | payload.Length);
        }
        else
        {
            frame[1] = 0x80 | 126;
            BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(2), (ushort)payload.Length);
        }

        key.CopyTo(frame, header);
        for (var i = 0; i < payload.Length; i++)
        {
            frame[header + 4 + i] = (byte)(payload[i] ^ key[i % 4]);
        }

        return frame;
    }

    /// <summary>A connection of the given pipes, whose heartbeat the test beats and whose abort it records.</summary>
    internal sealed class TestConnection : ConnectionContext, IConnectionHeartbeatFeature
    {
        private readonly List<(Action<object> Action, object State)> _beats = [];

        public TestConnection(IDuplexPipe transport)
        {
            Transport = transport;
            Features.Set<IConnectionHeartbeatFeature>(this);
        }

        public override string ConnectionId { get; set; } = "test";

        public override IFeatureCollection Features { get; } = new FeatureCollection();

        public override IDictionary<object, object?> Items { get; set; } = new Dictionary<object, object?>();

        public override IDuplexPipe Transport { get; set; }

        public string? AbortedWith { get; private set; }

        public override void Abort(ConnectionAbortedException abortReason) => AbortedWith = abortReason.Message;

        public void OnHeartbeat(Action<object> action, object state)
        {
            lock (_beats)
            {
                _beats.Add((action, state));
            }
        }

        public void Beat()
        {
            lock (_beats)
            {
                foreach (var (action, state) in _beats)
                {
                    action(state);
                }
            }
        }
    }
}
