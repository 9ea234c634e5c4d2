using System.Buffers;
using System.IO.Pipelines;
using System.Text;
using RoomHub.Server.Internal.WebSockets;

namespace RoomHub.Tests;

public sealed class TransportStreamTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task AReadCanceledByHttpIsReadAgainAndReturnsTheBytesWaiting()
    {
        var (stream, client) = Connect();
        await client.WriteAsync("abc"u8.ToArray());

        // Kestrel cancels the input's pending read when it stops taking requests (a graceful shutdown).
        client.Reader.CancelPendingRead();

        var buffer = new byte[16];
        var read = await stream.ReadAsync(buffer).AsTask().WaitAsync(Deadline);
        Assert.Equal("abc", Encoding.ASCII.GetString(buffer, 0, read));
    }

    [Fact]
    public async Task AWaitingReadCanceledByHttpGoesOnWaitingForTheNextBytes()
    {
        var (stream, client) = Connect();
        var buffer = new byte[16];
        var reading = stream.ReadAsync(buffer).AsTask();

        client.Reader.CancelPendingRead();
        await client.WriteAsync("x"u8.ToArray());

        Assert.Equal(1, await reading.WaitAsync(Deadline));
        Assert.Equal((byte)'x', buffer[0]);
    }

    [Fact]
    public async Task AnEmptyReadWaitsForBytesAndTakesNone()
    {
        var (stream, client) = Connect();
        var waiting = stream.ReadAsync(Memory<byte>.Empty).AsTask();
        Assert.False(waiting.IsCompleted);

        await client.WriteAsync("hello"u8.ToArray());
        Assert.Equal(0, await waiting.WaitAsync(Deadline));

        var buffer = new byte[3];
        Assert.Equal(3, await stream.ReadAsync(buffer));
        Assert.Equal("hel", Encoding.ASCII.GetString(buffer));
        Assert.Equal(2, await stream.ReadAsync(buffer));
        Assert.Equal("lo", Encoding.ASCII.GetString(buffer, 0, 2));
    }

    [Fact]
    public async Task TheEndOfTheInputReadsAsNothingAndWritesReachTheOutput()
    {
        var (stream, client) = Connect();
        await stream.WriteAsync("out"u8.ToArray());
        var written = await client.Output.ReadAsync().AsTask().WaitAsync(Deadline);
        Assert.Equal("out", Encoding.ASCII.GetString(written.Buffer.ToArray()));

        await client.CompleteAsync();
        Assert.Equal(0, await stream.ReadAsync(new byte[4]).AsTask().WaitAsync(Deadline));
    }

    /// <summary>A stream over two pipes, and the client's ends of them: it writes the input, reads the output.</summary>
    private static (TransportStream Stream, Client Client) Connect()
    {
        var input = new Pipe();
        var output = new Pipe();
        return (new TransportStream(new Duplex(input.Reader, output.Writer)), new Client(input, output.Reader));
    }

    private sealed record Duplex(PipeReader Input, PipeWriter Output) : IDuplexPipe;

    private sealed record Client(Pipe Input, PipeReader Output)
    {
        public PipeReader Reader => Input.Reader;

        public async Task WriteAsync(byte[] bytes) => await Input.Writer.WriteAsync(bytes);

        public ValueTask CompleteAsync() => Input.Writer.CompleteAsync();
    }
}
