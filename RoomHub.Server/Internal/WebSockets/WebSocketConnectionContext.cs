using System.IO.Pipelines;
using System.Net;
using System.Net.WebSockets;
using System.Security.Claims;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http;

namespace RoomHub.Server.Internal.WebSockets;

/// <summary>
/// An in-process connection handed to the rooms hub for one WebSocket this server reads and writes itself: a legacy
/// client's, or a SignalR client's, once it has left HTTP (<see cref="IsLegacy"/>).
/// The hub reads <see cref="Transport"/>'s input, which the session fills (<see cref="ClientInput"/>), and writes its
/// output, which is either a pipe the pump sends from (<see cref="HubOutput"/>) or, once the WebSocket has left HTTP, the
/// socket itself (<see cref="WebSocketFrameWriter"/>). It keeps what the hub needs of the request that opened it (the user,
/// the client's address, the session asked for, when the token expires), not the request itself, which ends once the
/// handshake is answered (see <see cref="ConnectionHandoff"/>).
/// </summary>
internal sealed class WebSocketConnectionContext : ConnectionContext, IFeatureCollection,
    IConnectionIdFeature, IConnectionItemsFeature, IConnectionTransportFeature, IConnectionUserFeature,
    IConnectionLifetimeFeature, IConnectionInherentKeepAliveFeature, IConnectionHeartbeatFeature, ITransferFormatFeature
{
    /// <summary>
    /// The principal of every anonymous legacy connection. A request without a user makes an empty one of its own, which
    /// nothing changes; sharing one saves five objects per connection.
    /// </summary>
    private static readonly ClaimsPrincipal Anonymous = new(new ClaimsIdentity());

    private readonly CancellationTokenSource _closed = new();
    private readonly ConnectionHandoff? _handoff;
    private readonly HttpContext? _request;
    private Security.IOutboundQueueFeature? _outbound;
    private Microsoft.AspNetCore.SignalR.Protocol.IHubProtocol? _hubProtocol;
    private FeatureCollection? _otherFeatures;
    private int _revision;
    private IDictionary<object, object?>? _items;

    /// <param name="handoff">The TCP connection the WebSocket runs on once its request has ended; none: it runs within
    /// <paramref name="httpContext"/>, which is then kept, to be aborted by <see cref="CutSocket"/>.</param>
    /// <param name="frames">Where the hub's output goes straight to the socket; none: into a pipe, for the pump.</param>
    /// <param name="hubClient">The client speaks the SignalR hub protocol itself (a SignalR client); else the legacy protocol.</param>
    /// <param name="connectionId">A SignalR client's connection id, given by its negotiation; none: one is made.</param>
    public WebSocketConnectionContext(HttpContext httpContext, PipeOptions inbound, PipeOptions outbound, ConnectionHandoff? handoff, PipeWriter? frames = null, bool hubClient = false, string? connectionId = null)
    {
        _handoff = handoff;
        IsLegacy = !hubClient;
        _request = handoff is null ? httpContext : null;
        var input = new Pipe(inbound);
        ClientInput = input.Writer;
        if (frames is null)
        {
            var output = new Pipe(outbound);
            HubOutput = output.Reader;
            frames = output.Writer;
        }

        Transport = new DuplexPipe(input.Reader, frames);
        // A SignalR client's id is made as SignalR makes one: 16 random bytes in URL-safe base64.
        ConnectionId = hubClient
            ? connectionId ?? System.Buffers.Text.Base64Url.EncodeToString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(16))
            : "legacy-" + httpContext.Connection.Id + "-" + Guid.NewGuid().ToString("N")[..8];
        User = IsAnonymous(httpContext.User) ? Anonymous : httpContext.User;
        MalformedSession = hubClient && RoomCore.HasMalformedSession(httpContext); // The legacy endpoint refuses those before.
        Session = RoomCore.SessionOf(httpContext);
        AuthenticationExpires = httpContext.Features.Get<Microsoft.AspNetCore.Authentication.IAuthenticateResultFeature>()?.AuthenticateResult?.Properties?.ExpiresUtc;
        RemoteEndPoint = EndPointOf(httpContext.Connection.RemoteIpAddress, httpContext.Connection.RemotePort, handoff?.RemoteEndPoint);
        LocalEndPoint = EndPointOf(httpContext.Connection.LocalIpAddress, httpContext.Connection.LocalPort, handoff?.LocalEndPoint);
    }

    /// <summary>The request's view of an end point (a trusted proxy's forwarded address, say), the connection's own where they agree.</summary>
    private static IPEndPoint? EndPointOf(IPAddress? address, int port, EndPoint? connection) =>
        address is null ? null
        : connection is IPEndPoint same && same.Port == port && same.Address.Equals(address) ? same
        : new IPEndPoint(address, port);

    private static bool IsAnonymous(ClaimsPrincipal user) =>
        user.Identity is { IsAuthenticated: false } && user.Identities.Count() == 1 && !user.Claims.Any();

    public override string ConnectionId { get; set; }

    /// <summary>
    /// A legacy client's connection: the session speaks the legacy protocol for it, and its WebSocket's pings keep it
    /// alive. Else a SignalR client's, which sends the hub protocol itself and is kept alive by SignalR's pings.
    /// </summary>
    public bool IsLegacy { get; }

    /// <summary>A SignalR client asked for a session whose id is not well formed (it is refused in the hub's handshake).</summary>
    public bool MalformedSession { get; }

    /// <summary>The connection is its own feature collection: a collection of its own would cost a list per connection.</summary>
    public override IFeatureCollection Features => this;

    /// <summary>Made on first use: the hub's filters keep what they need elsewhere (see <see cref="Limits"/>).</summary>
    public override IDictionary<object, object?> Items
    {
        get => _items ??= new Dictionary<object, object?>();
        set => _items = value;
    }

    /// <summary>The connection limits filter's state for this connection, kept here rather than in a dictionary of its own.</summary>
    public object? Limits { get; set; }

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
    public void CutSocket(string why)
    {
        if (_handoff is { } handoff)
        {
            handoff.Cut(why);
        }
        else
        {
            _request!.Abort();
        }
    }

    public override CancellationToken ConnectionClosed
    {
        get => _closed.Token;
        set => throw new NotSupportedException();
    }

    /// <summary>
    /// On a legacy connection, the WebSocket's keep-alive (ping frames with a pong timeout) watches the client, so
    /// SignalR's own pings and client timeout are not used; a SignalR client expects SignalR's.
    /// </summary>
    public bool HasInherentKeepAlive => IsLegacy;

    /// <summary>SignalR's pings and client timeout, and the silent-client check, run on the TCP connection's heartbeat (a SignalR client's only).</summary>
    public void OnHeartbeat(Action<object> action, object state) => _handoff!.OnHeartbeat(action, state);

    /// <summary>A SignalR client's messages go in text frames (JSON) or binary ones (MessagePack), as its protocol asks.</summary>
    public TransferFormat SupportedFormats => TransferFormat.Text | TransferFormat.Binary;

    public TransferFormat ActiveFormat { get; set; } = TransferFormat.Text;

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
        finally
        {
            Runner?.End();
        }
    }

    /// <summary>The session running the connection, told when it is aborted.</summary>
    public WebSocketSession? Runner { get; set; }

    bool IFeatureCollection.IsReadOnly => false;

    int IFeatureCollection.Revision => _revision;

    object? IFeatureCollection.this[Type key]
    {
        get => Find(key);
        set => Store(key, value);
    }

    TFeature? IFeatureCollection.Get<TFeature>() where TFeature : default => (TFeature?)Find(typeof(TFeature));

    void IFeatureCollection.Set<TFeature>(TFeature? instance) where TFeature : default => Store(typeof(TFeature), instance);

    IEnumerator<KeyValuePair<Type, object>> IEnumerable<KeyValuePair<Type, object>>.GetEnumerator()
    {
        foreach (var type in OwnFeatures)
        {
            if (Find(type) is { } feature)
            {
                yield return new(type, feature);
            }
        }

        if (_otherFeatures is { } others)
        {
            foreach (var feature in others)
            {
                if (Array.IndexOf(OwnFeatures, feature.Key) < 0)
                {
                    yield return feature;
                }
            }
        }
    }

    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => ((IEnumerable<KeyValuePair<Type, object>>)this).GetEnumerator();

    /// <summary>
    /// The features this connection implements itself (unless one is set in its place), and the two every connection is
    /// given (the outbound queue, by the slow-consumer guard; the hub protocol, by the connection tracker), which it keeps
    /// in fields of their own.
    /// </summary>
    private static readonly Type[] OwnFeatures =
    [
        typeof(IConnectionIdFeature), typeof(IConnectionItemsFeature), typeof(IConnectionTransportFeature), typeof(IConnectionUserFeature),
        typeof(IConnectionLifetimeFeature), typeof(IConnectionInherentKeepAliveFeature), typeof(WebSocketConnectionContext),
        typeof(Security.IOutboundQueueFeature), typeof(Microsoft.AspNetCore.SignalR.Protocol.IHubProtocol),
        typeof(IConnectionHeartbeatFeature), typeof(ITransferFormatFeature),
    ];

    /// <summary>The features only a SignalR client's connection has: its heartbeat and transfer format.</summary>
    private static bool HubClientOnly(Type type) => type == typeof(IConnectionHeartbeatFeature) || type == typeof(ITransferFormatFeature);

    private object? Find(Type type)
    {
        if (type == typeof(Security.IOutboundQueueFeature))
        {
            return _outbound;
        }

        if (type == typeof(Microsoft.AspNetCore.SignalR.Protocol.IHubProtocol))
        {
            return _hubProtocol;
        }

        if (_otherFeatures?[type] is { } set)
        {
            return set;
        }

        return Array.IndexOf(OwnFeatures, type) >= 0 && (!IsLegacy || !HubClientOnly(type)) ? this : null;
    }

    private void Store(Type type, object? feature)
    {
        _revision++;
        if (type == typeof(Security.IOutboundQueueFeature))
        {
            _outbound = (Security.IOutboundQueueFeature?)feature;
        }
        else if (type == typeof(Microsoft.AspNetCore.SignalR.Protocol.IHubProtocol))
        {
            _hubProtocol = (Microsoft.AspNetCore.SignalR.Protocol.IHubProtocol?)feature;
        }
        else
        {
            (_otherFeatures ??= new FeatureCollection())[type] = feature;
        }
    }

    public override ValueTask DisposeAsync()
    {
        _closed.Dispose();
        return ValueTask.CompletedTask;
    }
}
