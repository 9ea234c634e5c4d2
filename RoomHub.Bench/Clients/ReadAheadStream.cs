using System.Buffers;

namespace RoomHub.Bench.Clients;

/// <summary>
/// A client connection's stream that reads from its socket up to <see cref="ReadSize"/> bytes at a time and hands them
/// out in whatever pieces the reader asks for; writes go straight through.
/// </summary>
/// <remarks>
/// .NET's WebSocket client reads its connection through a 4 KiB buffer of the HTTP handler's, so a client that is behind
/// makes one read call per 4 KiB, where a client of another stack (node's <c>ws</c>, for one) reads 64 KiB at a time.
/// The clients share the machine with the servers they measure, so a read call per 4 KiB is CPU taken from the servers.
/// The buffer is rented while it holds bytes and returned once they are all handed out, so an idle connection holds none.
/// </remarks>
internal sealed class ReadAheadStream(Stream inner) : Stream
{
    internal const int ReadSize = 64 * 1024;

    private byte[]? _buffer;
    private int _start;
    private int _end;

    public override bool CanRead => true;
    public override bool CanWrite => true;
    public override bool CanSeek => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override async ValueTask<int> ReadAsync(Memory<byte> destination, CancellationToken cancellationToken = default)
    {
        if (destination.IsEmpty)
        {
            return await inner.ReadAsync(destination, cancellationToken).ConfigureAwait(false);
        }

        if (_buffer is null)
        {
            if (destination.Length >= ReadSize)
            {
                return await inner.ReadAsync(destination, cancellationToken).ConfigureAwait(false);
            }

            var buffer = ArrayPool<byte>.Shared.Rent(ReadSize);
            int read;
            try
            {
                read = await inner.ReadAsync(buffer.AsMemory(0, ReadSize), cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                ArrayPool<byte>.Shared.Return(buffer);
                throw;
            }

            if (read == 0)
            {
                ArrayPool<byte>.Shared.Return(buffer);
                return 0;
            }

            (_buffer, _start, _end) = (buffer, 0, read);
        }

        var count = Math.Min(destination.Length, _end - _start);
        _buffer.AsSpan(_start, count).CopyTo(destination.Span);
        _start += count;
        if (_start == _end)
        {
            ReturnBuffer();
        }

        return count;
    }

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> source, CancellationToken cancellationToken = default) => inner.WriteAsync(source, cancellationToken);

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => inner.WriteAsync(buffer, offset, count, cancellationToken);

    public override void Write(byte[] buffer, int offset, int count) => inner.Write(buffer, offset, count);

    public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);

    public override void Flush() => inner.Flush();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            inner.Dispose();
            ReturnBuffer();
        }

        base.Dispose(disposing);
    }

    public override async ValueTask DisposeAsync()
    {
        await inner.DisposeAsync().ConfigureAwait(false);
        ReturnBuffer();
        GC.SuppressFinalize(this);
    }

    /// <summary>Gives the buffer back to the pool, if one is rented.</summary>
    private void ReturnBuffer()
    {
        if (_buffer is { } buffer)
        {
            _buffer = null;
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
