using System.Text;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.Connections;
using Microsoft.AspNetCore.Http.Connections.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.SignalR;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.Tokens;
using OpenTelemetry.Instrumentation.AspNetCore;
using RoomHub.Contracts;
using RoomHub.Server.Internal.Legacy;
using RoomHub.Server.Internal.WebSockets;

namespace RoomHub.Server.Internal.Security;

/// <summary>The security wiring, called once from <c>AddRoomHub</c> and once from <c>MapRoomHub</c>.</summary>
internal static class RoomHubSecurityExtensions
{
    public const string AccessTokenParameter = "access_token";

    public static void AddRoomHubSecurity(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptions<RoomHubSecurityOptions>()
            .Bind(builder.Configuration.GetSection(RoomHubSecurityOptions.SectionName))
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<RoomHubSecurityOptions>, SecurityOptionsValidator>();

        services.AddSingleton<RoomAuthorizer>();
        services.AddSingleton<SlowConsumerGuard>();
        services.AddSingleton<SilentClientGuard>();
        services.AddSingleton<ConnectionLimitsFilter>();
        services.Replace(ServiceDescriptor.Singleton<IUserIdProvider, RoomHubUserIdProvider>());
        services.AddOptions<HubOptions>().Configure<IOptions<RoomHubSecurityOptions>>((hub, security) =>
        {
            hub.AddFilter<ConnectionLimitsFilter>();
            hub.HandshakeTimeout = security.Value.HandshakeTimeout;
            hub.ClientTimeoutInterval = security.Value.ClientTimeout;
        });
        services.AddOptions<KestrelServerOptions>().Configure<IOptions<RoomHubSecurityOptions>, IHostApplicationLifetime, ILoggerFactory>((kestrel, security, lifetime, logs) =>
        {
            kestrel.Limits.RequestHeadersTimeout = security.Value.HandshakeTimeout;

            // Kestrel keeps one set of endpoint defaults: a host that sets its own through ConfigureEndpointDefaults replaces
            // this one (and legacy WebSockets then run within their requests), or is replaced by it, whichever comes last.
            var timeout = security.Value.HandshakeTimeout;
            var stopping = lifetime.ApplicationStopping;
            kestrel.ConfigureEndpointDefaults(listen => WebSockets.ConnectionHandoff.Use(
                listen, connection => FirstByteTimeout.ArrivedAsync(connection, timeout, stopping), logs.CreateLogger<WebSockets.ConnectionHandoff>()));
        });

        // Traces carry the query string as url.query; the token in it is replaced before export.
        services.Configure<AspNetCoreTraceInstrumentationOptions>(trace => trace.EnrichWithHttpRequest = static (activity, request) =>
        {
            if (AccessTokenRedaction.MayContainToken(request.QueryString.Value))
            {
                activity.SetTag("url.query", AccessTokenRedaction.Redact(request.QueryString.Value!));
            }
        });
        AccessTokenRedaction.WrapLoggerProviders(services);

        var settings = builder.Configuration.GetSection(RoomHubSecurityOptions.SectionName).Get<RoomHubSecurityOptions>() ?? new();
        if (settings.Authentication.Enabled)
        {
            services.AddAuthentication(JwtBearerDefaults.AuthenticationScheme).AddJwtBearer();
            services.AddOptions<JwtBearerOptions>(JwtBearerDefaults.AuthenticationScheme)
                .Configure<IOptions<RoomHubSecurityOptions>>((jwt, security) => ConfigureJwt(jwt, security.Value.Authentication));
        }
    }

    /// <summary>Authentication (when configured) and the gate: before the endpoints, after routing.</summary>
    public static void UseRoomHubSecurity(this WebApplication app)
    {
        if (app.Services.GetRequiredService<IOptions<RoomHubSecurityOptions>>().Value.Authentication.Enabled)
        {
            app.UseAuthentication();
        }

        app.UseMiddleware<SecurityGate>();
    }

    /// <summary>
    /// Maps the rooms hub as <c>MapHub</c> does, with three additions: the outbound buffer limit and expiry close on the
    /// HTTP connection; the slow-consumer guard in front of the hub on every connection; and, for a WebSocket over a
    /// connection that can leave HTTP (one that did not negotiate, or negotiated here, see <see cref="NegotiatedConnections"/>),
    /// a transport of this server's own (<see cref="LegacyEndpoint.AcceptHubClientAsync"/>) in place of SignalR's, with
    /// the same connection middleware.
    /// </summary>
    public static void MapRoomsHub(this WebApplication app)
    {
        var security = app.Services.GetRequiredService<IOptions<RoomHubSecurityOptions>>().Value;
        var guard = app.Services.GetRequiredService<SlowConsumerGuard>();
        var silence = app.Services.GetRequiredService<SilentClientGuard>();
        var meter = app.Services.GetRequiredService<DeliveryMeter>();
        var endpoint = app.MapConnections(RoomHubPaths.Hub, new HttpConnectionDispatcherOptions
        {
            TransportMaxBufferSize = security.MaxOutboundBufferBytes,
            CloseOnAuthenticationExpiration = security.Authentication.Enabled && security.Authentication.CloseOnAuthenticationExpiration,
        }, Configure);

        var ownTransport = new ConnectionBuilder(app.Services);
        Configure(ownTransport);
        var hubClient = new HubClientRunner(ownTransport.Build());
        var webSockets = app.Services.GetRequiredService<LegacyEndpoint>();
        var negotiated = app.Services.GetRequiredService<NegotiatedConnections>();
        endpoint.Add(e =>
        {
            e.Metadata.Add(new HubMetadata(typeof(RoomsHub)));
            var signalR = e.RequestDelegate!;
            if (e.Metadata.OfType<NegotiateMetadata>().Any())
            {
                e.RequestDelegate = context => negotiated.NegotiateAsync(context, signalR);
                return;
            }

            e.RequestDelegate = context =>
            {
                // A negotiated token goes, once, to the transport that uses it first (see NegotiatedConnections).
                var token = context.Request.Query["id"] is [{ } id] ? id : null;
                if (context.WebSockets.IsWebSocketRequest && context.Features.Get<IHttpUpgradeFeature>() is CorkingStream.Upgrade { Handoff: not null } upgrade)
                {
                    // A client that negotiated keeps the connection id it was given.
                    string? connectionId = null;
                    if (token is null || negotiated.TryTake(token, out connectionId))
                    {
                        return webSockets.AcceptHubClientAsync(context, upgrade, hubClient, connectionId);
                    }
                }
                else if (token is null || negotiated.TryLeaveToSignalR(token))
                {
                    return signalR(context);
                }

                // The token's WebSocket is open already (or was), on this server's transport: SignalR's record of it was
                // never started.
                context.Response.StatusCode = StatusCodes.Status409Conflict;
                return Task.CompletedTask;
            };
        });

        void Configure(IConnectionBuilder connection)
        {
            connection.Use(next => context =>
            {
                if ((context.Features.Get<IHttpContextFeature>()?.HttpContext is { } http && RoomCore.HasMalformedSession(http))
                    || context is WebSocketConnectionContext { MalformedSession: true })
                {
                    return HandshakeRefusal.RefuseAsync(context, $"{RoomErrorCodes.InvalidArgument}: {RoomCore.InvalidSessionText}", security.HandshakeTimeout);
                }

                guard.Attach(context);
                if (context is not WebSocketConnectionContext)
                {
                    // The server's own transport watches for silence in its WebSocket (see LegacyEndpoint.AcceptHubClientAsync).
                    silence.Attach(context);
                }

                meter.Attach(context);

                // Each hub invocation is traced as its own root span, not nested under the hours-long WebSocket request.
                System.Diagnostics.Activity.Current = null;
                return next(context);
            });
            connection.UseHub<RoomsHub>();
        }
    }

    /// <summary>Runs the hub's connection middleware and the hub on a connection of this server's own WebSocket transport.</summary>
    private sealed class HubClientRunner(ConnectionDelegate run) : ConnectionHandler
    {
        public override Task OnConnectedAsync(ConnectionContext connection) => run(connection);
    }

    private static void ConfigureJwt(JwtBearerOptions jwt, RoomHubAuthenticationOptions auth)
    {
        jwt.MapInboundClaims = false;
        jwt.TokenValidationParameters.NameClaimType = "sub";
        jwt.TokenValidationParameters.ClockSkew = auth.ClockSkew;
        if (!string.IsNullOrWhiteSpace(auth.Authority))
        {
            jwt.Authority = auth.Authority;
            jwt.Audience = auth.Audience;
            jwt.RequireHttpsMetadata = !auth.AllowHttpMetadata;
        }
        else
        {
            jwt.TokenValidationParameters.IssuerSigningKey = new SymmetricSecurityKey(Encoding.UTF8.GetBytes(auth.SigningKey!));
            jwt.TokenValidationParameters.ValidateIssuer = !string.IsNullOrWhiteSpace(auth.Issuer);
            jwt.TokenValidationParameters.ValidIssuer = auth.Issuer;
            jwt.TokenValidationParameters.ValidateAudience = !string.IsNullOrWhiteSpace(auth.Audience);
            jwt.TokenValidationParameters.ValidAudience = auth.Audience;
        }

        jwt.Events = new JwtBearerEvents
        {
            OnMessageReceived = context =>
            {
                // Browsers cannot put headers on a WebSocket (nor on SSE): the token comes in the query string.
                var request = context.HttpContext.Request;
                if (string.IsNullOrEmpty(context.Token)
                    && request.Query[AccessTokenParameter].ToString() is { Length: > 0 } token
                    && (context.HttpContext.WebSockets.IsWebSocketRequest || request.Path.StartsWithSegments(RoomHubPaths.Hub, StringComparison.OrdinalIgnoreCase)))
                {
                    context.Token = token;
                }

                return Task.CompletedTask;
            },
        };
    }
}
