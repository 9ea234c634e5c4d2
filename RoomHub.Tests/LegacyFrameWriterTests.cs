using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using System.Net.WebSockets;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using RoomHub.Server.Internal;
using RoomHub.Server.Internal.Legacy;

namespace RoomHub.Tests;

/// <summary>
/// The hub's writer of a legacy connection that left HTTP, over a connection output the test reads (or does not), with
/// a client WebSocket reading what it sends.
/// </summary>
public sealed class LegacyFrameWriterTests : IDisposable
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);

    /// <summary>The connection's output pauses as Kestrel's does, at a size the tests can fill.</summary>
    private const int OutputLimit = 256;
    private const int BacklogLimit = 4096;

    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private readonly Pipe _output = new(new PipeOptions(pauseWriterThreshold: OutputLimit, resumeWriterThreshold: OutputLimit / 2, useSynchronizationContext: false));
    private readonly TransportStream _transport;
    private readonly LegacyFrameWriter _writer;

    public LegacyFrameWriterTests()
    {
        var telemetry = new RoomHubTelemetry(_services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(), new ConnectionRegistry());
        _transport = new TransportStream(new DuplexPipe(new Pipe().Reader, _output.Writer), owner: null);
        _writer = _transport.ShareOutput(telemetry, new PipeOptions(pauseWriterThreshold: BacklogLimit, resumeWriterThreshold: BacklogLimit / 2, useSynchronizationContext: false));
    }

    public void Dispose() => _services.Dispose();

    [Fact]
    public async Task EachRecordAfterTheHandshakeAnswerIsOneTextFrameWhateverItsLength()
    {
        await _writer.WriteAsync("{}\u001e"u8.ToArray());
        string[] texts = ["a", new('b', 126), new('c', 70_000)];
        await _writer.WriteAsync(Records(texts[0], texts[1]));

        // An answer, written piece by piece and flushed.
        var record = Records(texts[2]);
        record.CopyTo(_writer.GetSpan(record.Length));
        _writer.Advance(record.Length);
        var flushing = _writer.FlushAsync().AsTask();

        var client = ClientOverOutput();
        foreach (var text in texts)
        {
            Assert.Equal(text, await ReceiveTextAsync(client));
        }

        await flushing.WaitAsync(Deadline);
    }

    [Fact]
    public async Task BehindAClientThatDoesNotReadFramesWaitInABacklogThatPausesAtTheOutboundLimitAndArriveInOrder()
    {
        await _writer.WriteAsync("{}\u001e"u8.ToArray());

        // Nobody reads: the output fills, then the backlog; writes are taken at once until the backlog is full.
        var sent = 0;
        ValueTask<FlushResult> flush;
        while ((flush = _writer.WriteAsync(Records($"message {sent++} " + new string('x', 100)))).IsCompleted)
        {
            Assert.True(sent < 1000, "the backlog never filled");
        }

        Assert.True(sent * 110 > OutputLimit + BacklogLimit, $"full after {sent} messages");
        Assert.False(_writer.Drained.IsCompleted);

        // The WebSocket's own frames (a pong, say) are still written while the hub waits for room, without waiting.
        Assert.True(_transport.WriteAsync(new byte[] { 0x8A, 0 }).IsCompleted);

        // The client reads: everything arrives, in order (the pong where it was written), and the backlog is let go.
        var client = ClientOverOutput();
        var received = new List<string>();
        while (received.Count < sent)
        {
            received.Add(await ReceiveTextAsync(client));
        }

        Assert.Equal(Enumerable.Range(0, sent).Select(i => $"message {i} " + new string('x', 100)), received);
        await flush.AsTask().WaitAsync(Deadline);
        await _writer.Drained.WaitAsync(Deadline);

        // With the client keeping up, writes go straight to the output again.
        Assert.True(_writer.WriteAsync(Records("after")).IsCompleted);
        Assert.Equal("after", await ReceiveTextAsync(client));
    }

    [Fact]
    public async Task ABacklogIsDroppedWhenTheConnectionIsGone()
    {
        await _writer.WriteAsync("{}\u001e"u8.ToArray());
        while (_writer.Drained.IsCompleted)
        {
            await _writer.WriteAsync(Records(new string('x', 100)));
        }

        Assert.False(_writer.Drained.IsCompleted);
        await _output.Reader.CompleteAsync();
        await _writer.Drained.WaitAsync(Deadline);
        Assert.True((await _writer.WriteAsync(Records("late")).AsTask().WaitAsync(Deadline)).IsCompleted);
    }

    [Fact]
    public async Task WritesAfterTheHubCompletedGoNowhere()
    {
        await _writer.WriteAsync("{}\u001e"u8.ToArray());
        await _writer.CompleteAsync();
        Assert.True((await _writer.WriteAsync(Records("late"))).IsCompleted);
        Assert.False(_output.Reader.TryRead(out _));
    }

    /// <summary>Records as the legacy hub protocol writes them: a length (with the delivery flag), then the text.</summary>
    private static byte[] Records(params string[] texts)
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

    /// <summary>A client WebSocket reading the connection's output (what it would send goes nowhere).</summary>
    private WebSocket ClientOverOutput() =>
        WebSocket.CreateFromStream(new TransportStream(new DuplexPipe(_output.Reader, new Pipe().Writer), owner: null), new WebSocketCreationOptions { IsServer = false, KeepAliveInterval = TimeSpan.Zero });

    private static async Task<string> ReceiveTextAsync(WebSocket client)
    {
        var buffer = new byte[100_000];
        var length = 0;
        while (true)
        {
            var result = await client.ReceiveAsync(buffer.AsMemory(length), CancellationToken.None).AsTask().WaitAsync(Deadline);
            Assert.Equal(WebSocketMessageType.Text, result.MessageType);
            length += result.Count;
            if (result.EndOfMessage)
            {
                return Encoding.UTF8.GetString(buffer, 0, length);
            }
        }
    }
}
