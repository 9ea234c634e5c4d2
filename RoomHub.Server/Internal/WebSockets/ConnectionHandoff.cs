using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace RoomHub.Server.Internal.WebSockets;

/// <summary>
/// Lets a WebSocket outlive the HTTP request that opened it (a legacy client's, or a SignalR client's that the hub's
/// endpoint hands over). An upgraded request keeps all of Kestrel's HTTP/1.1 state for the connection (the request and
/// response, their headers, the output producer, the timeout control) and the frames of every middleware still
/// awaiting, about a third of an idle connection's memory; a WebSocket needs none of it once the handshake is answered.
/// So the endpoint answers the handshake over HTTP as usual, then hands the WebSocket, made over the connection's own
/// pipes, to this connection middleware and ends the request; the session runs here, after HTTP is done with the
/// connection, and the connection closes when it ends.
/// </summary>
/// <remarks>
/// Once its request has ended, HTTP holds nothing of the connection but the heartbeat it registered (its timeouts), which
/// Kestrel keeps for the connection's life: HTTP registers it here instead, and is let go at the handoff. HTTP reads no
/// more of the input after an upgrade, and the session starts only after HTTP has returned, so the pipes never have two
/// readers or writers at once.
/// </remarks>
internal sealed partial class ConnectionHandoff : IConnectionHeartbeatFeature
{
    private readonly ConnectionContext _connection;
    private readonly System.IO.Pipelines.IDuplexPipe _transport;
    private readonly IConnectionHeartbeatFeature? _kestrelHeartbeat;
    private Action<object>? _httpBeat;
    private volatile object? _httpBeatState;
    private WebSocketSession? _session;
    private CancellationToken _stopping;
    private Action? _ended;

    internal ConnectionHandoff(ConnectionContext connection)
    {
        _connection = connection;
        _transport = connection.Transport;
        _kestrelHeartbeat = connection.Features.Get<IConnectionHeartbeatFeature>();
        connection.Features.Set<IConnectionHeartbeatFeature>(this);
        connection.Features.Set(this);
    }

    /// <summary>
    /// The handoff of the connection a request came on, if that request reads and writes the connection's own pipes. A
    /// connection middleware that Kestrel adds after the endpoint defaults (its TLS, on an HTTPS endpoint) puts a layer of
    /// its own between them, which it takes away again when HTTP returns: such a connection has no handoff, and its
    /// WebSockets run within their requests, over HTTP's upgraded stream.
    /// </summary>
    public static ConnectionHandoff? Of(HttpContext context) =>
        context.Features.Get<ConnectionHandoff>() is { _kestrelHeartbeat: not null } handoff && ReferenceEquals(handoff._connection.Transport, handoff._transport) ? handoff : null;

    /// <summary>Whether a session has been handed over, to run once the request has ended.</summary>
    public bool Taken => _session is not null;

    /// <summary>
    /// Adds the middleware to every endpoint. <paramref name="admit"/> runs first and may refuse the connection (the
    /// first-byte check): one middleware, so that a connection keeps one frame for both for its whole life, not two.
    /// </summary>
    public static void Use(ListenOptions listen, Func<ConnectionContext, Task<bool>> admit, ILogger logger) =>
        listen.Use(next => connection => RunAsync(next, connection, admit, logger));

    private static async Task RunAsync(ConnectionDelegate next, ConnectionContext connection, Func<ConnectionContext, Task<bool>> admit, ILogger logger)
    {
        if (!await admit(connection).ConfigureAwait(false))
        {
            return;
        }

        var handoff = new ConnectionHandoff(connection);
        try
        {
            await next(connection).ConfigureAwait(false);

            // HTTP is done with the connection: its timeouts go with it.
            handoff._httpBeatState = null;
            if (handoff._session is { } session)
            {
                handoff._session = null;
                try
                {
                    await session.RunAsync(handoff._stopping).ConfigureAwait(false);
                }
                catch (Exception ex)
                {
                    LogSessionFailed(logger, connection.ConnectionId, ex);
                }
            }
        }
        finally
        {
            handoff._ended?.Invoke();
        }
    }

    /// <summary>
    /// Hands <paramref name="session"/> over, to run on the connection once its HTTP request has ended, until
    /// <paramref name="stopping"/>; called by the request, which then ends.
    /// </summary>
    public void HandOver(WebSocketSession session, CancellationToken stopping)
    {
        _stopping = stopping;
        _session = session;
    }

    /// <summary>Runs <paramref name="ended"/> when the connection ends, whatever happened (to release what the request counted for it, say).</summary>
    public void WhenEnded(Action ended) => _ended += ended;

    /// <summary>The connection's own pipes as a stream, for a SignalR WebSocket, which does not go through HTTP's layers.</summary>
    public Stream OpenStream() => new TransportStream(_connection.Transport);

    /// <summary>The connection's end points.</summary>
    public System.Net.EndPoint? RemoteEndPoint => _connection.RemoteEndPoint;

    public System.Net.EndPoint? LocalEndPoint => _connection.LocalEndPoint;

    /// <summary>The connection's own pipes.</summary>
    public System.IO.Pipelines.IDuplexPipe Transport => _transport;

    /// <summary>Runs <paramref name="action"/> on the connection's heartbeat (every second) for the connection's life.</summary>
    public void OnHeartbeat(Action<object> action, object state)
    {
        _kestrelHeartbeat!.OnHeartbeat(action, state);
    }

    /// <summary>Closes the TCP connection at once.</summary>
    public void Cut(string why) => _connection.Abort(new ConnectionAbortedException(why));

    void IConnectionHeartbeatFeature.OnHeartbeat(Action<object> action, object state)
    {
        // Whatever registers here runs within this middleware's next (HTTP, or a connection middleware Kestrel put after
        // this one) and has returned when it has: the first registration, HTTP's (in practice the only one), is let go
        // then. Any further one goes to Kestrel directly and stays for the connection's life.
        if (_httpBeat is null && _kestrelHeartbeat is not null)
        {
            _httpBeat = action;
            _httpBeatState = state;
            _kestrelHeartbeat.OnHeartbeat(static self => ((ConnectionHandoff)self).BeatHttp(), this);
        }
        else
        {
            _kestrelHeartbeat?.OnHeartbeat(action, state);
        }
    }

    private void BeatHttp()
    {
        if (_httpBeatState is { } state)
        {
            _httpBeat!(state);
        }
    }

    [LoggerMessage(3020, LogLevel.Error, "Connection {ConnectionId}: the WebSocket session handed over by its request failed.")]
    private static partial void LogSessionFailed(ILogger logger, string connectionId, Exception exception);
}
