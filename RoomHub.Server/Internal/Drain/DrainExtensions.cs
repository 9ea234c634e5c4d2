using Microsoft.AspNetCore.SignalR;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using RoomHub.Contracts;

namespace RoomHub.Server.Internal.Drain;

internal static class DrainExtensions
{
    /// <summary>
    /// The drain's parts: its state, the connection tracker (wrapping whichever hub lifetime manager is registered),
    /// a readiness check that fails while draining, and the signal handling that starts it.
    /// </summary>
    public static void AddRoomHubDrain(this WebApplicationBuilder builder, IHealthChecksBuilder health, Func<IServiceProvider, HubLifetimeManager<RoomsHub>> inner)
    {
        var services = builder.Services;
        services.AddSingleton<DrainState>();
        services.AddSingleton(provider => new ConnectionTracker(inner(provider)));
        services.AddSingleton<HubLifetimeManager<RoomsHub>>(provider => provider.GetRequiredService<ConnectionTracker>());
        services.AddSingleton<GracefulDrain>();
        health.Add(new HealthCheckRegistration("drain",
            provider => new DelegateHealthCheck(() => provider.GetRequiredService<DrainState>().IsDraining
                ? HealthCheckResult.Unhealthy("Draining: this instance is shutting down.")
                : HealthCheckResult.Healthy()),
            failureStatus: null, tags: null));

        var settings = builder.Configuration.GetSection(RoomHubOptions.SectionName).Get<RoomHubOptions>() ?? new RoomHubOptions();
        if (settings.DrainOnSignal)
        {
            services.AddSingleton<IHostLifetime, DrainingHostLifetime>();

            // The host's own stop comes after the drain (it closes what is left and stops the services): bounded to fit
            // in the margin of a deployment's termination budget (10 s in deploy/k8s), unless configured.
            if (builder.Configuration["shutdownTimeoutSeconds"] is null)
            {
                services.Configure<HostOptions>(host => host.ShutdownTimeout = TimeSpan.FromSeconds(8));
            }
        }
    }

    /// <summary>While draining, WebSocket upgrades and hub negotiations are refused with 503, so clients go elsewhere.</summary>
    public static void UseRoomHubDrain(this WebApplication app)
    {
        var state = app.Services.GetRequiredService<DrainState>();
        var telemetry = app.Services.GetRequiredService<RoomHubTelemetry>();
        // Not async: an awaiting middleware would keep its frame alive for as long as each WebSocket stays open.
        app.Use((context, next) =>
        {
            if (state.IsDraining && (context.WebSockets.IsWebSocketRequest || context.Request.Path.StartsWithSegments(RoomHubPaths.Hub, StringComparison.OrdinalIgnoreCase)))
            {
                telemetry.ConnectionsRefused.Add(1, new KeyValuePair<string, object?>("http.response.status_code", StatusCodes.Status503ServiceUnavailable));
                context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
                context.Response.Headers.RetryAfter = "1";
                context.Response.Headers.Connection = "close";
                return context.Response.WriteAsync("This instance is draining; reconnect to another one.\n");
            }

            return next(context);
        });
    }

    private sealed class DelegateHealthCheck(Func<HealthCheckResult> check) : IHealthCheck
    {
        public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) => Task.FromResult(check());
    }
}
