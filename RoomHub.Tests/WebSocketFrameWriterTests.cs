using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using RoomHub.Server.Internal;
using RoomHub.Server.Internal.WebSockets;
using RoomHub.Tests.Infrastructure;

namespace RoomHub.Tests;

/// <summary>
/// The hub's writer of a legacy connection that left HTTP, over a connection output that the test reads frame by frame
/// (or does not read), and an input it can write a client's bytes into.
/// </summary>
public sealed class WebSocketFrameWriterTests : IDisposable
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);

    /// <summary>The connection's output pauses as Kestrel's does, at a size the tests can fill.</summary>
    private const int OutputLimit = 256;
    private const int BacklogLimit = 4096;
    private const int MoveChunk = 128;

    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private readonly Pipe _input = new(new PipeOptions(useSynchronizationContext: false));
    private readonly Pipe _output = new(new PipeOptions(pauseWriterThreshold: OutputLimit, resumeWriterThreshold: OutputLimit / 2, useSynchronizationContext: false));
    private readonly WebSocketFrameWriter _writer;
    private readonly List<Frame> _received = [];

    public WebSocketFrameWriterTests()
    {
        var telemetry = new RoomHubTelemetry(_services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(), new ConnectionRegistry());
        var backlog = new PipeOptions(pauseWriterThreshold: BacklogLimit, resumeWriterThreshold: BacklogLimit / 2, useSynchronizationContext: false);
        _writer = new WebSocketFrameWriter(_output.Writer, telemetry, backlog) { MoveChunk = MoveChunk };
    }

    public void Dispose() => _services.Dispose();

    [Fact]
    public async Task EachRecordAfterTheHandshakeAnswerIsOneFinalTextFrameWhateverItsLength()
    {
        await _writer.WriteAsync("{}\u001e"u8.ToArray());
        string[] texts = ["a", new('b', 126), new('c', 70_000)];
        await _writer.WriteAsync(Records(texts[0], texts[1]));

        // An answer, written in pieces and flushed, as the hub protocol writes one.
        var record = Records(texts[2]);
        foreach (var piece in record.Chunk(30_000))
        {
            piece.CopyTo(_writer.GetSpan(piece.Length));
            _writer.Advance(piece.Length);
        }

        await _writer.FlushAsync();

        var frames = await ReceiveUntilAsync(frames => frames.Count >= 3);
        Assert.Equal(texts, frames.Select(f => f.Text));
        Assert.All(frames, f => Assert.Equal(0x81, f.First)); // FIN, text: never fragmented
    }

    /// <summary>
    /// A SignalR client's messages leave as they are written, in binary frames for MessagePack, whole and in order, those
    /// written close together in one frame (see the bench for how many), and all of them before the close frame.
    /// </summary>
    [Fact]
    public async Task ASignalRClientsMessagesLeaveWholeInOrderAndBeforeTheCloseFrame()
    {
        _writer.Messages = new TransferFormat { ActiveFormat = Microsoft.AspNetCore.Connections.TransferFormat.Binary };
        var sent = Enumerable.Range(0, 20).Select(i => $"m{i};").ToArray();
        foreach (var message in sent)
        {
            await _writer.WriteAsync(System.Text.Encoding.UTF8.GetBytes(message));
        }

        _writer.WriteControl([0x88, 0x00]);
        var frames = await ReceiveUntilAsync(frames => frames.Any(f => f.First == 0x88));
        Assert.Equal(0x88, frames[^1].First);
        Assert.All(frames[..^1], f => Assert.Equal(0x82, f.First)); // FIN, binary
        Assert.Equal(string.Concat(sent), string.Concat(frames[..^1].Select(f => f.Text)));
    }

    /// <summary>
    /// The session is over (its WebSocket aborted, say, so no close frame went out) with a message still batched: the flush
    /// round, running late, must not write into the output, which Kestrel completes and gives back once the session returns.
    /// </summary>
    [Fact]
    public void AFlushRoundThatRunsAfterTheSessionEndedWritesNothing()
    {
        _writer.Messages = new TransferFormat();
        Assert.True(_writer.WriteAsync("late\u001e"u8.ToArray()).IsCompleted);
        _writer.End();

        // Whatever the pool's flush round sent before the end is taken; nothing may come after it, and no batch is held.
        if (_output.Reader.TryRead(out var before))
        {
            _output.Reader.AdvanceTo(before.Buffer.End);
        }

        _writer.FlushDeferred(); // The flush round, run late.
        Assert.False(_output.Reader.TryRead(out var read) && !read.Buffer.IsEmpty, "written after the session ended");
        Assert.Null(typeof(WebSocketFrameWriter).GetField("_batch", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)!.GetValue(_writer));
    }

    [Fact]
    public async Task AnEmptyFlushRentsNoBatch()
    {
        _writer.Messages = new TransferFormat();
        await _writer.FlushAsync();
        var batch = typeof(WebSocketFrameWriter).GetField("_batch", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)!;
        Assert.Null(batch.GetValue(_writer));
    }

    /// <summary>A batch's flush that finds the client gone tells the hub so at its next write, as an unbatched write would.</summary>
    [Fact]
    public async Task AfterABatchFoundTheClientGoneTheHubsWritesAreToldSo()
    {
        _writer.Messages = new TransferFormat();
        await _output.Reader.CompleteAsync();
        await _writer.WriteAsync("a\u001e"u8.ToArray());
        _writer.FlushDeferred();
        Assert.True((await _writer.WriteAsync("b\u001e"u8.ToArray())).IsCompleted);
    }

    private sealed class TransferFormat : Microsoft.AspNetCore.Connections.Features.ITransferFormatFeature
    {
        public Microsoft.AspNetCore.Connections.TransferFormat SupportedFormats => Microsoft.AspNetCore.Connections.TransferFormat.Binary | Microsoft.AspNetCore.Connections.TransferFormat.Text;

        public Microsoft.AspNetCore.Connections.TransferFormat ActiveFormat { get; set; }
    }

    [Fact]
    public async Task BehindAClientThatDoesNotReadFramesWaitInABacklogThatPausesAtTheOutboundLimitAndArriveInOrder()
    {
        await _writer.WriteAsync("{}\u001e"u8.ToArray());

        // Nobody reads: the output fills, then the backlog; every write is taken at once until the backlog is full.
        var sent = 0;
        while (_writer.Drained.IsCompleted)
        {
            Assert.True((await WriteAndFlushAsync(Records(Message(sent++)))).IsCompleted is false);
        }

        var inOutput = sent;
        ValueTask<FlushResult> flush;
        while ((flush = _writer.WriteAsync(Records(Message(sent++)))).IsCompleted)
        {
            Assert.True(sent < 1000, "the backlog never filled");
        }

        Assert.True(sent - inOutput > BacklogLimit / 120, $"the backlog took {sent - inOutput} messages");

        // The WebSocket's own frames are still written while the hub waits for room, without waiting: a ping goes after
        // what is in the output, and two pongs, to a client that does not read, are held as one, the latest.
        _writer.WriteControl([0x89, 0]);
        _writer.WriteControl([0x8A, 1, (byte)'a']);
        _writer.WriteControl([0x8A, 1, (byte)'b']);

        // The client reads: everything arrives in order, the ping after what was in the output before it, then the latest
        // pong, ahead of the backlog; the hub's wait ends and the backlog is let go.
        var frames = await ReceiveUntilAsync(frames => frames.Count(f => f.First == 0x81) >= sent);
        Assert.Equal(0x89, frames[inOutput].First);
        Assert.Equal((0x8A, "b"), (frames[inOutput + 1].First, frames[inOutput + 1].Text));
        Assert.Single(frames, f => f.First == 0x8A);
        Assert.Equal(Enumerable.Range(0, sent).Select(Message), frames.Where(f => f.First == 0x81).Select(f => f.Text));
        await flush.AsTask().WaitAsync(Deadline);
        await _writer.Drained.WaitAsync(Deadline);

        // With the client keeping up, writes go straight to the output again.
        Assert.True(_writer.WriteAsync(Records("after")).IsCompleted);
        Assert.Equal("after", (await ReceiveUntilAsync(frames => frames.Count(f => f.First == 0x81) > sent))[^1].Text);
    }

    [Fact]
    public async Task TheBacklogKeepsWhatTheClientHasNotTakenSoTheQueueStaysFullUntilItIsReadDown()
    {
        await _writer.WriteAsync("{}\u001e"u8.ToArray());
        var sent = 0;
        while (_writer.Drained.IsCompleted)
        {
            await WriteAndFlushAsync(Records(Message(sent++)));
        }

        var inOutput = sent;
        ValueTask<FlushResult> flush;
        while ((flush = _writer.WriteAsync(Records(Message(sent++)))).IsCompleted)
        {
        }

        // The client takes what is in the socket's buffer, once. The output is refilled a chunk at a time up to its
        // limit, no further; the rest stays in the backlog, still full.
        await ReceiveUntilAsync(frames => frames.Count >= inOutput);
        await Poll.UntilAsync(() => Unread() >= OutputLimit, "the output refilled from the backlog");
        Assert.InRange(Unread(), OutputLimit, OutputLimit + MoveChunk + 120);
        Assert.False(flush.IsCompleted, "the hub's wait ended after the client read a few hundred bytes");

        // Read down, the queue has room again, and every message arrives once, in order.
        var frames = await ReceiveUntilAsync(frames => frames.Count >= sent);
        Assert.Equal(Enumerable.Range(0, sent).Select(Message), frames.Select(f => f.Text));
        await flush.AsTask().WaitAsync(Deadline);
    }

    [Fact]
    public async Task NothingFollowsTheCloseFrameTheWebSocketSentByItselfNotEvenWhatWaitedInTheBacklog()
    {
        await _writer.WriteAsync("{}\u001e"u8.ToArray());
        var server = ServerWebSocketTests.Over(_input.Reader, _output.Writer, _writer).Socket;
        while (_writer.Drained.IsCompleted)
        {
            await _writer.WriteAsync(Records(new string('x', 100)));
        }

        await _writer.WriteAsync(Records("in the backlog"));

        // A client frame with a reserved opcode breaks the protocol: the WebSocket answers with close 1002 by itself.
        await _input.Writer.WriteAsync(new byte[] { 0x83, 0x80, 0, 0, 0, 0 });
        await Assert.ThrowsAsync<WebSocketException>(() => server.ReceiveAsync(new byte[16], CancellationToken.None).WaitAsync(Deadline));

        // The hub, not told yet, goes on writing: nothing of it is sent. The backlog is dropped at once, without waiting
        // for the client to read (the session sends no close of its own after this one, and does not hang on it).
        Assert.True((await _writer.WriteAsync(Records("after the close"))).IsCompleted);
        await _writer.Drained.WaitAsync(Deadline);

        var frames = await ReceiveUntilAsync(frames => frames.Any(f => f.First == 0x88));
        Assert.Equal(0x88, frames[^1].First);
        Assert.False(_output.Reader.TryRead(out var rest) && !rest.Buffer.IsEmpty, "bytes after the close frame");
        Assert.DoesNotContain(frames, f => f.Text is "in the backlog" or "after the close");
    }

    [Fact]
    public async Task PongsToAClientThatPingsAndDoesNotReadStayWithinTheOutputsLimit()
    {
        await _writer.WriteAsync("{}\u001e"u8.ToArray());
        var server = ServerWebSocketTests.Over(_input.Reader, _output.Writer, _writer).Socket;

        // 500 pings of 125 bytes, then a text frame: once it is received, every ping before it has been answered or held.
        var ping = new byte[6 + 125];
        ping[0] = 0x89;
        ping[1] = 0x80 | 125;
        for (var i = 0; i < 500; i++)
        {
            _input.Writer.Write(ping);
        }

        _input.Writer.Write(new byte[] { 0x81, 0x81, 0, 0, 0, 0, (byte)'x' });
        await _input.Writer.FlushAsync();
        var text = await server.ReceiveAsync(new byte[16], CancellationToken.None).WaitAsync(Deadline);
        Assert.Equal(WebSocketMessageType.Text, text.MessageType);
        Assert.InRange(Unread(), 1, OutputLimit + 127);

        // The client reads what is there; the latest ping's answer, held, goes out with the next write.
        var read = await _output.Reader.ReadAsync();
        _output.Reader.AdvanceTo(read.Buffer.End);
        await _writer.WriteAsync(Records("next"));
        var frames = await ReceiveUntilAsync(frames => frames.Any(f => f.Text == "next"));
        Assert.Equal([0x8A, 0x81], frames.Select(f => f.First));
    }

    [Fact]
    public async Task UnderTheWebSocketsOwnFramesAndASlowReaderNoFrameIsCutAndNoneIsLost()
    {
        await _writer.WriteAsync("{}\u001e"u8.ToArray());
        const int Count = 5000;
        using var stop = new CancellationTokenSource();
        using var turns = new SemaphoreSlim(0);

        // A ping of the largest size (always written) every few messages, from another thread, while the client reads: a
        // control frame may land at any moment the drain waits, or just as its wait ends, and fill the output again.
        var ping = new byte[2 + 125];
        ping[0] = 0x89;
        ping[1] = 125;
        var pings = Task.Run(async () =>
        {
            try
            {
                while (true)
                {
                    await turns.WaitAsync(stop.Token);
                    _writer.WriteControl(ping);
                }
            }
            catch (OperationCanceledException)
            {
            }
        });
        var hub = Task.Run(async () =>
        {
            for (var i = 0; i < Count; i++)
            {
                await _writer.WriteAsync(Records($"m{i} " + new string('y', i % 200)));
                if (i % 3 == 0)
                {
                    turns.Release();
                }
            }
        });

        var frames = await ReceiveUntilAsync(frames => frames.Count(f => f.First == 0x81) >= Count);
        await stop.CancelAsync();
        await Task.WhenAll(pings, hub).WaitAsync(Deadline);
        Assert.Equal(Enumerable.Range(0, Count).Select(i => $"m{i} " + new string('y', i % 200)), frames.Where(f => f.First == 0x81).Select(f => f.Text));
        Assert.All(frames, f => Assert.Contains(f.First, new byte[] { 0x81, 0x89 }));
    }

    [Fact]
    public async Task ATransportThatFailsWithAnErrorEndsTheBacklogAndLaterWritesReportTheClientGone()
    {
        await _writer.WriteAsync("{}\u001e"u8.ToArray());
        while (_writer.Drained.IsCompleted)
        {
            await _writer.WriteAsync(Records(new string('x', 100)));
        }

        // Kestrel completes the output with the socket's error when its send fails unexpectedly (a timed-out peer).
        await _output.Reader.CompleteAsync(new SocketException((int)SocketError.TimedOut));
        await _writer.Drained.WaitAsync(Deadline);
        Assert.True((await _writer.WriteAsync(Records("late")).AsTask().WaitAsync(Deadline)).IsCompleted);
    }

    [Fact]
    public async Task ATransportThatFailsUnderASignalRClientsBacklogReportsTheClientGoneToItsNextWrite()
    {
        _writer.Messages = new TransferFormat { ActiveFormat = Microsoft.AspNetCore.Connections.TransferFormat.Text };
        while (_writer.Drained.IsCompleted)
        {
            await _writer.WriteAsync(Encoding.UTF8.GetBytes(new string('x', 100) + "\u001e"));
        }

        await _output.Reader.CompleteAsync(new SocketException((int)SocketError.TimedOut));
        await _writer.Drained.WaitAsync(Deadline);
        Assert.True((await _writer.WriteAsync("late\u001e"u8.ToArray()).AsTask().WaitAsync(Deadline)).IsCompleted);
    }

    [Fact]
    public async Task CancelingTheTokenOfTheWriteThatFilledTheOutputLosesNoFrame()
    {
        await _writer.WriteAsync("{}\u001e"u8.ToArray());
        using var canceled = new CancellationTokenSource();
        var big = new string('b', 300);
        await _writer.WriteAsync(Records(big), canceled.Token);

        // The frame fills the output once its thread's flush round flushes it: from then on a backlog holds what follows.
        await Poll.UntilAsync(() => !_writer.Drained.IsCompleted, "a backlog behind the full output", Deadline);
        await _writer.WriteAsync(Records("m1"), canceled.Token);
        await canceled.CancelAsync();
        await _writer.WriteAsync(Records("m2"));

        var frames = await ReceiveUntilAsync(frames => frames.Count >= 3);
        Assert.Equal([big, "m1", "m2"], frames.Select(f => f.Text));
    }

    [Fact]
    public async Task WritesAfterTheHubCompletedGoNowhere()
    {
        await _writer.WriteAsync("{}\u001e"u8.ToArray());
        await _writer.CompleteAsync();
        Assert.True((await _writer.WriteAsync(Records("late"))).IsCompleted);
        Assert.False(_output.Reader.TryRead(out _));
    }

    /// <summary>
    /// Writes, then flushes at once what the write left for its thread's flush round (which, run later, finds nothing to
    /// do): the test knows which frames went into the output before a backlog formed.
    /// </summary>
    private async Task<FlushResult> WriteAndFlushAsync(byte[] records)
    {
        var result = await _writer.WriteAsync(records);
        _writer.FlushDeferred();
        return result;
    }

    private static string Message(int i) => $"message {i} " + new string('x', 100);

    /// <summary>Records as the legacy hub protocol writes them: a length (with the delivery flag), then the text.</summary>
    internal static byte[] Records(params string[] texts)
    {
        var buffer = new ArrayBufferWriter<byte>();
        foreach (var text in texts)
        {
            var bytes = Encoding.UTF8.GetBytes(text);
            BinaryPrimitives.WriteInt32LittleEndian(buffer.GetSpan(4), bytes.Length | unchecked((int)0x80000000));
            buffer.Advance(4);
            buffer.Write(bytes);
        }

        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>Bytes in the output that nobody has read, read without taking them.</summary>
    private long Unread()
    {
        if (!_output.Reader.TryRead(out var read))
        {
            return 0;
        }

        _output.Reader.AdvanceTo(read.Buffer.Start);
        return read.Buffer.Length;
    }

    /// <summary>Reads the output as a client would, until <paramref name="done"/> holds for the frames received so far.</summary>
    private async Task<List<Frame>> ReceiveUntilAsync(Func<List<Frame>, bool> done)
    {
        using var deadline = new CancellationTokenSource(Deadline);
        while (!done(_received))
        {
            var read = await _output.Reader.ReadAsync(deadline.Token);
            var bytes = read.Buffer.ToArray();
            var taken = 0;
            while (Frame.TryParse(bytes.AsSpan(taken), out var frame, out var length))
            {
                _received.Add(frame);
                taken += length;
            }

            _output.Reader.AdvanceTo(read.Buffer.GetPosition(taken), read.Buffer.End);
            Assert.False(read.IsCompleted, "the output ended");
        }

        return _received;
    }

    /// <summary>A frame as a server sends it (unmasked): its first byte (FIN and opcode) and its payload as text.</summary>
    internal sealed record Frame(byte First, string Text)
    {
        public static bool TryParse(ReadOnlySpan<byte> bytes, out Frame frame, out int length)
        {
            frame = null!;
            length = 0;
            if (bytes.Length < 2)
            {
                return false;
            }

            Assert.Equal(0, bytes[1] & 0x80); // unmasked
            long payload = bytes[1] & 0x7f;
            var header = 2;
            if (payload == 126)
            {
                if (bytes.Length < 4)
                {
                    return false;
                }

                payload = BinaryPrimitives.ReadUInt16BigEndian(bytes[2..]);
                header = 4;
            }
            else if (payload == 127)
            {
                if (bytes.Length < 10)
                {
                    return false;
                }

                payload = (long)BinaryPrimitives.ReadUInt64BigEndian(bytes[2..]);
                header = 10;
            }

            if (bytes.Length < header + payload)
            {
                return false;
            }

            frame = new Frame(bytes[0], Encoding.UTF8.GetString(bytes.Slice(header, (int)payload)));
            length = header + (int)payload;
            return true;
        }
    }
}
