using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using RoomHub.Server.Internal.Legacy;

namespace RoomHub.Server.Internal.WebSockets;

/// <summary>
/// The hub's output of a handed-over WebSocket: each record the legacy hub protocol writes becomes a WebSocket text frame
/// (or, for a SignalR client, each message the hub writes and flushes becomes a frame, see <see cref="Messages"/>)
/// written straight into the connection's output and flushed with the writing thread's <see cref="FlushRound"/>, so that
/// Kestrel's socket sender sends what a burst of deliveries wrote in one send. No pipe and no pump stand between the hub
/// and the socket, as they do for a legacy WebSocket that stays within its request (see <see cref="WebSocketSession"/>),
/// as long as the client keeps up.
/// </summary>
/// <remarks>
/// <para>
/// A client that reads slower than it is written to fills the connection's output (Kestrel pauses it at 64 KiB). From
/// then on, frames wait in a backlog, a pipe of the legacy outbound options (paused at
/// <see cref="Security.RoomHubSecurityOptions.MaxOutboundBufferBytes"/>), and are moved into the output a chunk at a time
/// as it has room, as the pump moved them: the slow-consumer guard above sees the backlog's flushes, so the outbound
/// queue is what it was with a pump, and the backlog is let go once it is empty.
/// </para>
/// <para>
/// Nothing is written after the WebSocket's close frame (RFC 6455, section 5.5.1), whether the session sent it or the
/// WebSocket did by itself (a client that broke the protocol gets 1002): frames written or waiting then are dropped.
/// </para>
/// <para>
/// The hub writes one message at a time (SignalR's per-connection write lock). The WebSocket writes its own control
/// frames (pings, pongs, the close) into the same output: <see cref="ServerWebSocket"/> hands them to
/// <see cref="WriteControl"/>: everything is written and flushed under one lock, and only this writer waits for the
/// output's flushes (a pipe takes one waiter). The session sends its close frame once the backlog is empty (<see cref="Drained"/>).
/// </para>
/// </remarks>
internal sealed class WebSocketFrameWriter(PipeWriter output, RoomHubTelemetry telemetry, PipeOptions backlogOptions) : PipeWriter
{
    /// <summary>What waits for a flush round (a SignalR client's batch, or legacy frames) goes out at once when this large.</summary>
    private const int MaxBatch = 64 * 1024;

    private static readonly ValueTask<FlushResult> Ended = new(new FlushResult(isCanceled: false, isCompleted: true));
    private static readonly ValueTask<FlushResult> Written = new(new FlushResult(isCanceled: false, isCompleted: false));

    /// <summary>A WebSocket frame header: up to 10 bytes (RFC 6455, section 5.2).</summary>
    private const int MaxFrameHeader = 10;

    /// <summary>A control frame from a server: a 2-byte header and up to 125 bytes (RFC 6455, section 5.5).</summary>
    private const int MaxControlFrame = 127;

    private readonly PipeWriter _output = output;

    /// <summary>Held while anything is written into the output and flushed: the hub's frames and the WebSocket's.</summary>
    private readonly Lock _gate = new();

    /// <summary>Whether the WebSocket's close frame was written (read and set under <see cref="_gate"/>).</summary>
    private bool _closeSent;

    /// <summary>What the hub writes piece by piece (an answer) until it flushes; rented for that long only.</summary>
    private byte[]? _pending;
    private int _pendingLength;
    private bool _handshakeDone;
    private volatile bool _completed;

    /// <summary>The answer to the latest ping that found the output full, sent once it has room (earlier ones are let go).</summary>
    private byte[]? _pong;
    private int _pongLength;

    /// <summary>Frames waiting, in order, behind a full output; none while the client keeps up.</summary>
    private Pipe? _backlog;
    private Task _drained = Task.CompletedTask;

    /// <summary>The most moved from the backlog into the output between two flushes (whole frames; a larger one alone).</summary>
    internal int MoveChunk { get; init; } = DefaultMoveChunk;

    internal const int DefaultMoveChunk = 16 * 1024;

    /// <summary>Told if the hub refuses the connection in its handshake answer.</summary>
    public WebSocketSession? Session { get; set; }

    /// <summary>
    /// A SignalR client's connection, whose transfer format says what its frames are: each flush of the hub's output
    /// (a message, the handshake answer, a ping) goes as it is in one frame, text for JSON, binary for MessagePack, as
    /// SignalR's own WebSocket transport sends it. None: the output is the legacy protocol's records, a frame each.
    /// </summary>
    public Microsoft.AspNetCore.Connections.Features.ITransferFormatFeature? Messages { get; set; }

    /// <summary>
    /// A SignalR client's messages written since its last frame went out, rented while it holds any: they leave together,
    /// in one frame, when the writing thread's flush round comes (see <see cref="FlushRound"/>).
    /// </summary>
    private byte[]? _batch;
    private int _batchLength;

    /// <summary>Bytes of legacy frames written into the output since its last flush, which the flush round flushes.</summary>
    private int _unflushed;

    /// <summary>
    /// The output's buffer that legacy frames are written into while no backlog waits, held across writes, and the length
    /// written into it: committed to the output (<see cref="PipeWriter.Advance"/>) only when the output is written
    /// otherwise or flushed (see <see cref="HeldOutput"/>).
    /// </summary>
    private Memory<byte> _held;
    private int _heldLength;

    /// <summary>In a flush round that has not flushed this writer yet: a write joins no other.</summary>
    private bool _inRound;

    /// <summary>A flush of a batch found the client gone: the hub's later writes are told so.</summary>
    private bool _gone;

    /// <summary>Something was flushed into the output (set under the lock, read by flush rounds without it).</summary>
    private volatile bool _flushedOnce;

    /// <summary>The session is over (<see cref="End"/>): the output is not touched any more, not even flushed.</summary>
    private bool _ended;

    /// <summary>
    /// Nothing has been flushed yet: what waits is the connection's first output, a SignalR client's handshake answer
    /// among it, which a flush round never holds open (the connection may be cut right after it, when its session cannot
    /// be restored, and the client must have read the answer to reconnect by itself).
    /// </summary>
    internal bool Opening => !_flushedOnce;

    /// <summary>Completes once no frame waits in a backlog: everything written is in the connection's output.</summary>
    public Task Drained
    {
        get
        {
            lock (_gate)
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
        lock (_gate)
        {
            (_backlog?.Writer ?? _output).CancelPendingFlush();
        }
    }

    /// <summary>
    /// The hub is done: what it writes from now on (a late delivery of a room it has left) goes nowhere. Only the writer
    /// touches the buffer it may hold, so it is let go at its next flush, not here.
    /// </summary>
    public override void Complete(Exception? exception = null)
    {
        lock (_gate)
        {
            _completed = true;
        }
    }

    public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
    {
        var pending = _pending;
        var length = _pendingLength;
        _pending = null;
        _pendingLength = 0;
        try
        {
            return _completed ? Ended : WriteFrames(pending.AsMemory(0, length), cancellationToken);
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

        return _completed ? Ended : WriteFrames(source, cancellationToken);
    }

    /// <summary>
    /// A frame of the WebSocket's own (a ping, a pong, the close), written whole by <see cref="ServerWebSocket"/> and never
    /// made to wait: only the drain waits on the output's flush (a pipe takes one waiter). While a drain waits, what is
    /// written here is flushed when it wakes; a close frame wakes it at once, to drop the backlog. A pong to a client whose
    /// output is full is held, in place of the one held before (RFC 6455 lets an endpoint answer only the latest ping),
    /// and sent once the output has room: a client that pings and does not read cannot pile pongs up, and its latest
    /// ping is answered.
    /// </summary>
    internal void WriteControl(ReadOnlySpan<byte> frame)
    {
        const int Close = 0x8, Pong = 0xA;
        var opcode = frame.IsEmpty ? 0 : frame[0] & 0x0f;
        lock (_gate)
        {
            if (_closeSent)
            {
                return; // Nothing follows the close frame.
            }

            try
            {
                if (_batchLength > 0)
                {
                    // The messages batched so far go first: the close frame, above all, follows every one of them.
                    _ = SendBatch();
                }

                CommitHeld(); // So do the legacy frames written so far.

                var backlog = _backlog is not null;
                if (opcode == Pong)
                {
                    _pongLength = 0; // This one answers the latest ping.
                    if (backlog || !_output.FlushAsync(CancellationToken.None).IsCompleted)
                    {
                        HoldPong(frame);
                        return;
                    }
                }
                else if (!backlog && opcode != Close)
                {
                    WriteHeldPong();
                }

                _closeSent = opcode == Close;
                _output.Write(frame);
                if (!backlog)
                {
                    _ = _output.FlushAsync(CancellationToken.None);
                }
                else if (_closeSent)
                {
                    _output.CancelPendingFlush();
                }
            }
            catch (Exception)
            {
                // The transport failed: the client is gone, and the WebSocket learns it from its receive.
            }
        }
    }

    private void HoldPong(ReadOnlySpan<byte> frame)
    {
        if (frame.Length <= MaxControlFrame)
        {
            frame.CopyTo(_pong ??= new byte[MaxControlFrame]);
            _pongLength = frame.Length;
        }
    }

    /// <summary>Sends the pong held for a full output (under the lock, with room, nothing waiting ahead of it).</summary>
    private void WriteHeldPong()
    {
        if (_pongLength > 0)
        {
            CommitHeld();
            _output.Write(_pong.AsSpan(0, _pongLength));
            _pongLength = 0;
        }
    }

    private ValueTask<FlushResult> WriteFrames(ReadOnlyMemory<byte> written, CancellationToken cancellationToken)
    {
        var messages = Messages;
        if (messages is null && !_handshakeDone && !SkipHandshake(ref written))
        {
            return Written;
        }

        var delivered = 0;
        var join = false;
        ValueTask<FlushResult> result;
        lock (_gate)
        {
            if (_completed || _closeSent)
            {
                // Nothing follows the close frame (RFC 6455, section 5.5.1), which the WebSocket may have sent by itself.
                return Ended;
            }

            var backlog = _backlog;
            if (backlog is not null)
            {
                try
                {
                    var target = backlog.Writer;
                    if (messages is null)
                    {
                        delivered = WriteRecords(target, written.Span);
                    }
                    else if (!written.IsEmpty)
                    {
                        WriteFrame(target, written.Span, MessageFrame);
                    }

                    // Behind a backlog, its flush, which pauses at the outbound limit, is the guard's to watch.
                    result = target.FlushAsync(cancellationToken);
                }
                catch (Exception)
                {
                    // The transport failed (Kestrel completes the output with the socket's error): the client is gone.
                    return Ended;
                }
            }
            else if (messages is not null)
            {
                result = Batch(written.Span, out join);
            }
            else
            {
                if (_gone)
                {
                    return Ended;
                }

                if (written.IsEmpty)
                {
                    return Written; // The handshake answer alone: no frame, nothing to flush.
                }

                try
                {
                    WriteHeldPong();
                    delivered = WriteRecords(new HeldOutput(this), written.Span);
                }
                catch (Exception)
                {
                    _gone = true;
                    return Ended;
                }

                _unflushed += written.Length;
                result = _unflushed < MaxBatch ? Deferred(out join) : FlushOutput();
            }
        }

        if (delivered > 0)
        {
            telemetry.Delivered(ConnectionRegistry.Legacy, delivered);
        }

        FlushRound.Wrote(this, join);
        return result;
    }

    /// <summary>Writes each of the legacy hub protocol's records as a text frame; returns how many of them are deliveries.</summary>
    /// <remarks>Whole records: the hub writes each message whole before it flushes.</remarks>
    private static int WriteRecords<TTarget>(TTarget target, ReadOnlySpan<byte> records)
        where TTarget : IBufferWriter<byte>
    {
        var delivered = 0;
        while (LegacyHubProtocol.TryReadRecord(ref records, out var payload, out var delivery))
        {
            WriteFrame(target, payload, TextFrame);
            delivered += delivery ? 1 : 0;
        }

        return delivered;
    }

    /// <summary>What was written waits for a flush round (under the lock): <paramref name="join"/> if this writer is in none yet.</summary>
    private ValueTask<FlushResult> Deferred(out bool join)
    {
        join = !_inRound;
        _inRound = true;
        return Written;
    }

    /// <summary>Flushes what was written into the output (under the lock, with no backlog), noting a client that is gone.</summary>
    private ValueTask<FlushResult> FlushOutput()
    {
        _unflushed = 0;
        _flushedOnce = true;
        try
        {
            CommitHeld();

            // Never with the caller's token: the frames are in already, and a canceled wait would drop the backlog.
            var flushed = Flushed(_output.FlushAsync(CancellationToken.None));
            _gone = flushed.IsCompleted && flushed.Result.IsCompleted;
            return flushed;
        }
        catch (Exception)
        {
            _gone = true;
            return Ended;
        }
    }

    /// <summary>
    /// The flush round: sends a SignalR client's batch, or flushes the legacy frames written into the output, if a control
    /// frame or a large write has not done so already. Nothing goes out after the close frame or to a client that is gone,
    /// and a batch waits in no backlog (it goes out before one is made).
    /// </summary>
    internal void FlushDeferred()
    {
        lock (_gate)
        {
            _inRound = false;
            if (_closeSent || _gone || _backlog is not null)
            {
                DropBatch();
                return;
            }

            if (_batchLength > 0)
            {
                try
                {
                    WriteHeldPong();
                }
                catch (Exception)
                {
                    // The transport failed: SendBatch finds the same and lets the batch go.
                }

                _ = SendBatch();
            }
            else if (_unflushed > 0)
            {
                _ = FlushOutput();
            }
        }
    }

    /// <summary>
    /// What a flush of the output (under the lock, with no backlog) tells the writer. Read here, under the lock: a frame of
    /// the WebSocket's own, flushed after it, could make it pending again. An output that is full makes a backlog, where
    /// what follows waits until it has room; the frames flushed are in.
    /// </summary>
    private ValueTask<FlushResult> Flushed(ValueTask<FlushResult> flush)
    {
        if (flush.IsCompleted)
        {
            return new(flush.GetAwaiter().GetResult());
        }

        var backlog = _backlog = new Pipe(backlogOptions);

        // Not in the context of this write, often another connection's send.
        using (ExecutionContext.SuppressFlow())
        {
            _drained = DrainAsync(flush, backlog);
        }

        return Written;
    }

    /// <summary>
    /// Adds a SignalR client's message to its batch (under the lock, with no backlog). The batch goes out with the writing
    /// thread's flush round, so what piles up meanwhile leaves in one frame, as SignalR's own transport sends what its
    /// pipe holds in one WebSocket message: the client then takes many messages per frame it reads. A batch that grows
    /// large goes out at once, its flush then telling the hub whether the client keeps up.
    /// </summary>
    private ValueTask<FlushResult> Batch(ReadOnlySpan<byte> message, out bool join)
    {
        join = false;
        if (_gone)
        {
            return Ended;
        }

        if (message.IsEmpty)
        {
            return Written; // Nothing to send, and no buffer to rent for it.
        }

        if (_batch is null || _batch.Length - _batchLength < message.Length)
        {
            // From the process's segment pool, which keeps thousands of arrays: one message to a large room has as many
            // batches out at once as the room has members here, far more than the shared array pool keeps.
            // It doubles as it grows, so a batch that grows large is copied a few times, not once per message.
            _batch = PooledBytes.Grow(_batch, _batchLength, Math.Max(_batchLength + message.Length, Math.Max(1024, 2 * (_batch?.Length ?? 0))), BatchArrays);
        }

        message.CopyTo(_batch.AsSpan(_batchLength));
        _batchLength += message.Length;
        return _batchLength < MaxBatch ? Deferred(out join) : SendBatch();
    }

    /// <summary>Writes the batch and flushes it (under the lock, with no backlog), noting a client that is gone.</summary>
    private ValueTask<FlushResult> SendBatch()
    {
        try
        {
            WriteBatch();
        }
        catch (Exception)
        {
            // The transport failed (Kestrel completes the output with the socket's error): the client is gone.
            _gone = true;
            return Ended;
        }

        return FlushOutput();
    }

    /// <summary>
    /// The session is over: nothing is written from now on, not even by a flush round still to come, which would otherwise
    /// write into an output Kestrel completes (and whose memory it gives back) once the session has returned. A batch
    /// still held is let go.
    /// </summary>
    public void End()
    {
        lock (_gate)
        {
            _closeSent = true;
            _ended = true;
            DropBatch();
            _held = default; // The output's memory, which is Kestrel's to give back now.
            _heldLength = 0;
        }
    }

    private void DropBatch()
    {
        if (_batch is { } batch)
        {
            _batch = null;
            _batchLength = 0;
            BatchArrays.Return(batch);
        }
    }

    private static ArrayPool<byte> BatchArrays => SegmentPool.Instance.Arrays;

    /// <summary>Writes the batch into the output as one frame, text or binary as the client's protocol is, and lets it go (under the lock).</summary>
    private void WriteBatch()
    {
        var batch = _batch!;
        var length = _batchLength;
        _batch = null;
        _batchLength = 0;
        try
        {
            if (!_closeSent && length > 0)
            {
                WriteFrame(_output, batch.AsSpan(0, length), MessageFrame);
            }
        }
        finally
        {
            BatchArrays.Return(batch);
        }
    }

    /// <summary>
    /// Moves the backlog into the output, whole frames at a time, up to <see cref="MoveChunk"/> bytes between two flushes
    /// and only while the output has room, as the pump moved it through the WebSocket: the backlog keeps what the client
    /// has not taken, so the guard's queue stays what it measures. Ends when the backlog is empty (then let go), or when
    /// the connection is gone or the close frame was sent (then dropped: nobody may read it any more).
    /// </summary>
    private async Task DrainAsync(ValueTask<FlushResult> flush, Pipe backlog)
    {
        try
        {
            while (true)
            {
                var gone = (await flush.ConfigureAwait(false)).IsCompleted;
                lock (_gate)
                {
                    while (true)
                    {
                        if (gone || _closeSent || !backlog.Reader.TryRead(out var read))
                        {
                            Detach(backlog, gone);
                            return;
                        }

                        WriteHeldPong();
                        var frames = read.Buffer;
                        var chunk = frames.Slice(0, WholeFrames(frames, MoveChunk));
                        foreach (var segment in chunk)
                        {
                            _output.Write(segment.Span);
                        }

                        backlog.Reader.AdvanceTo(chunk.End);
                        if (chunk.IsEmpty)
                        {
                            Detach(backlog, gone: false);
                            return;
                        }

                        flush = _output.FlushAsync(CancellationToken.None);
                        if (!flush.IsCompleted)
                        {
                            break; // Wait for room, without the lock.
                        }

                        gone = flush.GetAwaiter().GetResult().IsCompleted;
                    }
                }
            }
        }
        catch (Exception ex)
        {
            // The transport failed under it (Kestrel completes the output with the socket's error): the connection is gone.
            // Anything else would be a fault of this class, which must not pass unseen.
            if (ex is not (IOException or System.Net.Sockets.SocketException or Microsoft.AspNetCore.Connections.ConnectionResetException
                or Microsoft.AspNetCore.Connections.ConnectionAbortedException or OperationCanceledException or ObjectDisposedException))
            {
                Session?.BacklogDropped(ex);
            }

            lock (_gate)
            {
                Detach(backlog, gone: true);
            }
        }
    }

    /// <summary>
    /// Lets the backlog go (under the lock): from now on writes go to the output, or nowhere; its segments go back to the
    /// pool. What the WebSocket wrote while the drain waited (a ping, the close) is flushed, not waited for.
    /// </summary>
    private void Detach(Pipe backlog, bool gone)
    {
        if (ReferenceEquals(_backlog, backlog))
        {
            _backlog = null;
        }

        backlog.Reader.Complete();
        backlog.Writer.Complete();
        _gone |= gone; // A SignalR client's later writes, which are batched, are told at once too.
        if (!gone && !_ended)
        {
            if (!_closeSent)
            {
                WriteHeldPong();
            }

            _ = _output.FlushAsync(CancellationToken.None);
        }
    }

    /// <summary>The length of the whole frames at the start of <paramref name="frames"/> that fit in <paramref name="limit"/> bytes, and at least the first.</summary>
    internal static long WholeFrames(ReadOnlySequence<byte> frames, long limit)
    {
        var reader = new SequenceReader<byte>(frames);
        long end = 0;
        while (reader.Remaining >= 2)
        {
            reader.Advance(1);
            reader.TryRead(out var second);
            long length = second & 0x7f;
            if (length == 126 && reader.TryReadBigEndian(out short medium))
            {
                length = (ushort)medium;
            }
            else if (length == 127 && reader.TryReadBigEndian(out long large))
            {
                length = large;
            }

            if (reader.Remaining < length)
            {
                break; // Never the case: only whole frames are written into the backlog.
            }

            reader.Advance(length);
            if (end > 0 && reader.Consumed > limit)
            {
                break;
            }

            end = reader.Consumed;
        }

        return end;
    }

    /// <summary>The first byte of a final text frame, and of a final binary one.</summary>
    private const byte TextFrame = 0x81, BinaryFrame = 0x82;

    /// <summary>The first byte of a frame of a SignalR client's messages: binary for MessagePack, text for JSON.</summary>
    private byte MessageFrame => Messages?.ActiveFormat == Microsoft.AspNetCore.Connections.TransferFormat.Binary ? BinaryFrame : TextFrame;

    /// <summary>An unmasked, final data frame (a server's frames are never masked): the header, then the payload.</summary>
    private static void WriteFrame<TOutput>(TOutput output, ReadOnlySpan<byte> payload, byte first)
        where TOutput : IBufferWriter<byte>
    {
        var header = HeaderLength(payload.Length);
        var span = output.GetSpan(header + payload.Length);
        WriteHeader(span, first, payload.Length);
        payload.CopyTo(span[header..]);
        output.Advance(header + payload.Length);
    }

    /// <summary>
    /// Legacy frames written into the output's buffer with no call into the output per frame. Kestrel's output pipe takes
    /// its lock at every <see cref="PipeWriter.Advance"/>, and once its socket sender has contended for that lock, every
    /// later taking of it is a call into the runtime: a burst's frames to a connection are committed with one Advance
    /// before the round flushes them (or before anything else is written into the output), not one each.
    /// </summary>
    private readonly struct HeldOutput(WebSocketFrameWriter writer) : IBufferWriter<byte>
    {
        public void Advance(int count) => writer._heldLength += count;

        public Memory<byte> GetMemory(int sizeHint = 0) => writer.Hold(sizeHint);

        public Span<byte> GetSpan(int sizeHint = 0) => writer.Hold(sizeHint).Span;
    }

    /// <summary>Room for <paramref name="sizeHint"/> bytes in the held buffer (under the lock): what it holds is committed first when it has too little.</summary>
    private Memory<byte> Hold(int sizeHint)
    {
        if (_held.Length - _heldLength < Math.Max(sizeHint, 1))
        {
            CommitHeld();
            _held = _output.GetMemory(sizeHint);
        }

        return _held[_heldLength..];
    }

    /// <summary>Commits the legacy frames written into the held buffer to the output (under the lock), before it is written otherwise or flushed.</summary>
    private void CommitHeld()
    {
        var length = _heldLength;
        _held = default;
        _heldLength = 0;
        if (length > 0)
        {
            _output.Advance(length);
        }
    }

    /// <summary>The length of a server frame's header (RFC 6455, section 5.2) for a payload of <paramref name="length"/> bytes.</summary>
    internal static int HeaderLength(int length) => length <= 125 ? 2 : length <= ushort.MaxValue ? 4 : MaxFrameHeader;

    /// <summary>Writes a server frame's header: <paramref name="first"/> (FIN and opcode), then the unmasked payload length.</summary>
    internal static void WriteHeader(Span<byte> destination, byte first, int length)
    {
        destination[0] = first;
        switch (HeaderLength(length))
        {
            case 2:
                destination[1] = (byte)length;
                break;
            case 4:
                destination[1] = 126;
                BinaryPrimitives.WriteUInt16BigEndian(destination[2..], (ushort)length);
                break;
            default:
                destination[1] = 127;
                BinaryPrimitives.WriteUInt64BigEndian(destination[2..], (ulong)length);
                break;
        }
    }

    /// <summary>SignalR answers the handshake with JSON ending in 0x1E, written before anything else; an error there means the hub refused the connection.</summary>
    private bool SkipHandshake(ref ReadOnlyMemory<byte> records)
    {
        var end = records.Span.IndexOf((byte)0x1e);
        if (end < 0)
        {
            return false;
        }

        if (end > 2)
        {
            Session?.HandshakeRefused(System.Text.Encoding.UTF8.GetString(records.Span[..end]));
        }

        records = records[(end + 1)..];
        _handshakeDone = true;
        return true;
    }
}
