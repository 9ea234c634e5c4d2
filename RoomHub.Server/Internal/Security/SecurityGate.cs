using System.Collections.Concurrent;
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
    private readonly ConcurrentDictionary<IPAddress, int> _perAddress = new();
    private readonly ConcurrentDictionary<string, long> _polling = new(StringComparer.Ordinal);
    private int _total;
    private long _sweptAt = Environment.TickCount64;

    /// <summary>How long an admitted long-polling connection is remembered after its last poll (ms): longer than a poll lasts (90 s).</summary>
    private const long PollMemory = 5 * 60 * 1000;

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
        // poll (GET requests, each poll of a long-polling connection in turn, only its first one refusable). Negotiate
        // and the sends of those transports (POST) are short requests, checked above but not counted.
        if (!webSocket && !HttpMethods.IsGet(context.Request.Method))
        {
            if (HttpMethods.IsDelete(context.Request.Method) && context.Request.Query["id"].ToString() is { Length: > 0 } ended)
            {
                _polling.TryRemove(ended, out _); // The client ends its connection.
            }

            await next(context).ConfigureAwait(false);
            return;
        }

        // A long-polling connection admitted once is never refused at a later poll: between two polls it is not
        // counted, and a newcomer taking its place must not cut it.
        var poll = webSocket ? null : PollToken(context);
        var admitted = poll is not null && _polling.ContainsKey(poll);
        var total = Interlocked.Increment(ref _total);
        var fromAddress = _perAddress.AddOrUpdate(address, 1, static (_, n) => n + 1);
        try
        {
            if (!admitted && total > _options.MaxConnections)
            {
                SecurityLog.TooManyConnections(logger, address.ToString(), total - 1, _options.MaxConnections);
                context.Response.Headers.RetryAfter = "5";
                await RefuseAsync(context, StatusCodes.Status503ServiceUnavailable, "The server is at its connection limit; retry later.\n").ConfigureAwait(false);
                return;
            }

            if (!admitted && fromAddress > _options.MaxConnectionsPerAddress)
            {
                SecurityLog.TooManyConnectionsFromAddress(logger, address.ToString(), fromAddress - 1, _options.MaxConnectionsPerAddress);
                context.Response.Headers.RetryAfter = "5";
                await RefuseAsync(context, StatusCodes.Status429TooManyRequests, "Too many connections from this address.\n").ConfigureAwait(false);
                return;
            }

            if (poll is not null)
            {
                Admit(poll);
            }

            await next(context).ConfigureAwait(false);
            if (poll is not null)
            {
                if (context.Response.StatusCode == StatusCodes.Status404NotFound)
                {
                    _polling.TryRemove(poll, out _); // No such connection (any more).
                }
                else
                {
                    _polling[poll] = Environment.TickCount64;
                }
            }
        }
        finally
        {
            Interlocked.Decrement(ref _total);
            if (_perAddress.AddOrUpdate(address, 0, static (_, n) => n - 1) <= 0)
            {
                _perAddress.TryRemove(new KeyValuePair<IPAddress, int>(address, 0));
            }
        }
    }

    /// <summary>The connection token of a long poll: a hub GET naming its connection, other than a Server-Sent Events stream.</summary>
    private static string? PollToken(HttpContext context) =>
        context.Request.Query["id"].ToString() is { Length: > 0 } id
        && !context.Request.Headers.Accept.ToString().Contains("text/event-stream", StringComparison.OrdinalIgnoreCase)
            ? id
            : null;

    /// <summary>
    /// Remembers a long-polling connection as admitted, and now and then (at most every 10 s) forgets those that have
    /// not polled for <see cref="PollMemory"/>: clients that vanished, whose connections SignalR dropped long before.
    /// </summary>
    private void Admit(string poll)
    {
        var now = Environment.TickCount64;
        _polling[poll] = now;
        var swept = Volatile.Read(ref _sweptAt);
        if (now - swept > 10_000 && Interlocked.CompareExchange(ref _sweptAt, now, swept) == swept)
        {
            foreach (var (token, seen) in _polling)
            {
                if (now - seen > PollMemory)
                {
                    _polling.TryRemove(new KeyValuePair<string, long>(token, seen));
                }
            }
        }
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
