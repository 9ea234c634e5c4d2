using System.Buffers;

namespace RoomHub.Server.Internal.WebSockets;

internal static class PooledBytes
{
    /// <summary>
    /// A pooled buffer of at least <paramref name="size"/> bytes holding the first <paramref name="used"/> bytes of
    /// <paramref name="buffer"/>, which goes back to the pool (a null buffer holds nothing): <paramref name="pool"/>, or
    /// the shared one.
    /// </summary>
    public static byte[] Grow(byte[]? buffer, int used, int size, ArrayPool<byte>? pool = null)
    {
        pool ??= ArrayPool<byte>.Shared;
        var larger = pool.Rent(size);
        if (buffer is not null)
        {
            buffer.AsSpan(0, used).CopyTo(larger);
            pool.Return(buffer);
        }

        return larger;
    }
}
