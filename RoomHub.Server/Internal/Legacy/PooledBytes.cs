using System.Buffers;

namespace RoomHub.Server.Internal.Legacy;

internal static class PooledBytes
{
    /// <summary>
    /// A pooled buffer of at least <paramref name="size"/> bytes holding the first <paramref name="used"/> bytes of
    /// <paramref name="buffer"/>, which goes back to the pool (a null buffer holds nothing).
    /// </summary>
    public static byte[] Grow(byte[]? buffer, int used, int size)
    {
        var larger = ArrayPool<byte>.Shared.Rent(size);
        if (buffer is not null)
        {
            buffer.AsSpan(0, used).CopyTo(larger);
            ArrayPool<byte>.Shared.Return(buffer);
        }

        return larger;
    }
}
