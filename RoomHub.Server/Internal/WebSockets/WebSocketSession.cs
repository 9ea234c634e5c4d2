using System.Buffers;
using System.IO.Pipelines;
using System.Net.WebSockets;
using System.Text;
using System.Text.Unicode;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.SignalR;
using RoomHub.Server.Internal.Legacy;

namespace RoomHub.Server.Internal.WebSockets;

/// <summary>
/// Runs one WebSocket the server reads and writes itself as a connection of the rooms hub. For a legacy client, its
/// frames are copied, unparsed, into the hub's input as records, and the records the hub writes are sent, unparsed, as
/// text frames: by this session's pump, or, for a WebSocket that left HTTP, by the hub's own writes
/// (<see cref="WebSocketFrameWriter"/>). The legacy hub protocol does the parsing and formatting, so this class knows
/// nothing of rooms. A SignalR client's WebSocket that left HTTP
/// runs here too, with no legacy protocol: its frames are the hub protocol already, and are copied into the hub's
/// input as they come (see <see cref="ReceiveAsync"/>).
/// </summary>
internal sealed partial class WebSocketSession
{
    private const int ReceiveChunk = 4096;
    private static readonly TimeSpan CloseTimeout = TimeSpan.FromSeconds(2);
    private static readonly byte RecordSeparator = 0x1e;

    private readonly WebSocket _socket;
    private readonly WebSocketConnectionContext _connection;
    private readonly ConnectionHandler _hub;
    private readonly LegacyHubProtocol? _protocol;
    private readonly long _maxFrameBytes;
    private readonly ILogger _logger;
    private readonly RoomHubTelemetry _telemetry;
    private readonly Drain.DrainState _draining;

    /// <summary>1012, "service restart" (RFC 6455 registry): the instance is going away; reconnect, possibly elsewhere.</summary>
    private const WebSocketCloseStatus ServiceRestart = (WebSocketCloseStatus)1012;
    private readonly TaskCompletionSource _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private bool _receiveEnded;
    private WebSocketCloseStatus _closeStatus = WebSocketCloseStatus.NormalClosure;
    private string _closeReason = "";

    /// <param name="protocol">The legacy protocol the client speaks; none: a SignalR client, which speaks the hub's own.</param>
    public WebSocketSession(WebSocket socket, WebSocketConnectionContext connection, ConnectionHandler hub, LegacyHubProtocol? protocol, long maxFrameBytes, RoomHubTelemetry telemetry, Drain.DrainState draining, ILogger logger)
    {
        _draining = draining;
        _telemetry = telemetry;
        _socket = socket;
        _connection = connection;
        _hub = hub;
        _protocol = protocol;
        _maxFrameBytes = maxFrameBytes;
        _logger = logger;
    }

    /// <summary>How long one frame may take from its first to its last fragment; a frame still open then cuts the connection.</summary>
    public TimeSpan FrameTimeout { get; init; } = Timeout.InfiniteTimeSpan;

    /// <summary>How long the close frame waits for the frames queued before it to be taken, on a WebSocket that left HTTP.</summary>
    public TimeSpan DrainTimeout { get; init; } = Timeout.InfiniteTimeSpan;

    /// <summary>The stream under the WebSocket, corked while more frames of a batch follow; none: a write per frame.</summary>
    public CorkingStream? Stream { get; init; }

    /// <summary>Where the hub writes its frames to the socket itself (the WebSocket left HTTP); none: the pump sends them.</summary>
    public WebSocketFrameWriter? Frames { get; init; }

    /// <summary>
    /// Reads that asked the stream for bytes since the WebSocket last waited with nothing buffered (a zero-byte read),
    /// while the header of the next frame is awaited; -1 while none is. A frame header, or a control frame (a ping, a
    /// pong, which the WebSocket handles within the same wait), that arrives whole takes one such read, after which the
    /// WebSocket waits again; a second means a header came in part, and from then on the frame has
    /// <see cref="FrameTimeout"/> to arrive whole, as it has once its header is in.
    /// </summary>
    private int _headerReads = -1;

    private ITimer? _headerDeadline;

    /// <summary>Called by <see cref="Stream"/> before each read; runs within this session's receive.</summary>
    internal void Reading(bool waiting)
    {
        if (_headerReads < 0)
        {
            return;
        }

        if (waiting)
        {
            // Nothing is buffered: whatever came since (a control frame) was whole.
            _headerReads = 0;
            _headerDeadline?.Dispose();
            _headerDeadline = null;
        }
        else if (++_headerReads == 2 && _headerDeadline is null && FrameTimeout != Timeout.InfiniteTimeSpan)
        {
            _headerDeadline = StartFrameDeadline();
        }
    }

    private ITimer StartFrameDeadline() =>
        TimeProvider.System.CreateTimer(static state => ((WebSocketSession)state!).CutStalledFrame(), this, FrameTimeout, Timeout.InfiniteTimeSpan);

    public async Task RunAsync(CancellationToken stopping)
    {
        LogConnected(_logger, _connection.ConnectionId, _protocol?.Name ?? "SignalR");
        try
        {
            var clientInput = _connection.ClientInput;
            if (_protocol is { } protocol)
            {
                // The legacy client has no handshake of its own: the session asks for its protocol on its behalf.
                WriteHandshake(clientInput, protocol);
                await clientInput.FlushAsync(CancellationToken.None).ConfigureAwait(false);
            }

            var hub = RunHubAsync();
            var receiving = ReceiveAsync(clientInput);

            // Where the hub writes to the socket itself, there is nothing to send from here.
            var sending = _connection.HubOutput is { } hubOutput ? SendAsync(hubOutput) : null;

            // Each of them ends the wait (see End), as does the connection's abort, without a registration of its own.
            using var onStopping = stopping.Register(static session => ((WebSocketSession)session!).End(), this);
            await _ended.Task.ConfigureAwait(false);

            // Whatever ended first, the rest follows in order: the hub stops reading and disconnects (leaving every room),
            // what it wrote is sent, the close frame goes out with the code decided on the way, and the client answers it.
            if (Volatile.Read(ref _receiveEnded))
            {
                // Its fault, if it failed unexpectedly, is raised once the connection is torn down (below).
                await receiving.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                await clientInput.CompleteAsync().ConfigureAwait(false);
            }
            else
            {
                if (_connection.ServerClose is { } close)
                {
                    SetClose(close.Status, close.Reason);
                }
                else if (_draining.IsDraining)
                {
                    SetClose(ServiceRestart, "Service restart: reconnect");
                }
                else if (stopping.IsCancellationRequested)
                {
                    SetClose(WebSocketCloseStatus.EndpointUnavailable, "Server shutting down");
                }

                _connection.Transport.Input.CancelPendingRead();
            }

            await hub.ConfigureAwait(false);

            // The hub reads no more: what the client still sends is dropped, and the receive, which may wait on a full
            // input (a message over the hub's size limit, say), goes on to the close frame instead of waiting for good.
            await _connection.Transport.Input.CompleteAsync().ConfigureAwait(false);
            await _connection.Transport.Output.CompleteAsync().ConfigureAwait(false);
            if (sending is not null)
            {
                await sending.ConfigureAwait(false);
            }
            else if (Frames is not null)
            {
                // The close frame goes after every frame the hub wrote, some of which may wait behind a slow client: for
                // as long as a client may take to take its queue. One that has stopped reading for good (it may well
                // have closed, and then reads nothing more) has its backlog dropped by the close frame.
                await Frames.Drained.WaitAsync(DrainTimeout).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }

            await SendCloseAsync().ConfigureAwait(false);

            if (!receiving.IsCompleted)
            {
                // Give the client a moment to answer the close frame; a silent one is cut off.
                await Task.WhenAny(receiving, Task.Delay(CloseTimeout, CancellationToken.None)).ConfigureAwait(false);
                if (!receiving.IsCompleted)
                {
                    // Aborted rather than canceled: a token on the receive would cost every idle connection a registration.
                    _socket.Abort();
                }

                await receiving.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                await clientInput.CompleteAsync().ConfigureAwait(false);
            }
            else if (_socket.State == WebSocketState.CloseSent)
            {
                await DiscardUntilCloseAsync().ConfigureAwait(false);
            }

            await _connection.DisposeAsync().ConfigureAwait(false);
            await receiving.ConfigureAwait(false);
        }
        finally
        {
            // Kestrel completes the connection's output once this returns: nothing may write into it from now on.
            Frames?.End();
            LogDisconnected(_logger, _connection.ConnectionId);
        }
    }

    /// <summary>
    /// The receive ended on a frame this side refused (too big, not UTF-8) while the client may still be sending the rest
    /// of it: what it sends is read and dropped until its close frame answers ours, for up to <see cref="CloseTimeout"/>.
    /// Closing the socket on unread bytes would reset the connection, and the reset can reach the client before it has
    /// read the close frame that says why.
    /// </summary>
    private async Task DiscardUntilCloseAsync()
    {
        var buffer = ArrayPool<byte>.Shared.Rent(ReceiveChunk);
        try
        {
            using var timeout = new CancellationTokenSource(CloseTimeout);
            while (_socket.State == WebSocketState.CloseSent)
            {
                var result = await _socket.ReceiveAsync(buffer.AsMemory(), timeout.Token).ConfigureAwait(false);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    return;
                }
            }
        }
        catch (Exception ex) when (EndsReceive(ex))
        {
            // Gone, or silent: the socket is aborted and the connection cut.
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>How a receive ends when the client is gone, broke the protocol, or was aborted (a silent one, after the close timeout).</summary>
    private static bool EndsReceive(Exception ex) =>
        ex is WebSocketException or IOException or ConnectionResetException or ConnectionAbortedException or OperationCanceledException;

    private static void WriteHandshake(PipeWriter output, LegacyHubProtocol protocol)
    {
        var handshake = Encoding.UTF8.GetBytes($"{{\"protocol\":\"{protocol.Name}\",\"version\":{protocol.Version}}}");
        output.Write(handshake);
        output.Write([RecordSeparator]);
    }

    /// <summary>
    /// Ends <see cref="RunAsync"/>'s wait: the receive, the hub or the pump has ended, the connection was aborted (see
    /// <see cref="WebSocketConnectionContext.Abort()"/>), or the server is stopping.
    /// </summary>
    internal void End() => _ended.TrySetResult();

    /// <summary>Runs the hub on the connection, off the caller's thread and outside its trace.</summary>
    private async Task RunHubAsync()
    {
        try
        {
            await Task.Yield();

            // Each legacy frame is traced as its own root span (a hub invocation), not nested under the WebSocket request.
            System.Diagnostics.Activity.Current = null;
            await _hub.OnConnectedAsync(_connection).ConfigureAwait(false);
        }
        finally
        {
            End();
        }
    }

    private async Task ReceiveAsync(PipeWriter hubInput)
    {
        byte[]? frame = null;
        try
        {
            // A SignalR client's frames hold its hub protocol's messages, whose bounds are the protocol's (a message may
            // span frames, a frame hold several): their bytes are copied into the hub's input as they arrive, as
            // SignalR's own WebSocket transport copies them, and the hub reads its messages there and holds each to its
            // size limit. The wait for the next frame takes no buffer: an idle client holds none. (In this method, not
            // one of its own: an idle connection keeps one waiting frame, not two.)
            while (_protocol is null)
            {
                var next = await _socket.ReceiveAsync(Memory<byte>.Empty, CancellationToken.None).ConfigureAwait(false);
                if (next.MessageType != WebSocketMessageType.Close && !next.EndOfMessage)
                {
                    next = await _socket.ReceiveAsync(hubInput.GetMemory(ReceiveChunk), CancellationToken.None).ConfigureAwait(false);
                    hubInput.Advance(next.Count);

                    // Once the hub has stopped reading, the connection is ending: what follows is read only to see the close.
                    await hubInput.FlushAsync(CancellationToken.None).ConfigureAwait(false);
                }

                if (next.MessageType == WebSocketMessageType.Close)
                {
                    SetClose(WebSocketCloseStatus.NormalClosure, "");
                    return;
                }
            }

            while (true)
            {
                // Wait for the next frame with no buffer (a zero-byte read): an idle client then holds no memory for
                // its next frame, and the buffer is rented only while a frame is being read.
                _headerReads = 0;
                ValueWebSocketReceiveResult next;
                try
                {
                    next = await _socket.ReceiveAsync(Memory<byte>.Empty, CancellationToken.None).ConfigureAwait(false);
                }
                catch
                {
                    _headerDeadline?.Dispose();
                    _headerDeadline = null;
                    throw;
                }
                finally
                {
                    _headerReads = -1;
                }

                // A header that came in part started the frame's deadline already.
                var frameDeadline = _headerDeadline;
                _headerDeadline = null;
                if (next.MessageType == WebSocketMessageType.Close)
                {
                    frameDeadline?.Dispose();
                    SetClose(WebSocketCloseStatus.NormalClosure, "");
                    return;
                }

                frame = ArrayPool<byte>.Shared.Rent(ReceiveChunk);
                var length = 0;
                var result = next;
                try
                {
                    // An empty final frame is complete already; anything else is read to its last fragment.
                    while (!result.EndOfMessage)
                    {
                        if (frame.Length - length < ReceiveChunk)
                        {
                            frame = PooledBytes.Grow(frame, length, frame.Length * 2);
                        }

                        // A receive returns only once its buffer is full or the frame has ended: asking for no more than
                        // one byte past the limit makes a frame over it fail as soon as it crosses it.
                        var room = (int)Math.Min(frame.Length - length, _maxFrameBytes + 1 - length);
                        var receive = _socket.ReceiveAsync(frame.AsMemory(length, room), CancellationToken.None);
                        if (frameDeadline is null && !receive.IsCompleted && FrameTimeout != Timeout.InfiniteTimeSpan)
                        {
                            // A frame that never completes must not hold the connection: once a read of it has to wait
                            // (from its header on), it has FrameTimeout to arrive whole, or the socket is cut. Frames that
                            // arrive whole at once, most of them, need no timer.
                            frameDeadline = StartFrameDeadline();
                        }

                        result = await receive.ConfigureAwait(false);
                        if (result.MessageType == WebSocketMessageType.Close)
                        {
                            SetClose(WebSocketCloseStatus.NormalClosure, "");
                            return;
                        }

                        length += result.Count;
                        if (length > _maxFrameBytes)
                        {
                            SetClose(WebSocketCloseStatus.MessageTooBig, $"Frame larger than {_maxFrameBytes} bytes");
                            return;
                        }
                    }
                }
                finally
                {
                    frameDeadline?.Dispose();
                }

                // Binary frames are read as UTF-8 JSON too; either kind must be valid UTF-8.
                var payload = frame.AsSpan(0, length);
                if (!Utf8.IsValid(payload))
                {
                    SetClose(WebSocketCloseStatus.InvalidPayloadData, "Frame is not valid UTF-8");
                    return;
                }

                // The record is a copy in the hub's input pipe: the buffer goes back to the pool at once.
                LegacyHubProtocol.WriteRecord(hubInput, payload);
                ArrayPool<byte>.Shared.Return(frame);
                frame = null;
                var flush = await hubInput.FlushAsync(CancellationToken.None).ConfigureAwait(false);
                if (flush.IsCompleted)
                {
                    // The hub has stopped reading: the connection is ending; keep reading only to see the close frame.
                    continue;
                }
            }
        }
        catch (Exception ex) when (EndsReceive(ex))
        {
            LogReceiveFailed(_logger, _connection.ConnectionId, ex.Message);
            SetClose(WebSocketCloseStatus.Empty, "");
        }
        catch
        {
            // A fault of the server's own: the client is told so (1011), not that all went well.
            SetClose(WebSocketCloseStatus.InternalServerError, "Server error");
            throw;
        }
        finally
        {
            if (frame is not null)
            {
                ArrayPool<byte>.Shared.Return(frame);
            }

            Volatile.Write(ref _receiveEnded, true);
            End();
        }
    }

    private async Task SendAsync(PipeReader hubOutput)
    {
        var handshakeDone = false;
        try
        {
            while (true)
            {
                var read = await hubOutput.ReadAsync().ConfigureAwait(false);
                var buffer = read.Buffer;
                try
                {
                    if (!handshakeDone && !TrySkipHandshake(ref buffer, out handshakeDone))
                    {
                        if (read.IsCompleted)
                        {
                            return;
                        }

                        continue;
                    }

                    // Each record is one frame; while another whole record follows in this read, the stream holds the
                    // frame back, so the batch leaves in one write with its last frame (the stream is left uncorked).
                    var more = LegacyHubProtocol.TryReadRecord(ref buffer, out var payload, out var delivery);
                    while (more)
                    {
                        more = LegacyHubProtocol.TryReadRecord(ref buffer, out var nextPayload, out var nextDelivery);
                        if (Stream is { } stream)
                        {
                            stream.Corked = more;
                        }

                        if (_socket.State == WebSocketState.Open)
                        {
                            await SendFrameAsync(payload).ConfigureAwait(false);
                            if (delivery)
                            {
                                _telemetry.Delivered(ConnectionRegistry.Legacy);
                            }
                        }

                        (payload, delivery) = (nextPayload, nextDelivery);
                    }

                    if (read.IsCompleted || read.IsCanceled)
                    {
                        return;
                    }
                }
                finally
                {
                    hubOutput.AdvanceTo(buffer.Start, buffer.End);
                }
            }
        }
        catch (Exception ex) when (ex is WebSocketException or IOException or ObjectDisposedException or ConnectionResetException)
        {
            LogSendFailed(_logger, _connection.ConnectionId, ex.Message);
            _connection.Abort();
        }
        finally
        {
            await hubOutput.CompleteAsync().ConfigureAwait(false);
            End();
        }
    }

    private async ValueTask SendFrameAsync(ReadOnlySequence<byte> payload)
    {
        if (payload.IsSingleSegment)
        {
            await _socket.SendAsync(payload.First, WebSocketMessageType.Text, endOfMessage: true, CancellationToken.None).ConfigureAwait(false);
            return;
        }

        // A record across pipe segments is sent from a rented copy, not one kept for the connection's life.
        var copy = ArrayPool<byte>.Shared.Rent((int)payload.Length);
        try
        {
            payload.CopyTo(copy);
            await _socket.SendAsync(copy.AsMemory(0, (int)payload.Length), WebSocketMessageType.Text, endOfMessage: true, CancellationToken.None).ConfigureAwait(false);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(copy);
        }
    }

    /// <summary>SignalR answers the handshake with JSON ending in 0x1E; an error there means the hub refused us.</summary>
    private bool TrySkipHandshake(ref ReadOnlySequence<byte> buffer, out bool done)
    {
        done = false;
        if (buffer.PositionOf(RecordSeparator) is not { } end)
        {
            return false;
        }

        var response = buffer.Slice(0, end);
        if (response.Length > 2)
        {
            HandshakeRefused(Encoding.UTF8.GetString(response));
        }

        buffer = buffer.Slice(buffer.GetPosition(1, end));
        done = true;
        return true;
    }

    /// <summary>The hub refused the connection (its handshake answer is an error): closed with 1011.</summary>
    internal void HandshakeRefused(string response)
    {
        SetClose(WebSocketCloseStatus.InternalServerError, "Server error");
        LogHandshakeRefused(_logger, _connection.ConnectionId, response);
        _connection.Abort();
    }

    /// <summary>The hub's frames waiting for this client were dropped after a fault that is not the transport's.</summary>
    internal void BacklogDropped(Exception exception)
    {
        LogBacklogDropped(_logger, _connection.ConnectionId, exception);
        _connection.Abort();
    }

    /// <summary>A frame did not arrive whole within <see cref="FrameTimeout"/>: the connection is cut.</summary>
    internal void CutStalledFrame()
    {
        LogFrameTimedOut(_logger, _connection.ConnectionId, FrameTimeout);
        _socket.Abort();
    }

    private void SetClose(WebSocketCloseStatus status, string reason)
    {
        lock (this)
        {
            // The first reason wins: a protocol violation is not overwritten by the shutdown that follows it.
            if (_closeReason.Length == 0 && _closeStatus == WebSocketCloseStatus.NormalClosure)
            {
                _closeStatus = status;
                _closeReason = reason;
            }
        }
    }

    private async Task SendCloseAsync()
    {
        try
        {
            if (_socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
            {
                using var timeout = new CancellationTokenSource(CloseTimeout);
                var status = _closeStatus == WebSocketCloseStatus.Empty ? WebSocketCloseStatus.NormalClosure : _closeStatus;
                await _socket.CloseOutputAsync(status, _closeReason, timeout.Token).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is WebSocketException or IOException or OperationCanceledException or ObjectDisposedException)
        {
            // The peer is gone; there is nobody left to tell.
        }
    }

    [LoggerMessage(3010, LogLevel.Debug, "WebSocket connection {ConnectionId} opened ({Protocol}).")]
    private static partial void LogConnected(ILogger logger, string connectionId, string protocol);

    [LoggerMessage(3011, LogLevel.Debug, "WebSocket connection {ConnectionId} closed.")]
    private static partial void LogDisconnected(ILogger logger, string connectionId);

    [LoggerMessage(3001, LogLevel.Debug, "WebSocket connection {ConnectionId}: receive ended: {Reason}")]
    private static partial void LogReceiveFailed(ILogger logger, string connectionId, string reason);

    [LoggerMessage(3002, LogLevel.Debug, "WebSocket connection {ConnectionId}: send failed: {Reason}")]
    private static partial void LogSendFailed(ILogger logger, string connectionId, string reason);

    [LoggerMessage(3004, LogLevel.Debug, "WebSocket connection {ConnectionId}: a frame did not arrive whole within {FrameTimeout}; the connection is cut.")]
    private static partial void LogFrameTimedOut(ILogger logger, string connectionId, TimeSpan frameTimeout);

    [LoggerMessage(3005, LogLevel.Error, "WebSocket connection {ConnectionId}: the frames waiting for a slow client were dropped after an unexpected fault; the connection is closed.")]
    private static partial void LogBacklogDropped(ILogger logger, string connectionId, Exception exception);

    [LoggerMessage(3003, LogLevel.Warning, "WebSocket connection {ConnectionId}: the hub refused the handshake: {Response}")]
    private static partial void LogHandshakeRefused(ILogger logger, string connectionId, string response);
}
