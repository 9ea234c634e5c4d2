using RoomHub.Bench.Clients;

namespace RoomHub.Tests.Bench;

/// <summary>The clients' connection stream reads ahead: what the socket has is taken in one read and handed out in pieces.</summary>
public sealed class ReadAheadStreamTests
{
    [Fact]
    public async Task SmallReadsAreServedFromOneReadOfTheInnerStream()
    {
        var bytes = Enumerable.Range(0, 10_000).Select(i => (byte)i).ToArray();
        var inner = new CountingStream(bytes);
        await using var stream = new ReadAheadStream(inner);

        var read = new List<byte>();
        var piece = new byte[100];
        int count;
        while ((count = await stream.ReadAsync(piece)) > 0)
        {
            read.AddRange(piece.AsSpan(0, count).ToArray());
        }

        Assert.Equal(bytes, read);
        Assert.Equal(2, inner.Reads); // One for the bytes, one for the end of the stream.
    }

    [Fact]
    public async Task AReadAsLargeAsTheBufferGoesStraightToTheInnerStream()
    {
        var bytes = new byte[3 * ReadAheadStream.ReadSize];
        Random.Shared.NextBytes(bytes);
        var inner = new CountingStream(bytes);
        await using var stream = new ReadAheadStream(inner);

        var large = new byte[ReadAheadStream.ReadSize];
        Assert.Equal(large.Length, await stream.ReadAsync(large));
        Assert.Equal(bytes.AsSpan(0, large.Length).ToArray(), large);
        Assert.Equal(1, inner.Reads);
    }

    [Fact]
    public async Task WritesGoStraightThrough()
    {
        var inner = new CountingStream([]);
        await using var stream = new ReadAheadStream(inner);
        await stream.WriteAsync("hello"u8.ToArray());
        Assert.Equal("hello"u8.ToArray(), inner.Written.ToArray());
    }

    /// <summary>A stream over <c>bytes</c> that counts its reads and keeps what is written to it.</summary>
    private sealed class CountingStream(byte[] bytes) : MemoryStream(bytes, writable: false)
    {
        public int Reads { get; private set; }

        public MemoryStream Written { get; } = new();

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            Reads++;
            return base.ReadAsync(buffer, cancellationToken);
        }

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) =>
            Written.WriteAsync(buffer, cancellationToken);
    }
}
