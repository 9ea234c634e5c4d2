using System.IO.Pipelines;
using System.Net;
using System.Net.WebSockets;
using System.Security.Claims;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Connections.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http;

namespace RoomHub.Server.Internal.Legacy;

/// <summary>
/// An in-process connection handed to the rooms hub for one legacy WebSocket: the hub reads and writes
/// <see cref="Transport"/>, the pump the other ends of the same two pipes (<see cref="Application"/>).
/// </summary>
internal sealed class LegacyConnectionContext : ConnectionContext,
    IConnectionIdFeature, IConnectionItemsFeature, IConnectionTransportFeature, IConnectionUserFeature,
    IConnectionLifetimeFeature, IConnectionInherentKeepAliveFeature, IHttpContextFeature
{
    private readonly CancellationTokenSource _closed = new();

    public LegacyConnectionContext(HttpContext httpContext, PipeOptions inbound, PipeOptions outbound)
    {
        var input = new Pipe(inbound);
        var output = new Pipe(outbound);
        Transport = new DuplexPipe(input.Reader, output.Writer);
        Application = new DuplexPipe(output.Reader, input.Writer);
        ConnectionId = "legacy-" + httpContext.Connection.Id + "-" + Guid.NewGuid().ToString("N")[..8];
        HttpContext = httpContext;
        User = httpContext.User;
        RemoteEndPoint = httpContext.Connection.RemoteIpAddress is { } address ? new IPEndPoint(address, httpContext.Connection.RemotePort) : null;
        LocalEndPoint = httpContext.Connection.LocalIpAddress is { } local ? new IPEndPoint(local, httpContext.Connection.LocalPort) : null;

        var features = new FeatureCollection(initialCapacity: 8);
        features.Set<IConnectionIdFeature>(this);
        features.Set<IConnectionItemsFeature>(this);
        features.Set<IConnectionTransportFeature>(this);
        features.Set<IConnectionUserFeature>(this);
        features.Set<IConnectionLifetimeFeature>(this);
        features.Set<IConnectionInherentKeepAliveFeature>(this);
        features.Set<IHttpContextFeature>(this);
        features.Set(this);
        Features = features;
    }

    public override string ConnectionId { get; set; }

    public override IFeatureCollection Features { get; }

    public override IDictionary<object, object?> Items { get; set; } = new Dictionary<object, object?>();

    public override IDuplexPipe Transport { get; set; }

    /// <summary>The pump's ends: it reads what the hub writes and writes what the client sent.</summary>
    public IDuplexPipe Application { get; }

    public ClaimsPrincipal? User { get; set; }

    public HttpContext? HttpContext { get; set; }

    public override CancellationToken ConnectionClosed
    {
        get => _closed.Token;
        set => throw new NotSupportedException();
    }

    /// <summary>
    /// The WebSocket's keep-alive (ping frames with a pong timeout) watches the client, so SignalR's own
    /// pings and client timeout are not used on this connection.
    /// </summary>
    public bool HasInherentKeepAlive => true;

    /// <summary>The close code and reason the pump sends when the server ends the connection through <see cref="CloseWith"/>.</summary>
    public (WebSocketCloseStatus Status, string Reason)? ServerClose { get; private set; }

    /// <summary>Ends the connection from the server side with a given close code (e.g. an expired token: 1008).</summary>
    public void CloseWith(WebSocketCloseStatus status, string reason)
    {
        ServerClose ??= (status, reason);
        Abort();
    }

    public override void Abort(ConnectionAbortedException abortReason) => Abort();

    public override void Abort()
    {
        try
        {
            _closed.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // Already torn down.
        }
    }

    public override ValueTask DisposeAsync()
    {
        _closed.Dispose();
        return ValueTask.CompletedTask;
    }
}
