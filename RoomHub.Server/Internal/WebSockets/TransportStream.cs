using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;

namespace RoomHub.Server.Internal.WebSockets;

/// <summary>
/// A stream over a connection's own pipes: reads from its input, writes to its output, and leaves both open (Kestrel
/// completes them when the connection ends).
/// </summary>
internal sealed class TransportStream(IDuplexPipe pipe) : Stream
{
    private readonly PipeReader _input = pipe.Input;
    private readonly Stream _writes = pipe.Output.AsStream(leaveOpen: true);

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    /// <summary>
    /// Reads what is there, up to <paramref name="buffer"/>'s length; an empty buffer waits for bytes and takes none.
    /// A read canceled by HTTP is not this stream's, and it reads again: HTTP cancels the input's pending read when it
    /// stops taking requests (a graceful shutdown), which may come while a legacy handshake is answered, or at any time
    /// under a SignalR WebSocket, whose request stays.
    /// </summary>
    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_input.TryRead(out var result))
        {
            if (!result.IsCanceled)
            {
                return new(Take(result, buffer.Span));
            }

            // Every read that returned is advanced before the next, even one that is read again.
            _input.AdvanceTo(result.Buffer.Start);
        }

        return ReadAwaitedAsync(buffer, cancellationToken);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<int> ReadAwaitedAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        while (true)
        {
            var result = await _input.ReadAsync(cancellationToken).ConfigureAwait(false);
            if (!result.IsCanceled)
            {
                return Take(result, buffer.Span);
            }

            _input.AdvanceTo(result.Buffer.Start);
        }
    }

    private int Take(ReadResult result, Span<byte> buffer)
    {
        var available = result.Buffer;
        var taken = (int)Math.Min(available.Length, buffer.Length);
        available.Slice(0, taken).CopyTo(buffer);
        _input.AdvanceTo(available.GetPosition(taken));
        return taken;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) => _writes.WriteAsync(buffer, cancellationToken);

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => _writes.WriteAsync(buffer, offset, count, cancellationToken);

    public override void Write(byte[] buffer, int offset, int count) => _writes.Write(buffer, offset, count);

    public override Task FlushAsync(CancellationToken cancellationToken) => _writes.FlushAsync(cancellationToken);

    public override void Flush() => _writes.Flush();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();
}
