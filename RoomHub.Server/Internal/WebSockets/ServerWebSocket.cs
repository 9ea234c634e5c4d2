using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using System.Net.WebSockets;
using System.Text;
using System.Text.Unicode;
using Microsoft.AspNetCore.Connections;

namespace RoomHub.Server.Internal.WebSockets;

/// <summary>
/// The server end of a WebSocket that left HTTP (RFC 6455), a legacy client's or a SignalR client's: it reads the client's frames straight from the
/// connection's input, and writes its own (pongs, pings, the close) through the hub's <see cref="WebSocketFrameWriter"/>,
/// which writes the hub's frames into the same output. An idle one waits on the input with nothing else in flight: no
/// stream under it, no timer (its keep-alive and its frame deadline run on the connection's heartbeat, every second),
/// no buffer.
/// </summary>
/// <remarks>
/// <para>
/// A receive with an empty buffer waits until the header of the next data frame is in, answering pings and noting pongs
/// on the way, as the session's receive loop expects of a WebSocket; a receive with a buffer takes what there is of the
/// current frame's payload. A client that breaks the protocol (an unmasked frame, reserved bits, an unknown opcode, a
/// fragmented or long control frame, a stray continuation, a bad close frame) gets a close frame with 1002 (1007 for a
/// close reason that is not UTF-8) and the receive fails with a <see cref="WebSocketException"/>, as .NET's WebSocket
/// does; the session checks the size of messages and their UTF-8 itself.
/// </para>
/// <para>
/// Keep-alive: every <c>KeepAliveInterval</c> a ping goes out; a client that sends nothing at all, not even the pong,
/// for <c>KeepAliveTimeout</c> after a ping is cut. Only time spent waiting for the client counts, not time the session
/// is busy with what the client sent before (its input to the hub full, say). With pings off and a
/// <c>KeepAliveTimeout</c> given (a SignalR client's WebSocket, whose client pings by itself), a client that sends nothing
/// at all for that long, counted the same way, is cut. A header that has started to arrive must
/// arrive whole within the session's frame timeout, or the connection is cut (the session watches payloads itself).
/// </para>
/// </remarks>
internal sealed class ServerWebSocket : WebSocket
{
    private const byte Continuation = 0x0, Text = 0x1, Binary = 0x2, Close = 0x8, Ping = 0x9, Pong = 0xA;
    private const int MaxControlPayload = 125;

    private readonly PipeReader _input;
    private readonly ConnectionHandoff _connection;
    private readonly long _keepAliveInterval;
    private readonly long _keepAliveTimeout;
    private readonly long _frameTimeout;
    private readonly string? _subProtocol;

    private WebSocketState _state = WebSocketState.Open;
    private WebSocketCloseStatus? _closeStatus;
    private string? _closeDescription;

    /// <summary>Payload bytes left in the current data frame; -1 between frames.</summary>
    private long _remaining = -1;
    private bool _final;
    private uint _mask;
    private int _maskOffset;
    private bool _inMessage;
    private WebSocketMessageType _messageType;
    private bool _faulted;

    /// <summary>When the last ping went out, and when the client last sent anything (<see cref="Environment.TickCount64"/>).</summary>
    private long _pingedAt;
    private long _heardAt;

    /// <summary>Since when a read has waited on the input; 0 while none is.</summary>
    private long _waitingSince;

    /// <summary>Since when a frame header has been coming in part; 0 while none is.</summary>
    private long _headerSince;

    /// <param name="keepAliveInterval">Zero: no pings.</param>
    /// <param name="keepAliveTimeout">Negative: no limit; the pings are then unanswered pongs, heartbeats the client need
    /// not answer. With no pings: how long the client may send nothing at all.</param>
    public ServerWebSocket(ConnectionHandoff connection, WebSocketFrameWriter frames, string? subProtocol, TimeSpan keepAliveInterval, TimeSpan keepAliveTimeout, TimeSpan frameTimeout)
    {
        _connection = connection;
        _input = connection.Transport.Input;
        Frames = frames;
        _subProtocol = subProtocol;
        _keepAliveInterval = (long)keepAliveInterval.TotalMilliseconds;
        _keepAliveTimeout = keepAliveTimeout < TimeSpan.Zero ? -1 : (long)keepAliveTimeout.TotalMilliseconds;
        _frameTimeout = frameTimeout == Timeout.InfiniteTimeSpan ? -1 : (long)frameTimeout.TotalMilliseconds;
        _heardAt = _pingedAt = Environment.TickCount64;
        connection.OnHeartbeat(static self => ((ServerWebSocket)self).Beat(), this);
    }

    /// <summary>Where this WebSocket's frames and the hub's go; its session is told when a frame header does not arrive whole in time.</summary>
    public WebSocketFrameWriter Frames { get; }

    public override WebSocketCloseStatus? CloseStatus => _closeStatus;

    public override string? CloseStatusDescription => _closeDescription;

    public override WebSocketState State => _state;

    public override string? SubProtocol => _subProtocol;

    public override void Abort()
    {
        lock (this)
        {
            if (_state is WebSocketState.Closed or WebSocketState.Aborted)
            {
                return;
            }

            _state = WebSocketState.Aborted;
        }

        _connection.Cut("The WebSocket was aborted.");
        _input.CancelPendingRead();
    }

    public override void Dispose()
    {
        lock (this)
        {
            if (_state is not (WebSocketState.Closed or WebSocketState.Aborted))
            {
                _state = WebSocketState.Closed;
            }
        }
    }

    public override Task CloseOutputAsync(WebSocketCloseStatus closeStatus, string? statusDescription, CancellationToken cancellationToken)
    {
        SendClose(closeStatus, statusDescription ?? "");
        return Task.CompletedTask;
    }

    public override async Task CloseAsync(WebSocketCloseStatus closeStatus, string? statusDescription, CancellationToken cancellationToken)
    {
        SendClose(closeStatus, statusDescription ?? "");
        var buffer = ArrayPool<byte>.Shared.Rent(1024);
        try
        {
            while (_state == WebSocketState.CloseSent)
            {
                await ReceiveAsync(buffer.AsMemory(), cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Sends a whole message in one frame; this WebSocket sends nothing in parts.</summary>
    public override Task SendAsync(ArraySegment<byte> buffer, WebSocketMessageType messageType, bool endOfMessage, CancellationToken cancellationToken)
    {
        if (!endOfMessage || messageType == WebSocketMessageType.Close)
        {
            throw new NotSupportedException("Only whole text or binary messages are sent.");
        }

        if (_state is not (WebSocketState.Open or WebSocketState.CloseReceived))
        {
            throw new WebSocketException(WebSocketError.InvalidState, $"The WebSocket is {_state}.");
        }

        WriteFrame(messageType == WebSocketMessageType.Text ? Text : Binary, buffer.AsSpan());
        return Task.CompletedTask;
    }

    public override Task<WebSocketReceiveResult> ReceiveAsync(ArraySegment<byte> buffer, CancellationToken cancellationToken) =>
        ReceiveAsync(buffer.AsMemory(), cancellationToken).AsTask().ContinueWith(
            static (received, self) =>
            {
                var result = received.GetAwaiter().GetResult();
                var socket = (ServerWebSocket)self!;
                return new WebSocketReceiveResult(result.Count, result.MessageType, result.EndOfMessage, socket._closeStatus, socket._closeDescription);
            },
            this,
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);

    [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder<>))]
    public override async ValueTask<ValueWebSocketReceiveResult> ReceiveAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        if (_faulted || _state is WebSocketState.CloseReceived or WebSocketState.Closed or WebSocketState.Aborted)
        {
            throw new WebSocketException(WebSocketError.InvalidState, _faulted ? "The client broke the WebSocket protocol." : $"The WebSocket is {_state}.");
        }

        if (_remaining > 0 && buffer.IsEmpty)
        {
            return new(0, _messageType, false);
        }

        try
        {
            while (true)
            {
                // A canceled receive ends even while the client keeps the input full (a discard of what follows a close).
                if (cancellationToken.IsCancellationRequested)
                {
                    throw new OperationCanceledException(cancellationToken);
                }

                // One method, one wait: an idle connection holds this frame and nothing under it.
                if (!_input.TryRead(out var read))
                {
                    // Silence counts against the keep-alive only while a read waits: not while the session is busy.
                    Volatile.Write(ref _waitingSince, Math.Max(Environment.TickCount64, 1));
                    try
                    {
                        read = await _input.ReadAsync(cancellationToken).ConfigureAwait(false);
                    }
                    finally
                    {
                        Volatile.Write(ref _waitingSince, 0);
                    }
                }

                if (_state == WebSocketState.Aborted)
                {
                    _input.AdvanceTo(read.Buffer.Start);
                    throw new WebSocketException(WebSocketError.InvalidState, _abortReason ?? "The WebSocket was aborted.");
                }

                if (read.IsCanceled)
                {
                    _input.AdvanceTo(read.Buffer.Start);
                    continue;
                }

                var available = read.Buffer;
                if (!available.IsEmpty)
                {
                    Volatile.Write(ref _heardAt, Environment.TickCount64);
                }

                ValueWebSocketReceiveResult? result;
                SequencePosition consumed;
                try
                {
                    result = Take(available, buffer.Span, out consumed);
                }
                catch (ProtocolViolation violation)
                {
                    _input.AdvanceTo(available.End);
                    throw Fault(violation.Status, violation.Message);
                }

                // What is left after a result is not examined yet: the next receive takes it without waiting.
                _input.AdvanceTo(consumed, result is null ? available.End : consumed);
                if (result is { } received)
                {
                    return received;
                }

                if (read.IsCompleted)
                {
                    _headerSince = 0;
                    throw new WebSocketException(WebSocketError.ConnectionClosedPrematurely, "The client closed the connection without a close frame.");
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            Abort();
            throw;
        }
        catch (Exception ex) when (ex is IOException or ConnectionAbortedException)
        {
            // A reset or an aborted connection, reported as .NET's WebSocket reports it.
            _headerSince = 0;
            throw new WebSocketException(WebSocketError.ConnectionClosedPrematurely, ex);
        }
    }

    private string? _abortReason;

    /// <summary>
    /// Takes what <paramref name="available"/> holds: control frames, then the next data frame's header and as much of its
    /// payload as fits in <paramref name="buffer"/>. Returns null when it needs more bytes, with
    /// <paramref name="consumed"/> where the next read starts.
    /// </summary>
    private ValueWebSocketReceiveResult? Take(ReadOnlySequence<byte> available, Span<byte> buffer, out SequencePosition consumed)
    {
        Span<byte> controlBuffer = stackalloc byte[MaxControlPayload];
        while (true)
        {
            consumed = available.Start;
            if (_remaining > 0)
            {
                var take = (int)Math.Min(Math.Min(available.Length, _remaining), buffer.Length);
                if (take == 0)
                {
                    return null;
                }

                var payload = available.Slice(0, take);
                payload.CopyTo(buffer);
                Unmask(buffer[..take]);
                consumed = payload.End;
                _remaining -= take;
                var end = _remaining == 0 && _final;
                if (_remaining == 0)
                {
                    _inMessage = !_final;
                }

                return new(take, _messageType, end);
            }

            if (!TryReadHeader(available, out var header, out var headerLength))
            {
                MarkPartial(available.Length > 0);
                return null;
            }

            if (header.Opcode >= Close)
            {
                // A control frame is taken whole, once its payload is in too.
                if (available.Length < headerLength + header.Length)
                {
                    MarkPartial(true);
                    return null;
                }

                var control = controlBuffer[..(int)header.Length];
                available.Slice(headerLength, header.Length).CopyTo(control);
                _mask = header.Mask;
                _maskOffset = 0;
                Unmask(control);
                available = available.Slice(headerLength + header.Length);
                consumed = available.Start;
                _headerSince = 0;
                if (Control(header.Opcode, control) is { } closed)
                {
                    return closed;
                }

                continue;
            }

            available = available.Slice(headerLength);
            consumed = available.Start;
            _headerSince = 0;
            _remaining = header.Length;
            _final = header.Final;
            _mask = header.Mask;
            _maskOffset = 0;
            _inMessage = true;
            if (header.Opcode != Continuation)
            {
                _messageType = header.Opcode == Text ? WebSocketMessageType.Text : WebSocketMessageType.Binary;
            }

            if (header.Length == 0)
            {
                _inMessage = !_final;
                if (_final)
                {
                    return new(0, _messageType, true);
                }

                continue; // An empty fragment: on to the next.
            }

            if (buffer.IsEmpty)
            {
                return new(0, _messageType, false);
            }
        }
    }

    /// <summary>Notes whether the input ends within a header (or a control frame), which then has the frame timeout to arrive.</summary>
    private void MarkPartial(bool partial)
    {
        if (!partial)
        {
            _headerSince = 0;
        }
        else if (_headerSince == 0)
        {
            _headerSince = Math.Max(Environment.TickCount64, 1);
        }
    }

    private readonly record struct Header(byte Opcode, bool Final, long Length, uint Mask);

    /// <summary>Reads a client frame's header (RFC 6455, section 5.2), checking it as far as it is in.</summary>
    private bool TryReadHeader(ReadOnlySequence<byte> available, out Header header, out int headerLength)
    {
        header = default;
        headerLength = 0;
        if (available.Length < 2)
        {
            return false;
        }

        Span<byte> bytes = stackalloc byte[14];
        available.Slice(0, Math.Min(14, available.Length)).CopyTo(bytes);
        var first = bytes[0];
        var second = bytes[1];
        var opcode = (byte)(first & 0x0f);
        var final = (first & 0x80) != 0;
        if ((first & 0x70) != 0)
        {
            throw new ProtocolViolation("Reserved bits set: no extension was agreed.");
        }

        if (opcode is not (Continuation or Text or Binary or Close or Ping or Pong))
        {
            throw new ProtocolViolation($"Unknown opcode {opcode}.");
        }

        if ((second & 0x80) == 0)
        {
            throw new ProtocolViolation("A client's frames must be masked.");
        }

        var length7 = second & 0x7f;
        if (opcode >= Close && (!final || length7 > MaxControlPayload))
        {
            throw new ProtocolViolation("A control frame must be final and carry at most 125 bytes.");
        }

        if (opcode == Continuation && !_inMessage)
        {
            throw new ProtocolViolation("A continuation frame with no message to continue.");
        }

        if (opcode is Text or Binary && _inMessage)
        {
            throw new ProtocolViolation("A new message before the last one ended.");
        }

        headerLength = 2 + (length7 == 126 ? 2 : length7 == 127 ? 8 : 0) + 4;
        if (available.Length < headerLength)
        {
            return false;
        }

        long length = length7;
        if (length7 == 126)
        {
            length = BinaryPrimitives.ReadUInt16BigEndian(bytes[2..]);
        }
        else if (length7 == 127)
        {
            var length64 = BinaryPrimitives.ReadUInt64BigEndian(bytes[2..]);
            if (length64 > long.MaxValue)
            {
                throw new ProtocolViolation("A payload length with its most significant bit set.");
            }

            length = (long)length64;
        }

        header = new Header(opcode, final, length, BinaryPrimitives.ReadUInt32LittleEndian(bytes[(headerLength - 4)..]));
        return true;
    }

    /// <summary>Answers a ping, notes a pong, takes a close; returns the result a close frame ends the receive with.</summary>
    private ValueWebSocketReceiveResult? Control(byte opcode, ReadOnlySpan<byte> payload)
    {
        switch (opcode)
        {
            case Ping:
                WriteFrame(Pong, payload);
                return null;
            case Pong:
                return null;
        }

        WebSocketCloseStatus? status = null;
        var description = "";
        if (payload.Length == 1)
        {
            throw new ProtocolViolation("A close frame of one byte.");
        }

        if (payload.Length >= 2)
        {
            var code = BinaryPrimitives.ReadUInt16BigEndian(payload);
            if (!IsValidCloseCode(code))
            {
                throw new ProtocolViolation($"Close code {code} is not one a peer may send.");
            }

            if (!Utf8.IsValid(payload[2..]))
            {
                throw new ProtocolViolation("The close reason is not valid UTF-8.", WebSocketCloseStatus.InvalidPayloadData);
            }

            status = (WebSocketCloseStatus)code;
            description = Encoding.UTF8.GetString(payload[2..]);
        }

        lock (this)
        {
            _closeStatus = status ?? WebSocketCloseStatus.Empty;
            _closeDescription = description;
            _state = _state == WebSocketState.CloseSent ? WebSocketState.Closed : WebSocketState.CloseReceived;
        }

        // The client has closed: only this side's close frame goes to it from now on, as SignalR's WebSocket transport
        // (and a legacy pump) send nothing after it. What the hub writes as it ends (SignalR's close message) goes nowhere.
        Frames.Complete();
        return new(0, WebSocketMessageType.Close, true);
    }

    /// <summary>The codes RFC 6455 (section 7.4) and its registry let a peer send, as .NET's WebSocket accepts them.</summary>
    private static bool IsValidCloseCode(int code) =>
        code is >= 3000 and < 5000 or >= 1000 and <= 1003 or >= 1007 and <= 1014;

    /// <summary>Unmasks a piece of a payload (RFC 6455, section 5.3), eight bytes at a time, going on from where the last piece ended.</summary>
    private void Unmask(Span<byte> data)
    {
        // The mask's bytes, turned to start at this piece's offset: byte i of the piece takes byte i % 4 of it.
        var mask = System.Numerics.BitOperations.RotateRight(_mask, _maskOffset * 8);
        var wide = mask | ((ulong)mask << 32);
        var i = 0;
        for (; i + 8 <= data.Length; i += 8)
        {
            var chunk = data.Slice(i, 8);
            BinaryPrimitives.WriteUInt64LittleEndian(chunk, BinaryPrimitives.ReadUInt64LittleEndian(chunk) ^ wide);
        }

        for (; i < data.Length; i++)
        {
            data[i] ^= (byte)(mask >> ((i & 3) * 8));
        }

        _maskOffset = (_maskOffset + data.Length) & 3;
    }

    private WebSocketException Fault(WebSocketCloseStatus status, string message)
    {
        _faulted = true;
        _headerSince = 0;
        SendClose(status, "");
        return new WebSocketException(WebSocketError.Faulted, "The client broke the WebSocket protocol: " + message);
    }

    private void SendClose(WebSocketCloseStatus status, string reason)
    {
        lock (this)
        {
            if (_state is not (WebSocketState.Open or WebSocketState.CloseReceived))
            {
                return;
            }

            _state = _state == WebSocketState.CloseReceived ? WebSocketState.Closed : WebSocketState.CloseSent;
        }

        if (status == WebSocketCloseStatus.Empty)
        {
            WriteFrame(Close, []);
            return;
        }

        Span<byte> payload = stackalloc byte[MaxControlPayload];
        BinaryPrimitives.WriteUInt16BigEndian(payload, (ushort)status);
        // A reason too long for a control frame is cut at a whole character.
        Utf8.FromUtf16(reason, payload[2..], out _, out var written);
        WriteFrame(Close, payload[..(2 + written)]);
    }

    /// <summary>Writes one whole frame (a server's frames are not masked) through the hub's writer, which never waits.</summary>
    private void WriteFrame(byte opcode, ReadOnlySpan<byte> payload)
    {
        var headerLength = WebSocketFrameWriter.HeaderLength(payload.Length);
        var rented = headerLength + payload.Length > 256 ? ArrayPool<byte>.Shared.Rent(headerLength + payload.Length) : null;
        var frame = rented is null ? stackalloc byte[headerLength + payload.Length] : rented.AsSpan(0, headerLength + payload.Length);
        WebSocketFrameWriter.WriteHeader(frame, (byte)(0x80 | opcode), payload.Length);
        payload.CopyTo(frame[headerLength..]);
        try
        {
            Frames.WriteControl(frame);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    /// <summary>The connection's heartbeat, every second: the keep-alive, and a header that is late.</summary>
    private void Beat()
    {
        var state = _state;
        if (state is not (WebSocketState.Open or WebSocketState.CloseReceived or WebSocketState.CloseSent))
        {
            return;
        }

        var now = Environment.TickCount64;
        var headerSince = Volatile.Read(ref _headerSince);
        if (_frameTimeout >= 0 && headerSince != 0 && now - headerSince >= _frameTimeout)
        {
            if (Frames.Session is { } session)
            {
                session.CutStalledFrame();
            }
            else
            {
                Abort("A frame did not arrive whole in time.");
            }

            return;
        }

        if (_keepAliveInterval <= 0)
        {
            // No pings: the client keeps itself alive (SignalR's pings), and may not fall silent for longer than the timeout.
            var waiting = Volatile.Read(ref _waitingSince);
            if (_keepAliveTimeout >= 0 && waiting != 0 && now - Math.Max(Volatile.Read(ref _heardAt), waiting) >= _keepAliveTimeout)
            {
                Abort($"The client sent nothing for {_keepAliveTimeout} ms.");
            }

            return;
        }

        if (state != WebSocketState.Open)
        {
            return;
        }

        var pingedAt = Volatile.Read(ref _pingedAt);
        if (_keepAliveTimeout >= 0 && Volatile.Read(ref _heardAt) < pingedAt)
        {
            // A ping is out and the client has sent nothing since, for as long as a read has waited for it.
            var waitingSince = Volatile.Read(ref _waitingSince);
            if (waitingSince != 0 && now - Math.Max(pingedAt, waitingSince) >= _keepAliveTimeout)
            {
                Abort($"The client answered no ping for {_keepAliveTimeout} ms.");
            }

            return;
        }

        if (now - pingedAt >= _keepAliveInterval)
        {
            Volatile.Write(ref _pingedAt, now);
            WriteFrame(_keepAliveTimeout >= 0 ? Ping : Pong, []);
        }
    }

    private void Abort(string reason)
    {
        _abortReason = reason;
        Abort();
    }

    private sealed class ProtocolViolation(string message, WebSocketCloseStatus status = WebSocketCloseStatus.ProtocolError) : Exception(message)
    {
        public WebSocketCloseStatus Status { get; } = status;
    }
}
