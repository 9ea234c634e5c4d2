using System.Buffers;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.SignalR;
using RoomHub.Server.Internal.Legacy;

namespace RoomHub.Server.Internal.WebSockets;

/// <summary>
/// The upgraded stream under the WebSocket of a legacy or hub connection, able to hold writes back while
/// <see cref="Corked"/> is set and send them with the next write made while it is not (as TCP_CORK does for a socket).
/// The legacy protocol needs a frame per message, and each frame the WebSocket sends is otherwise its own write through
/// Kestrel's output; the legacy pump corks the stream while more frames of the same batch follow, so a batch leaves in
/// one write. Hub connections never cork it: SignalR already sends what it has queued as one WebSocket message.
/// </summary>
/// <remarks>
/// The stream under it must send what each write gives it, as Kestrel's upgraded stream does: flushes are not passed
/// on. Only the WebSocket writes to this stream, one write at a time (it serializes its own sends, pings and pongs
/// included), so the held bytes need no lock. Whatever is held goes out with the next uncorked write: the pump's last
/// frame of a batch, or the close frame. Reads pass straight through.
/// </remarks>
internal sealed class CorkingStream(Stream inner) : Stream
{
    /// <summary>Held bytes beyond this are sent at once, corked or not.</summary>
    private const int MaxHeld = 64 * 1024;

    private byte[]? _held;
    private int _heldLength;
    private volatile bool _corked;

    /// <summary>Set by the pump while more frames of the current batch follow the one it is sending.</summary>
    public bool Corked
    {
        get => _corked;
        set => _corked = value;
    }

    public override bool CanRead => inner.CanRead;

    public override bool CanSeek => false;

    public override bool CanWrite => inner.CanWrite;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_held is null && !_corked)
        {
            return inner.WriteAsync(buffer, cancellationToken);
        }

        Hold(buffer.Span);
        return _corked && _heldLength < MaxHeld ? ValueTask.CompletedTask : SendHeldAsync(cancellationToken);
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    /// <summary>
    /// Does nothing. The WebSocket flushes its stream after every frame, but Kestrel's upgraded stream already sends
    /// what each write gives it (a write is a write and a flush of the response pipe), so passing the flush on would
    /// take Kestrel's output lock a second time per frame for nothing; and held bytes must wait for the batch's last
    /// frame anyway.
    /// </summary>
    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public override void Flush()
    {
    }

    /// <summary>The WebSocket session reading through this stream, told of each read and whether it only waits for bytes (a zero-byte read).</summary>
    public WebSocketSession? Reader { get; set; }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        Reader?.Reading(waiting: buffer.IsEmpty);

        return inner.ReadAsync(buffer, cancellationToken);
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => inner.ReadAsync(buffer, offset, count, cancellationToken);

    public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    private void Hold(ReadOnlySpan<byte> bytes)
    {
        if (_held is null || _held.Length - _heldLength < bytes.Length)
        {
            _held = PooledBytes.Grow(_held, _heldLength, Math.Max(4096, (_heldLength + bytes.Length) * 2));
        }

        bytes.CopyTo(_held.AsSpan(_heldLength));
        _heldLength += bytes.Length;
    }

    private async ValueTask SendHeldAsync(CancellationToken cancellationToken)
    {
        var held = _held!;
        var length = _heldLength;
        _held = null;
        _heldLength = 0;
        try
        {
            await inner.WriteAsync(held.AsMemory(0, length), cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            // An idle connection keeps no buffer: it is rented for a batch and returned after it.
            ArrayPool<byte>.Shared.Return(held);
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            if (_held is { } held)
            {
                _held = null;
                ArrayPool<byte>.Shared.Return(held);
            }

            inner.Dispose();
        }

        base.Dispose(disposing);
    }

    /// <summary>
    /// Makes the WebSockets of legacy and hub connections over a <see cref="CorkingStream"/>: the legacy pump corks it to
    /// send a batch of frames in one write, and both save the second pass through Kestrel's output per frame that the
    /// WebSocket's flush would cost. Goes before the WebSocket middleware, which takes the upgrade feature when it runs.
    /// </summary>
    public static void UseForWebSockets(IApplicationBuilder app)
    {
        var negotiated = app.ApplicationServices.GetService<NegotiatedConnections>();
        app.Use((context, next) =>
        {
            if (context.Features.Get<IHttpUpgradeFeature>() is { IsUpgradableRequest: true } upgrade
                && context.GetEndpoint()?.Metadata is { } metadata)
            {
                var legacy = metadata.Contains(LegacyEndpoint.Marker);
                if (legacy || metadata.GetMetadata<HubMetadata>() is not null)
                {
                    // A SignalR WebSocket leaves HTTP too when it did not negotiate (no connection id), or negotiated here
                    // lately: this server runs its transport (see LegacyEndpoint.AcceptHubClientAsync).
                    var handOver = legacy || context.Request.Query["id"] switch
                    {
                        [] => true,
                        [{ } id] => negotiated?.IsOurs(id) ?? false,
                        _ => false,
                    };
                    context.Features.Set<IHttpUpgradeFeature>(new Upgrade(upgrade, ConnectionHandoff.Of(context), handOver));
                }
            }

            return next(context);
        });
    }

    /// <summary>
    /// Put in place of the request's upgrade feature, so the WebSocket accepted is made over a <see cref="CorkingStream"/>,
    /// itself over the connection's own pipes where the connection came through <see cref="ConnectionHandoff"/>, else
    /// over HTTP's upgraded stream. After the 101, HTTP neither reads nor writes the connection until the request ends:
    /// its upgraded stream only passes each read and write through the request's body and response layers, which the
    /// connection's pipes skip. The WebSocket is then handed over (<paramref name="handOver"/>: a legacy one, or a SignalR
    /// one this server runs), or runs within its request, which SignalR keeps.
    /// </summary>
    public sealed class Upgrade(IHttpUpgradeFeature inner, ConnectionHandoff? connection, bool handOver) : IHttpUpgradeFeature
    {
        public CorkingStream? Stream { get; private set; }

        /// <summary>Where the session goes once the request has answered the handshake; none: it runs within the request.</summary>
        public ConnectionHandoff? Handoff => handOver ? connection : null;

        public bool IsUpgradableRequest => inner.IsUpgradableRequest;

        public async Task<Stream> UpgradeAsync()
        {
            var upgraded = await inner.UpgradeAsync().ConfigureAwait(false);

            // A legacy WebSocket handed over reads and writes the connection's pipes itself (ServerWebSocket).
            return Handoff is not null ? upgraded : Stream = new CorkingStream(connection?.OpenStream() ?? upgraded);
        }
    }
}
