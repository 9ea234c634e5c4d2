using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using RoomHub.Server;

namespace RoomHub.Tests.Infrastructure;

/// <summary>
/// One real RoomHub server, composed exactly as <c>Program.cs</c> composes it, listening on a free loopback port
/// through Kestrel (real sockets, not a test server).
/// </summary>
public sealed class RoomHubInstance : IAsyncDisposable
{
    private readonly WebApplication _app;

    private RoomHubInstance(WebApplication app, Uri baseAddress)
    {
        _app = app;
        BaseAddress = baseAddress;
    }

    public Uri BaseAddress { get; }

    public Uri HubUrl => new(BaseAddress, "hubs/rooms");

    public IServiceProvider Services => _app.Services;

    /// <param name="settings">Configuration on top of the test defaults.</param>
    /// <param name="configure">Runs before RoomHub is added (e.g. logging, configuration).</param>
    /// <param name="replace">Runs after RoomHub is added, so a test can wrap or replace one of its services.</param>
    public static async Task<RoomHubInstance> StartAsync(IDictionary<string, string?> settings, Action<WebApplicationBuilder>? configure = null, Action<IServiceCollection>? replace = null)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            EnvironmentName = "Testing",
            ContentRootPath = AppContext.BaseDirectory,
        });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["urls"] = "http://127.0.0.1:0",

            // Signals belong to the test process, not to the servers it hosts.
            ["RoomHub:DrainOnSignal"] = "false",
        });
        builder.Configuration.AddInMemoryCollection(settings);
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole().SetMinimumLevel(LogLevel.Warning);
        configure?.Invoke(builder);
        builder.AddRoomHub();
        replace?.Invoke(builder.Services);

        var app = builder.Build();
        app.MapRoomHub();
        await app.StartAsync();

        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new RoomHubInstance(app, new Uri(address.EndsWith('/') ? address : address + "/"));
    }

    public async ValueTask DisposeAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            await _app.StopAsync(timeout.Token);
        }
        finally
        {
            await _app.DisposeAsync();
        }
    }
}
