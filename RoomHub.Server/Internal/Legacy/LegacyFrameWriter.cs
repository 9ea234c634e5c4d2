using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;

namespace RoomHub.Server.Internal.Legacy;

/// <summary>
/// The hub's output of a handed-over legacy connection: each record the legacy hub protocol writes becomes a WebSocket
/// text frame written straight into the connection's output, where Kestrel's socket sender sends whatever has piled up
/// since its last send. No pipe and no pump stand between the hub and the socket, as they do for a legacy WebSocket that
/// stays within its request (see <see cref="LegacySession"/>), as long as the client keeps up.
/// </summary>
/// <remarks>
/// <para>
/// A client that reads slower than it is written to fills the connection's output (Kestrel pauses it at 64 KiB). From
/// then on, frames wait in a backlog, a pipe of the legacy outbound options (paused at
/// <see cref="Security.RoomHubSecurityOptions.MaxOutboundBufferBytes"/>), and are moved into the output as it drains:
/// the slow-consumer guard above sees the backlog's flushes, so the outbound queue is what it was with a pump, and the
/// backlog is let go once it is empty.
/// </para>
/// <para>
/// The hub writes one message at a time (SignalR's per-connection write lock). The WebSocket writes its own control
/// frames (pings, pongs, the close) into the same output through <see cref="TransportStream"/>: everything is written and
/// flushed under <see cref="TransportStream.WriteGate"/>, and only this writer waits for the output's flushes (a pipe
/// takes one waiter). The session sends its close frame once the backlog is empty (<see cref="Drained"/>).
/// </para>
/// </remarks>
internal sealed class LegacyFrameWriter(TransportStream transport, RoomHubTelemetry telemetry, PipeOptions backlogOptions) : PipeWriter
{
    private static readonly ValueTask<FlushResult> Ended = new(new FlushResult(isCanceled: false, isCompleted: true));
    private static readonly ValueTask<FlushResult> Written = new(new FlushResult(isCanceled: false, isCompleted: false));

    /// <summary>A WebSocket frame header: up to 10 bytes (RFC 6455, section 5.2).</summary>
    private const int MaxFrameHeader = 10;

    private readonly PipeWriter _output = transport.Output;

    /// <summary>What the hub writes piece by piece (an answer) until it flushes; rented for that long only.</summary>
    private byte[]? _pending;
    private int _pendingLength;
    private bool _handshakeDone;
    private volatile bool _completed;

    /// <summary>Frames waiting, in order, behind a full output; none while the client keeps up.</summary>
    private Pipe? _backlog;
    private Task _drained = Task.CompletedTask;

    /// <summary>Told if the hub refuses the connection in its handshake answer.</summary>
    public LegacySession? Session { get; set; }

    /// <summary>Completes once no frame waits in a backlog: everything written is in the connection's output.</summary>
    public Task Drained
    {
        get
        {
            lock (transport.WriteGate)
            {
                return _drained;
            }
        }
    }

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

    public override void CancelPendingFlush()
    {
        lock (transport.WriteGate)
        {
            (_backlog?.Writer ?? _output).CancelPendingFlush();
        }
    }

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
            return Written;
        }

        var delivered = 0;
        ValueTask<FlushResult> result;
        lock (transport.WriteGate)
        {
            var backlog = _backlog;
            var target = backlog?.Writer ?? _output;
            while (LegacyHubProtocol.TryReadRecord(ref records, out var payload, out var delivery))
            {
                WriteFrame(target, payload);
                delivered += delivery ? 1 : 0;
            }

            if (backlog is not null)
            {
                // Behind the backlog, whose flush pauses at the outbound limit: the guard watches that.
                result = backlog.Writer.FlushAsync(cancellationToken);
            }
            else
            {
                var flush = _output.FlushAsync(cancellationToken);
                if (flush.IsCompleted)
                {
                    result = flush;
                }
                else
                {
                    // The output is full: what follows waits in a backlog until it has room. These frames are in.
                    backlog = _backlog = new Pipe(backlogOptions);

                    // Not in the context of this write, often another connection's send.
                    using (ExecutionContext.SuppressFlow())
                    {
                        _drained = DrainAsync(flush, backlog);
                    }

                    result = Written;
                }
            }
        }

        for (; delivered > 0; delivered--)
        {
            telemetry.Delivered(ConnectionRegistry.Legacy);
        }

        return result;
    }

    /// <summary>
    /// Moves the backlog into the output each time the output has room, until the backlog is empty (then let go) or the
    /// connection is gone (then dropped: nobody reads it any more).
    /// </summary>
    private async Task DrainAsync(ValueTask<FlushResult> flush, Pipe backlog)
    {
        var gone = false;
        try
        {
            while (true)
            {
                gone = (await flush.ConfigureAwait(false)).IsCompleted;
                lock (transport.WriteGate)
                {
                    if (!gone && backlog.Reader.TryRead(out var read))
                    {
                        var moved = !read.Buffer.IsEmpty;
                        foreach (var segment in read.Buffer)
                        {
                            _output.Write(segment.Span);
                        }

                        backlog.Reader.AdvanceTo(read.Buffer.End);
                        if (moved)
                        {
                            flush = _output.FlushAsync(CancellationToken.None);
                            continue;
                        }
                    }

                    _backlog = null;
                    break;
                }
            }
        }
        catch (Exception ex) when (ex is InvalidOperationException or IOException or OperationCanceledException)
        {
            // The output was completed under it: the connection is gone.
            lock (transport.WriteGate)
            {
                _backlog = null;
            }
        }

        // Emptied or dropped; a writer that waits for room in it (it cannot be waiting: it is empty, or nobody reads) is let go.
        await backlog.Reader.CompleteAsync().ConfigureAwait(false);
    }

    /// <summary>An unmasked, final text frame (a server's frames are never masked): the header, then the payload.</summary>
    private static void WriteFrame(PipeWriter output, ReadOnlySpan<byte> payload)
    {
        var length = payload.Length;
        var header = length <= 125 ? 2 : length <= ushort.MaxValue ? 4 : MaxFrameHeader;
        var span = output.GetSpan(header + length);
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
        output.Advance(header + length);
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
