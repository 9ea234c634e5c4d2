using System.Net;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;
using RoomHub.Contracts;

namespace RoomHub.Server.Internal.Security;

/// <summary>
/// The door of both endpoints, before any upgrade: the origin allow-list (CORS does not cover WebSockets), the
/// authentication requirement, and the connection limits (in total and per client address) on every transport. The
/// legacy endpoint answers any path, so everything that is not the hub or a health check and asks for a WebSocket is a
/// legacy client.
/// </summary>
internal sealed class SecurityGate(
    RequestDelegate next,
    IOptions<RoomHubSecurityOptions> options,
    RoomHubTelemetry telemetry,
    ILogger<SecurityGate> logger)
{
    private readonly RoomHubSecurityOptions _options = options.Value;
    private readonly HashSet<string> _origins = new(options.Value.AllowedOrigins.Select(o => o.TrimEnd('/')), StringComparer.OrdinalIgnoreCase);
    private readonly CountsByAddress _perAddress = new();
    private int _total;

    public int OpenConnections => Volatile.Read(ref _total);

    public async Task InvokeAsync(HttpContext context)
    {
        var hub = context.Request.Path.StartsWithSegments(RoomHubPaths.Hub, StringComparison.OrdinalIgnoreCase);
        var webSocket = context.WebSockets.IsWebSocketRequest;
        if (!hub && !webSocket)
        {
            await next(context).ConfigureAwait(false);
            return;
        }

        var address = context.Connection.RemoteIpAddress ?? IPAddress.None;
        if (!OriginAllowed(context, address))
        {
            await RefuseAsync(context, StatusCodes.Status403Forbidden, "This origin may not connect.\n").ConfigureAwait(false);
            return;
        }

        if (_options.Authentication.Enabled && context.User.Identity?.IsAuthenticated != true)
        {
            // A token that was presented but is expired, forged or malformed is refused even where anonymous is
            // allowed: the client asked to be someone, and is not.
            var result = await context.AuthenticateAsync().ConfigureAwait(false);
            if (result.Failure is not null || _options.Authentication.RequireAuthenticatedUser)
            {
                SecurityLog.Unauthenticated(logger, address.ToString());
                context.Response.Headers.WWWAuthenticate = result.Failure is null ? "Bearer" : "Bearer error=\"invalid_token\"";
                await RefuseAsync(context, StatusCodes.Status401Unauthorized, result.Failure is null
                    ? "A valid bearer token is required.\n"
                    : "The bearer token is not valid (expired, wrong signature, issuer or audience).\n").ConfigureAwait(false);
                return;
            }
        }

        // What holds a connection open is counted while it does: a WebSocket, and on the hub an SSE stream or a long
        // poll (GET requests, each poll of a long-polling connection in turn). Negotiate and the sends of those
        // transports (POST) are short requests, checked above but not counted.
        if (!webSocket && !HttpMethods.IsGet(context.Request.Method))
        {
            await next(context).ConfigureAwait(false);
            return;
        }

        var total = Interlocked.Increment(ref _total);
        var fromAddress = _perAddress.Increment(address);
        try
        {
            if (total > _options.MaxConnections)
            {
                SecurityLog.TooManyConnections(logger, address.ToString(), total - 1, _options.MaxConnections);
                context.Response.Headers.RetryAfter = "5";
                await RefuseAsync(context, StatusCodes.Status503ServiceUnavailable, "The server is at its connection limit; retry later.\n").ConfigureAwait(false);
                return;
            }

            if (fromAddress > _options.MaxConnectionsPerAddress)
            {
                SecurityLog.TooManyConnectionsFromAddress(logger, address.ToString(), fromAddress - 1, _options.MaxConnectionsPerAddress);
                context.Response.Headers.RetryAfter = "5";
                await RefuseAsync(context, StatusCodes.Status429TooManyRequests, "Too many connections from this address.\n").ConfigureAwait(false);
                return;
            }

            await next(context).ConfigureAwait(false);
        }
        finally
        {
            if (context.Features.Get<WebSockets.ConnectionHandoff>() is { Taken: true } handoff)
            {
                // A legacy WebSocket lives on after its request (see ConnectionHandoff): it is counted until it ends.
                handoff.WhenEnded(() => Release(address));
            }
            else
            {
                Release(address);
            }
        }
    }

    private void Release(IPAddress address)
    {
        Interlocked.Decrement(ref _total);
        _perAddress.Decrement(address);
    }

    private bool OriginAllowed(HttpContext context, IPAddress address)
    {
        var origin = context.Request.Headers.Origin.ToString();
        if (origin.Length == 0)
        {
            if (!_options.AllowRequestsWithoutOrigin)
            {
                SecurityLog.MissingOriginRefused(logger, address.ToString());
                return false;
            }

            return true;
        }

        if (_origins.Contains("*") || _origins.Contains(origin.TrimEnd('/')) || IsSameOrigin(context, origin))
        {
            return true;
        }

        SecurityLog.OriginRefused(logger, address.ToString(), origin);
        return false;
    }

    /// <summary>A page served by this server itself: the origin's host and port are the request's.</summary>
    private static bool IsSameOrigin(HttpContext context, string origin) =>
        Uri.TryCreate(origin, UriKind.Absolute, out var uri)
        && string.Equals(uri.Authority, context.Request.Host.Value, StringComparison.OrdinalIgnoreCase)
        && string.Equals(uri.Scheme, context.Request.IsHttps ? "https" : "http", StringComparison.OrdinalIgnoreCase);

    private async Task RefuseAsync(HttpContext context, int status, string text)
    {
        telemetry.ConnectionsRefused.Add(1, new KeyValuePair<string, object?>("http.response.status_code", status));
        context.Response.StatusCode = status;
        context.Response.ContentType = "text/plain; charset=utf-8";
        await context.Response.WriteAsync(text).ConfigureAwait(false);
    }
}
