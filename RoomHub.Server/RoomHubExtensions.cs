using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.StackExchangeRedis;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging.Console;
using Microsoft.Extensions.Options;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using RoomHub.Contracts;
using Microsoft.AspNetCore.SignalR.Protocol;
using RoomHub.Server.Internal;
using RoomHub.Server.Internal.Drain;
using RoomHub.Server.Internal.Engine;
using RoomHub.Server.Internal.Legacy;
using RoomHub.Server.Internal.Security;
using RoomHub.Server.Internal.WebSockets;

namespace RoomHub.Server;

/// <summary>Wires RoomHub into an ASP.NET Core application.</summary>
public static class RoomHubExtensions
{
    private const string LiveTag = "live";

    /// <summary>
    /// Adds the RoomHub services: options, the room core, SignalR (JSON and MessagePack), the Redis backplane when
    /// Redis is configured, OpenTelemetry and health checks. Also chooses the listening port from <c>PORT</c> /
    /// <c>WS_PORT</c> (default 8080) when no URL is configured.
    /// </summary>
    public static WebApplicationBuilder AddRoomHub(this WebApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var configuration = builder.Configuration;
        var services = builder.Services;

        if (ListenAddress.Resolve(configuration) is { } url)
        {
            builder.WebHost.UseUrls(url);
        }

        services.AddOptions<RoomHubOptions>()
            .Bind(configuration.GetSection(RoomHubOptions.SectionName))
            .PostConfigure(options => options.Redis = ResolveRedis(configuration))
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<RoomHubOptions>, RoomHubOptionsValidator>();

        services.AddSingleton(TimeProvider.System);
        services.AddSingleton<RoomHubTelemetry>();
        services.AddSingleton<RoomRules>();
        services.AddSingleton<RoomCore>();
        services.AddSingleton<ConnectionRegistry>();
        services.AddSingleton<DeliveryMeter>();

        var signalR = services.AddSignalR(hub => hub.AddFilter<HubFailureFilter>()).AddMessagePackProtocol();
        foreach (var protocol in services.Where(d => d.ServiceType == typeof(IHubProtocol) && d.ImplementationType is not null).ToList())
        {
            // Arguments that do not bind are refused with INVALID_ARGUMENT, as every other refusal carries its code. (A host
            // that registers SignalR's protocols again after AddRoomHub gets them unwrapped, and SignalR's bare refusals.)
            services.Remove(protocol);
            services.AddSingleton<IHubProtocol>(provider => new ArgumentCheckingProtocol(
                (IHubProtocol)ActivatorUtilities.CreateInstance(provider, protocol.ImplementationType!), provider.GetRequiredService<RoomHubTelemetry>(),
                provider.GetRequiredService<IOptions<RoomHubOptions>>().Value.EffectiveMaxReceiveMessageSize));
        }

        services.AddSingleton<IHubProtocol>(provider => new LegacyHubProtocol(LegacyFormat.Bare, provider.GetRequiredService<RoomHubTelemetry>()));
        services.AddSingleton<IHubProtocol>(provider => new LegacyHubProtocol(LegacyFormat.Envelope, provider.GetRequiredService<RoomHubTelemetry>()));
        services.AddSingleton<LegacyEndpoint>();
        // On the system clock, whatever TimeProvider the host registers: the entries must outlive SignalR's records, which
        // go by the system's tick count.
        services.AddSingleton(provider => new NegotiatedConnections(TimeProvider.System, NegotiatedConnections.LifetimeFor(
            provider.GetRequiredService<IOptions<Microsoft.AspNetCore.Http.Connections.ConnectionOptions>>().Value.DisconnectTimeout ?? TimeSpan.FromSeconds(15))));
        services.AddOptions<HubOptions>()
            .Configure<IOptions<RoomHubOptions>>((hub, roomHub) =>
            {
                // A legacy frame reaches the hub as a record with a length prefix: the prefix must not eat into the frame.
                hub.MaximumReceiveMessageSize = roomHub.Value.EffectiveMaxReceiveMessageSize + LegacyHubProtocol.RecordPrefixBytes;
                hub.MaximumParallelInvocationsPerClient = roomHub.Value.SendPipelineDepth;
            });

        var health = services.AddHealthChecks()
            .AddCheck("self", () => HealthCheckResult.Healthy(), [LiveTag]);

        services.AddHostedService<RoomHubHeartbeat>();
        services.AddHostedService<IdleCompaction>();
        if (!string.IsNullOrWhiteSpace(ResolveRedis(configuration)))
        {
            services.AddSingleton<RedisConnection>();
            services.AddSingleton<IRoomHistory, RoomHistoryRedis>();
            services.AddSingleton<IPresenceStore, PresenceRedis>();
            services.AddSingleton<ISessionStore, SessionRedis>();
            signalR.AddStackExchangeRedis();
            // The backplane is made for, and owned by, the manager that keeps it serving while Redis is away: the
            // container would dispose it too, and its disposal fails while Redis is away.
            services.AddSingleton(provider => ActivatorUtilities.CreateInstance<ResilientLifetimeManager>(provider,
                ActivatorUtilities.CreateInstance<RedisHubLifetimeManager<RoomsHub>>(provider)));
            builder.AddRoomHubDrain(health, provider => provider.GetRequiredService<ResilientLifetimeManager>());
            services.AddHostedService<BackplaneRecovery>();
            services.AddOptions<RedisOptions>().Configure<RedisConnection>((redis, connection) =>
            {
                redis.Configuration = connection.Configuration;
                redis.ConnectionFactory = async _ => await connection.GetAsync().ConfigureAwait(false);
            });
            health.AddCheck<RedisHealthCheck>("redis");
        }
        else
        {
            services.AddSingleton<DefaultHubLifetimeManager<RoomsHub>>();
            builder.AddRoomHubDrain(health, provider => provider.GetRequiredService<DefaultHubLifetimeManager<RoomsHub>>());
            services.AddSingleton<IRoomHistory, RoomHistoryMemory>();
            services.AddSingleton<IPresenceStore, PresenceMemory>();
            services.AddSingleton<ISessionStore, SessionMemory>();
        }

        AddTelemetry(builder);
        AddLoggingDefaults(builder);
        builder.AddRoomHubSecurity();
        return builder;
    }

    /// <summary>
    /// Logging that holds up under load, unless configured otherwise: SignalR's per-call error log (every refused call
    /// at Error, with a stack trace) is off, as is the health check service's Error line for every probe of an unhealthy
    /// <c>/health</c>; <see cref="HubFailureFilter"/> logs the calls that fail by fault, and a
    /// full console log queue drops lines instead of blocking the threads that write them.
    /// </summary>
    private static void AddLoggingDefaults(WebApplicationBuilder builder)
    {
        const string dispatcher = "Microsoft.AspNetCore.SignalR.Internal.DefaultHubDispatcher";
        if (builder.Configuration[$"Logging:LogLevel:{dispatcher}"] is null)
        {
            builder.Logging.AddFilter(dispatcher, LogLevel.Critical);
        }

        // Every probe of an unhealthy /health (each second behind haproxy, for a whole drain or Redis outage) would be an
        // Error line; the drain and the Redis connection log their own changes once.
        const string health = "Microsoft.Extensions.Diagnostics.HealthChecks.DefaultHealthCheckService";
        if (builder.Configuration[$"Logging:LogLevel:{health}"] is null)
        {
            builder.Logging.AddFilter(health, LogLevel.Critical);
        }

        if (builder.Configuration["Logging:Console:QueueFullMode"] is null)
        {
            builder.Services.Configure<ConsoleLoggerOptions>(console => console.QueueFullMode = ConsoleLoggerQueueFullMode.DropWrite);
        }
    }

    /// <summary>
    /// Maps the hub at <see cref="RoomHubPaths.Hub"/>, the legacy WebSocket endpoint at <c>/</c>, <c>/notification</c> and
    /// any other unmapped path, and the health endpoints <c>/alive</c> and <c>/health</c>.
    /// </summary>
    public static WebApplication MapRoomHub(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);

        var legacyEnabled = app.Services.GetRequiredService<IOptions<RoomHubOptions>>().Value.Legacy.Enabled;
        CorkingStream.UseForWebSockets(app);
        app.UseWebSockets();
        app.UseRoomHubDrain();
        app.UseRoomHubSecurity();
        app.MapRoomsHub();
        if (legacyEnabled)
        {
            var legacy = app.Services.GetRequiredService<LegacyEndpoint>();
            app.Map("/", legacy.HandleAsync).WithMetadata(LegacyEndpoint.Marker);
            app.Map(RoomHubPaths.Notification, legacy.HandleAsync).WithMetadata(LegacyEndpoint.Marker);
            // Every other path, "/chat.ws" included: the default fallback pattern leaves out paths that look like files.
            app.MapFallback("{**path}", legacy.HandleAsync).WithMetadata(LegacyEndpoint.Marker);
        }

        app.MapHealthChecks("/alive", new HealthCheckOptions { Predicate = check => check.Tags.Contains(LiveTag) });
        app.MapHealthChecks("/health");
        app.MapPrometheusScrapingEndpoint("/metrics");
        return app;
    }

    private static string? ResolveRedis(IConfiguration configuration)
    {
        var configured = configuration[$"{RoomHubOptions.SectionName}:{nameof(RoomHubOptions.Redis)}"];
        return string.IsNullOrWhiteSpace(configured) ? configuration["REDIS_URL"] : configured;
    }

    private static void AddTelemetry(WebApplicationBuilder builder)
    {
        var otel = builder.Services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService("roomhub"))
            .WithMetrics(metrics => metrics
                .AddAspNetCoreInstrumentation()
                .AddRuntimeInstrumentation()
                .AddMeter(RoomHubTelemetry.Name)
                .AddPrometheusExporter(prometheus => prometheus.ScrapeResponseCacheDurationMilliseconds = 0));

        // Traces leave the process only over OTLP. Recorded for nobody, they would still cost every open WebSocket the
        // tags and a middleware frame of its hours-long request span, and every hub call its spans.
        if (!string.IsNullOrWhiteSpace(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]))
        {
            otel.WithTracing(tracing => tracing
                    .AddAspNetCoreInstrumentation()
                    .AddSource(RoomHubTelemetry.Name, "Microsoft.AspNetCore.SignalR.Server"))
                .UseOtlpExporter();
        }
    }
}
