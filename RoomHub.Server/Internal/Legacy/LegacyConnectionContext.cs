using System.IO.Pipelines;
using System.Net;
using System.Net.WebSockets;
using System.Security.Claims;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http;

namespace RoomHub.Server.Internal.Legacy;

/// <summary>
/// An in-process connection handed to the rooms hub for one legacy WebSocket: the hub reads <see cref="Transport"/>'s
/// input, which the pump fills (<see cref="ClientInput"/>), and writes its output, which is either a pipe the pump sends
/// from (<see cref="HubOutput"/>) or, once the WebSocket has left HTTP, the socket itself (<see cref="LegacyFrameWriter"/>).
/// It keeps what the hub needs of the request that opened it (the user, the client's address, the session asked for,
/// when the token expires), not the request itself, which ends once the handshake is answered (see
/// <see cref="ConnectionHandoff"/>).
/// </summary>
internal sealed class LegacyConnectionContext : ConnectionContext,
    IConnectionIdFeature, IConnectionItemsFeature, IConnectionTransportFeature, IConnectionUserFeature,
    IConnectionLifetimeFeature, IConnectionInherentKeepAliveFeature
{
    private readonly CancellationTokenSource _closed = new();
    private readonly Action<string> _cut;

    /// <param name="cut">Closes the TCP connection at once, with the reason given.</param>
    /// <param name="frames">Where the hub's output goes straight to the socket; none: into a pipe, for the pump.</param>
    public LegacyConnectionContext(HttpContext httpContext, PipeOptions inbound, PipeOptions outbound, Action<string> cut, PipeWriter? frames = null)
    {
        _cut = cut;
        var input = new Pipe(inbound);
        ClientInput = input.Writer;
        if (frames is null)
        {
            var output = new Pipe(outbound);
            HubOutput = output.Reader;
            frames = output.Writer;
        }

        Transport = new DuplexPipe(input.Reader, frames);
        ConnectionId = "legacy-" + httpContext.Connection.Id + "-" + Guid.NewGuid().ToString("N")[..8];
        User = httpContext.User;
        Session = RoomCore.SessionOf(httpContext);
        AuthenticationExpires = httpContext.Features.Get<Microsoft.AspNetCore.Authentication.IAuthenticateResultFeature>()?.AuthenticateResult?.Properties?.ExpiresUtc;
        RemoteEndPoint = httpContext.Connection.RemoteIpAddress is { } address ? new IPEndPoint(address, httpContext.Connection.RemotePort) : null;
        LocalEndPoint = httpContext.Connection.LocalIpAddress is { } local ? new IPEndPoint(local, httpContext.Connection.LocalPort) : null;

        var features = new FeatureCollection(initialCapacity: 8);
        features.Set<IConnectionIdFeature>(this);
        features.Set<IConnectionItemsFeature>(this);
        features.Set<IConnectionTransportFeature>(this);
        features.Set<IConnectionUserFeature>(this);
        features.Set<IConnectionLifetimeFeature>(this);
        features.Set<IConnectionInherentKeepAliveFeature>(this);
        features.Set(this);
        Features = features;
    }

    public override string ConnectionId { get; set; }

    public override IFeatureCollection Features { get; }

    public override IDictionary<object, object?> Items { get; set; } = new Dictionary<object, object?>();

    public override IDuplexPipe Transport { get; set; }

    /// <summary>Where the pump writes what the client sent, for the hub to read.</summary>
    public PipeWriter ClientInput { get; }

    /// <summary>What the hub wrote, for the pump to send; none when the hub writes to the socket itself.</summary>
    public PipeReader? HubOutput { get; }

    public ClaimsPrincipal? User { get; set; }

    /// <summary>The client's address, as the request saw it (after any forwarded-headers handling).</summary>
    public IPAddress? Address => (RemoteEndPoint as IPEndPoint)?.Address;

    /// <summary>The session the client asked to resume or start (<c>?session=</c>), if any.</summary>
    public string? Session { get; }

    /// <summary>When the client's token expires, if it authenticated with one that does.</summary>
    public DateTimeOffset? AuthenticationExpires { get; }

    /// <summary>Closes the TCP connection at once, with no close frame: for a client that must not be waited on.</summary>
    public void CutSocket(string why) => _cut(why);

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
