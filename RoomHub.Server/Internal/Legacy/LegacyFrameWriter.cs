using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;

namespace RoomHub.Server.Internal.Legacy;

/// <summary>
/// The hub's output of a handed-over legacy connection: each record the legacy hub protocol writes becomes a WebSocket
/// text frame written straight into the connection's output, where Kestrel's socket sender sends whatever has piled up
/// since its last send. No pipe and no pump stand between the hub and the socket, as they do for a legacy WebSocket that
/// stays within its request (see <see cref="LegacySession"/>).
/// </summary>
/// <remarks>
/// The hub writes one message at a time (SignalR's per-connection write lock). The WebSocket writes its own control
/// frames (pings, pongs, the close) into the same output through <see cref="TransportStream"/>; both write and flush
/// under <see cref="TransportStream.WriteGate"/>, and only this writer's flushes are awaited (a pipe takes one waiter),
/// so the hub, and the slow-consumer guard above it, see the output's backpressure as they saw the pipe's before.
/// </remarks>
internal sealed class LegacyFrameWriter(TransportStream transport, RoomHubTelemetry telemetry) : PipeWriter
{
    private static readonly ValueTask<FlushResult> Ended = new(new FlushResult(isCanceled: false, isCompleted: true));

    /// <summary>A WebSocket frame header: up to 10 bytes (RFC 6455, section 5.2).</summary>
    private const int MaxFrameHeader = 10;

    private readonly PipeWriter _output = transport.Output;

    /// <summary>What the hub writes piece by piece (an answer) until it flushes; rented for that long only.</summary>
    private byte[]? _pending;
    private int _pendingLength;
    private bool _handshakeDone;
    private volatile bool _completed;

    /// <summary>Told if the hub refuses the connection in its handshake answer.</summary>
    public LegacySession? Session { get; set; }

    public override void Advance(int bytes) => _pendingLength += bytes;

    public override Memory<byte> GetMemory(int sizeHint = 0) => Reserve(sizeHint).AsMemory(_pendingLength);

    public override Span<byte> GetSpan(int sizeHint = 0) => Reserve(sizeHint).AsSpan(_pendingLength);

    private byte[] Reserve(int sizeHint)
    {
        var needed = _pendingLength + Math.Max(sizeHint, 1);
        if (_pending is null || _pending.Length < needed)
        {
            _pending = PooledBytes.Grow(_pending, _pendingLength, Math.Max(needed, 512));
        }

        return _pending;
    }

    public override void CancelPendingFlush() => _output.CancelPendingFlush();

    /// <summary>
    /// The hub is done: what it writes from now on (a late delivery of a room it has left) goes nowhere. Only the writer
    /// touches the buffer it may hold, so it is let go at its next flush, not here.
    /// </summary>
    public override void Complete(Exception? exception = null) => _completed = true;

    public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
    {
        var pending = _pending;
        var length = _pendingLength;
        _pending = null;
        _pendingLength = 0;
        try
        {
            return _completed ? Ended : WriteFrames(pending.AsSpan(0, length), cancellationToken);
        }
        finally
        {
            if (pending is not null)
            {
                ArrayPool<byte>.Shared.Return(pending);
            }
        }
    }

    /// <summary>SignalR writes each serialized message, the same bytes for every legacy member of a room, with one call.</summary>
    public override ValueTask<FlushResult> WriteAsync(ReadOnlyMemory<byte> source, CancellationToken cancellationToken = default)
    {
        if (_pendingLength > 0)
        {
            source.Span.CopyTo(GetSpan(source.Length));
            Advance(source.Length);
            return FlushAsync(cancellationToken);
        }

        return _completed ? Ended : WriteFrames(source.Span, cancellationToken);
    }

    private ValueTask<FlushResult> WriteFrames(ReadOnlySpan<byte> records, CancellationToken cancellationToken)
    {
        if (!_handshakeDone && !SkipHandshake(ref records))
        {
            return default;
        }

        var delivered = 0;
        ValueTask<FlushResult> flush;
        lock (transport.WriteGate)
        {
            while (LegacyHubProtocol.TryReadRecord(ref records, out var payload, out var delivery))
            {
                WriteFrame(payload);
                delivered += delivery ? 1 : 0;
            }

            flush = _output.FlushAsync(cancellationToken);
        }

        for (; delivered > 0; delivered--)
        {
            telemetry.Delivered(ConnectionRegistry.Legacy);
        }

        return flush;
    }

    /// <summary>An unmasked, final text frame (a server's frames are never masked): the header, then the payload.</summary>
    private void WriteFrame(ReadOnlySpan<byte> payload)
    {
        var length = payload.Length;
        var header = length <= 125 ? 2 : length <= ushort.MaxValue ? 4 : MaxFrameHeader;
        var span = _output.GetSpan(header + length);
        span[0] = 0x81; // FIN, text
        switch (header)
        {
            case 2:
                span[1] = (byte)length;
                break;
            case 4:
                span[1] = 126;
                BinaryPrimitives.WriteUInt16BigEndian(span[2..], (ushort)length);
                break;
            default:
                span[1] = 127;
                BinaryPrimitives.WriteUInt64BigEndian(span[2..], (ulong)length);
                break;
        }

        payload.CopyTo(span[header..]);
        _output.Advance(header + length);
    }

    /// <summary>SignalR answers the handshake with JSON ending in 0x1E, written before anything else; an error there means the hub refused the connection.</summary>
    private bool SkipHandshake(ref ReadOnlySpan<byte> records)
    {
        var end = records.IndexOf((byte)0x1e);
        if (end < 0)
        {
            return false;
        }

        if (end > 2)
        {
            Session?.HandshakeRefused(System.Text.Encoding.UTF8.GetString(records[..end]));
        }

        records = records[(end + 1)..];
        _handshakeDone = true;
        return true;
    }
}
