using System.Buffers;
using System.IO.Pipelines;
using System.Net.WebSockets;
using System.Text;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.SignalR;
using Microsoft.Extensions.Options;
using RoomHub.Contracts;
using RoomHub.Server.Internal.WebSockets;

namespace RoomHub.Server.Internal.Legacy;

/// <summary>
/// Accepts legacy raw WebSocket clients (at <c>/</c>, <c>/notification</c> and any other unmapped path, as the replaced
/// servers did) and runs each as an in-process connection of the rooms hub.
/// </summary>
internal sealed class LegacyEndpoint(
    HubConnectionHandler<RoomsHub> hub,
    IEnumerable<Microsoft.AspNetCore.SignalR.Protocol.IHubProtocol> protocols,
    IOptions<RoomHubOptions> options,
    IOptions<RoomHubSecurityOptions> security,
    IHostApplicationLifetime lifetime,
    RoomHubTelemetry telemetry,
    Drain.DrainState drain,
    Security.SlowConsumerGuard guard,
    ILogger<LegacyEndpoint> logger)
{
    public const string FormatParameter = "format";

    /// <summary>Marks the legacy endpoints, so that <see cref="UseFrameBatching"/> knows its requests.</summary>
    public static readonly object Marker = new();

    private static readonly PipeOptions Inbound = new(SegmentPool.Instance, pauseWriterThreshold: 64 * 1024, resumeWriterThreshold: 32 * 1024, useSynchronizationContext: false);

    private readonly LegacyHubProtocol _bare = protocols.OfType<LegacyHubProtocol>().Single(p => p.Format == LegacyFormat.Bare);
    private readonly LegacyHubProtocol _envelope = protocols.OfType<LegacyHubProtocol>().Single(p => p.Format == LegacyFormat.Envelope);
    private readonly RoomHubOptions _options = options.Value;

    /// <summary>
    /// Answers a request that is not a WebSocket upgrade this server can take: a plain HTTP request is told to upgrade
    /// (426); an upgrade of a WebSocket version other than 13 is told which version is spoken (426 with
    /// <c>Sec-WebSocket-Version: 13</c>, as RFC 6455 asks); any other broken handshake (no key, a key that is not 16
    /// bytes in base64, not a GET) is a bad request (400).
    /// </summary>
    private static Task RefuseAsync(HttpContext context)
    {
        var request = context.Request;
        var response = context.Response;
        if (!request.Headers.Upgrade.Any(value => value?.Contains("websocket", StringComparison.OrdinalIgnoreCase) == true))
        {
            response.StatusCode = StatusCodes.Status426UpgradeRequired;
            response.Headers.Upgrade = "websocket";
            return response.WriteAsync("This endpoint speaks the RoomHub legacy WebSocket protocol; connect with a WebSocket client.\n");
        }

        if (request.Headers.SecWebSocketVersion.ToString() != "13")
        {
            response.StatusCode = StatusCodes.Status426UpgradeRequired;
            response.Headers.Upgrade = "websocket";
            response.Headers.SecWebSocketVersion = "13";
            return response.WriteAsync("Unsupported WebSocket version: this server speaks version 13 (RFC 6455).\n");
        }

        response.StatusCode = StatusCodes.Status400BadRequest;
        return response.WriteAsync("Bad WebSocket handshake: a GET with Connection: Upgrade and a Sec-WebSocket-Key of 16 bytes in base64 is required.\n");
    }

    public async Task HandleAsync(HttpContext context)
    {
        if (!context.WebSockets.IsWebSocketRequest)
        {
            await RefuseAsync(context).ConfigureAwait(false);
            return;
        }

        var format = context.Request.Query[FormatParameter].ToString();
        LegacyHubProtocol protocol;
        if (format.Length == 0 || format.Equals("bare", StringComparison.OrdinalIgnoreCase))
        {
            protocol = _bare;
        }
        else if (format.Equals("envelope", StringComparison.OrdinalIgnoreCase))
        {
            protocol = _envelope;
        }
        else
        {
            context.Response.StatusCode = StatusCodes.Status400BadRequest;
            await context.Response.WriteAsync("Unknown format: use ?format=envelope or leave it out for bare message text.\n").ConfigureAwait(false);
            return;
        }

        var requested = context.WebSockets.WebSocketRequestedProtocols;
        if (!requested.All(IsToken))
        {
            // Echoed, such a name would make an invalid response header (a server error) or a handshake the client
            // must fail; the replaced servers' WebSocket library refused it with a 400 as well.
            context.Response.StatusCode = StatusCodes.Status400BadRequest;
            await context.Response.WriteAsync("Invalid Sec-WebSocket-Protocol header: subprotocol names are tokens (letters, digits and !#$%&'*+-.^_`|~).\n").ConfigureAwait(false);
            return;
        }

        // The protocol has no subprotocol of its own; a client that asks for one gets the first it named, as the
        // replaced servers answered (a client whose request goes unanswered must fail the handshake).
        var subProtocol = requested.FirstOrDefault();
        var upgrade = context.Features.Get<IHttpUpgradeFeature>() as CorkingStream.Upgrade;
        var handoff = upgrade?.Handoff;
        var socket = handoff is null
            ? await context.WebSockets.AcceptWebSocketAsync(new WebSocketAcceptContext
            {
                KeepAliveInterval = _options.Legacy.KeepAliveInterval,
                KeepAliveTimeout = _options.Legacy.KeepAliveTimeout,
                SubProtocol = subProtocol,
            }).ConfigureAwait(false)
            : await AcceptOverConnectionAsync(context, upgrade!, subProtocol, _options.Legacy.KeepAliveInterval,
                _options.Legacy.KeepAliveInterval > TimeSpan.Zero ? _options.Legacy.KeepAliveTimeout : Timeout.InfiniteTimeSpan).ConfigureAwait(false);

        if (RoomCore.HasMalformedSession(context))
        {
            // Answered before anything reaches the hub, which would log the refusal as a server error.
            var refusal = new ArrayBufferWriter<byte>();
            LegacyFrameCodec.WriteError(refusal, RoomErrorCodes.InvalidArgument, RoomCore.InvalidSessionText);
            using var closing = CancellationTokenSource.CreateLinkedTokenSource(lifetime.ApplicationStopping);
            closing.CancelAfter(_options.Legacy.KeepAliveTimeout > TimeSpan.Zero ? _options.Legacy.KeepAliveTimeout : TimeSpan.FromSeconds(30));
            try
            {
                await socket.SendAsync(refusal.WrittenMemory, WebSocketMessageType.Text, endOfMessage: true, closing.Token).ConfigureAwait(false);
                await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "", closing.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or WebSocketException)
            {
                // A client that does not answer the close is simply cut.
            }

            return;
        }

        if (handoff is null)
        {
            var session = CreateSession(context, socket, protocol, upgrade?.Stream, handoff: null, hub);
            await session.RunAsync(lifetime.ApplicationStopping).ConfigureAwait(false);
        }
        else
        {
            // The request ends here, and with it everything HTTP kept for the connection; the session runs on.
            handoff.HandOver(CreateSession(context, socket, protocol, stream: null, handoff, hub), lifetime.ApplicationStopping);
        }
    }

    /// <summary>
    /// Takes a SignalR client's WebSocket (one that connected without negotiating, or negotiated here lately, see
    /// <see cref="NegotiatedConnections"/>) out of HTTP, as a legacy one is: the request ends once the handshake is answered, and the
    /// session runs <paramref name="hubClient"/> (the hub with its connection middleware) on the TCP connection, the hub
    /// writing its messages into the socket itself. An idle SignalR client then keeps none of the request's state, nor
    /// SignalR's HTTP connection and WebSocket transport. SignalR's own pings keep it alive, as they do over SignalR's
    /// transport; the WebSocket sends none of its own, and cuts a client that sends nothing at all, not even SignalR's
    /// pings, for the client timeout while it waits for it (in place of the silent-client guard SignalR's transports get).
    /// </summary>
    /// <param name="connectionId">The connection id the client was given by its negotiation; none: one is made.</param>
    public async Task AcceptHubClientAsync(HttpContext context, CorkingStream.Upgrade upgrade, ConnectionHandler hubClient, string? connectionId)
    {
        var clientTimeout = security.Value.ClientTimeout;
        var socket = await AcceptOverConnectionAsync(context, upgrade, subProtocol: null, keepAliveInterval: TimeSpan.Zero,
            clientTimeout > TimeSpan.Zero ? clientTimeout : Timeout.InfiniteTimeSpan).ConfigureAwait(false);
        upgrade.Handoff!.HandOver(CreateSession(context, socket, protocol: null, stream: null, upgrade.Handoff, hubClient, connectionId), lifetime.ApplicationStopping);
    }

    /// <summary>
    /// The session and its connection, which keep what they need of the request but not the request itself. Over the
    /// connection's own pipes (<paramref name="transport"/>), the hub writes its frames into the socket's output itself.
    /// </summary>
    /// <param name="protocol">The legacy protocol; none: a SignalR client, whose connection middleware (given as
    /// <paramref name="runner"/>) attaches the guards itself.</param>
    /// <param name="connectionId">A SignalR client's negotiated connection id; none: one is made.</param>
    private WebSocketSession CreateSession(HttpContext context, WebSocket socket, LegacyHubProtocol? protocol, CorkingStream? stream, ConnectionHandoff? handoff, ConnectionHandler runner, string? connectionId = null)
    {
        var frames = (socket as ServerWebSocket)?.Frames;
        var connection = new WebSocketConnectionContext(context, Inbound, guard.LegacyOutbound, handoff, frames, hubClient: protocol is null, connectionId);
        if (protocol is not null)
        {
            guard.Attach(connection);
        }
        else
        {
            frames!.Messages = connection;
        }

        var session = new WebSocketSession(socket, connection, runner, protocol, _options.EffectiveMaxReceiveMessageSize, telemetry, drain, logger)
        {
            FrameTimeout = guard.LegacyFrameTimeout,
            DrainTimeout = guard.SlowConsumerTimeout,
            Stream = stream,
            Frames = frames,
        };
        connection.Runner = session;
        if (stream is not null)
        {
            stream.Reader = session;
        }

        if (frames is not null)
        {
            frames.Session = session;
        }

        return session;
    }

    /// <summary>
    /// Accepts the WebSocket as the WebSocket middleware does (the request is one, as <c>IsWebSocketRequest</c> has
    /// checked), but over the connection's own pipes rather than the request, which it is to outlive: the middleware's
    /// WebSocket aborts its request when aborted, and that request is gone by then.
    /// </summary>
    private async Task<WebSocket> AcceptOverConnectionAsync(HttpContext context, CorkingStream.Upgrade upgrade, string? subProtocol, TimeSpan keepAliveInterval, TimeSpan keepAliveTimeout)
    {
        var headers = context.Response.Headers;
        headers.Connection = "Upgrade";
        headers.Upgrade = "websocket";
        headers.SecWebSocketAccept = AcceptKey(context.Request.Headers.SecWebSocketKey.ToString());
        if (subProtocol is not null)
        {
            headers.SecWebSocketProtocol = subProtocol;
        }

        context.Features.Get<Microsoft.AspNetCore.Http.Timeouts.IHttpRequestTimeoutFeature>()?.DisableTimeout();
        await upgrade.UpgradeAsync().ConfigureAwait(false);

        var frames = new WebSocketFrameWriter(upgrade.Handoff!.Transport.Output, telemetry, guard.LegacyOutbound);
        return new ServerWebSocket(upgrade.Handoff, frames, subProtocol, keepAliveInterval, keepAliveTimeout, guard.LegacyFrameTimeout);
    }

    /// <summary>The <c>Sec-WebSocket-Accept</c> answer to a key (RFC 6455, section 4.2.2).</summary>
    internal static string AcceptKey(string key) =>
        Convert.ToBase64String(System.Security.Cryptography.SHA1.HashData(Encoding.ASCII.GetBytes(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")));

    /// <summary>Whether <paramref name="name"/> is an HTTP token (RFC 9110), as a subprotocol name must be.</summary>
    private static bool IsToken(string name) =>
        name.Length > 0 && name.All(static c => char.IsAsciiLetterOrDigit(c) || "!#$%&'*+-.^_`|~".Contains(c));
}
