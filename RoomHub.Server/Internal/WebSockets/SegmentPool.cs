using System.Buffers;

namespace RoomHub.Server.Internal.WebSockets;

/// <summary>
/// The memory of the WebSocket connections' pipes and batches. A pipe rents a segment for a write into an empty pipe and returns it
/// when the pump has sent it, so every delivery rents and returns one. The shared array pool keeps only a few arrays
/// per core, and with thousands of connections more segments than that are out at once, so most rents fell through to
/// a new array (8% of an instance's CPU in rooms of 10 at 2,500 messages/s). This pool keeps up to
/// <see cref="ArraysPerBucket"/> arrays of each size up to <see cref="MaxPooledBytes"/> (at most about 16 MB held).
/// </summary>
internal sealed class SegmentPool : MemoryPool<byte>
{
    public const int MaxPooledBytes = 4096;
    public const int ArraysPerBucket = 2048;

    private readonly ArrayPool<byte> _arrays = ArrayPool<byte>.Create(MaxPooledBytes, ArraysPerBucket);

    /// <summary>
    /// Arrays of any size, rented whole (a SignalR client's batch of messages, say): up to <see cref="MaxPooledBytes"/>
    /// the ones under the segments, larger ones from the shared pool.
    /// </summary>
    public ArrayPool<byte> Arrays { get; }

    public SegmentPool() => Arrays = new BySize(_arrays);

    /// <summary>The pool every legacy connection of the process shares.</summary>
    public static SegmentPool Instance { get; } = new();

    public override int MaxBufferSize => int.MaxValue;

    public override IMemoryOwner<byte> Rent(int minBufferSize = -1) =>
        new Lease(_arrays, _arrays.Rent(minBufferSize < 0 ? MaxPooledBytes : minBufferSize));

    protected override void Dispose(bool disposing)
    {
    }

    /// <summary>Rents from the segments' arrays up to their largest size, from the shared pool above it, and gives each array back where it came from (told apart by its length: the shared pool rents none under twice that size).</summary>
    private sealed class BySize(ArrayPool<byte> small) : ArrayPool<byte>
    {
        public override byte[] Rent(int minimumLength) => (minimumLength <= MaxPooledBytes ? small : Shared).Rent(minimumLength);

        public override void Return(byte[] array, bool clearArray = false) => (array.Length <= MaxPooledBytes ? small : Shared).Return(array, clearArray);
    }

    private sealed class Lease(ArrayPool<byte> arrays, byte[] array) : IMemoryOwner<byte>
    {
        private byte[]? _array = array;

        public Memory<byte> Memory => _array ?? throw new ObjectDisposedException(nameof(Lease));

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _array, null) is { } returned)
            {
                arrays.Return(returned);
            }
        }
    }
}
