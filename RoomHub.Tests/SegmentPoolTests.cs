using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.InteropServices;
using RoomHub.Server.Internal.WebSockets;

namespace RoomHub.Tests;

public sealed class SegmentPoolTests
{
    [Fact]
    public void ASegmentIsAtLeastTheSizeAskedForAndTheDefaultIsAFullBlock()
    {
        var pool = new SegmentPool();

        using var small = pool.Rent(100);
        using var whole = pool.Rent();
        using var large = pool.Rent(SegmentPool.MaxPooledBytes * 4);

        Assert.InRange(small.Memory.Length, 100, SegmentPool.MaxPooledBytes);
        Assert.Equal(SegmentPool.MaxPooledBytes, whole.Memory.Length);
        Assert.InRange(large.Memory.Length, SegmentPool.MaxPooledBytes * 4, int.MaxValue);
    }

    [Fact]
    public void AReturnedSegmentIsReusedAndReturningTwiceReturnsOnce()
    {
        var pool = new SegmentPool();
        var first = pool.Rent(1000);
        Assert.True(MemoryMarshal.TryGetArray<byte>(first.Memory, out var rented));

        first.Dispose();
        first.Dispose();
        using var second = pool.Rent(1000);
        using var third = pool.Rent(1000);

        Assert.True(MemoryMarshal.TryGetArray<byte>(second.Memory, out var again));
        Assert.True(MemoryMarshal.TryGetArray<byte>(third.Memory, out var other));
        Assert.Same(rented.Array, again.Array);
        Assert.NotSame(rented.Array, other.Array);
        Assert.Throws<ObjectDisposedException>(() => first.Memory);
    }

    [Fact]
    public async Task APipeOverThePoolCarriesWritesLargerThanASegmentIntact()
    {
        var pipe = new Pipe(new PipeOptions(new SegmentPool(), useSynchronizationContext: false));
        var data = Enumerable.Range(0, 3 * SegmentPool.MaxPooledBytes + 17).Select(i => (byte)i).ToArray();

        for (var i = 0; i < data.Length; i += 1000)
        {
            await pipe.Writer.WriteAsync(data.AsMemory(i, Math.Min(1000, data.Length - i)));
        }

        await pipe.Writer.CompleteAsync();
        var read = await pipe.Reader.ReadAtLeastAsync(data.Length);
        Assert.Equal(data, read.Buffer.ToArray());
        pipe.Reader.AdvanceTo(read.Buffer.End);
        await pipe.Reader.CompleteAsync();
    }
}
