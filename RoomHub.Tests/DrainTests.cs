using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.WebSockets;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.Extensions.DependencyInjection;
using RoomHub.Server.Internal.Drain;
using RoomHub.Tests.Infrastructure;

namespace RoomHub.Tests;

[Collection(IsolatedCollection.Name)]
public sealed class DrainTests
{
    [Fact]
    public async Task DrainTurnsNotReadyRefusesNewcomersAndSendsEveryoneElsewhereInWaves()
    {
        await using var cluster = await RoomHubCluster.StartAsync(instances: 2, settings: new Dictionary<string, string?>
        {
            ["RoomHub:DrainTimeout"] = "00:00:03",
            ["RoomHub:DrainWaves"] = "5",
        });
        var draining = cluster[0];
        var room = Rooms.Unique("drain");
        var closedAt = new ConcurrentDictionary<string, TimeSpan>();
        var clock = Stopwatch.StartNew();

        var reconnecting = new List<HubConnection>();
        for (var i = 0; i < 6; i++)
        {
            var connection = new HubConnectionBuilder().WithUrl(draining.HubUrl).WithAutomaticReconnect([TimeSpan.FromMinutes(5)]).Build();
            var name = $"signalr-{i}";
            connection.Reconnecting += _ =>
            {
                closedAt[name] = clock.Elapsed;
                return Task.CompletedTask;
            };
            await connection.StartAsync();
            await connection.InvokeAsync("Subscribe", room);
            reconnecting.Add(connection);
        }

        var legacy = new List<LegacyClient>();
        for (var i = 0; i < 4; i++)
        {
            legacy.Add(await LegacyClient.ConnectAsync(draining));
        }

        // A client that obeys, on the wire: it closes when told to, and must have been told once, allowed to reconnect.
        await using var raw = await RawWebSocket.ConnectAsync(draining, "/hubs/rooms");
        await raw.SendTextAsync("{\"protocol\":\"json\",\"version\":1}\u001e");
        Assert.Equal("{}\u001e", (await raw.ReadFrameAsync())?.Text);
        var closeMessages = Task.Run(async () =>
        {
            var seen = new List<string>();
            while (await raw.ReadFrameAsync(TimeSpan.FromSeconds(15)) is { Opcode: not 0x8 } frame)
            {
                if (frame.Text.Contains("\"type\":7", StringComparison.Ordinal))
                {
                    seen.Add(frame.Text);
                    await raw.SendCloseAsync(1000);
                }
            }

            return seen;
        });

        using var http = new HttpClient { BaseAddress = draining.BaseAddress };
        var drain = draining.Services.GetRequiredService<GracefulDrain>();
        var started = clock.Elapsed;

        var drainTask = drain.DrainAsync(CancellationToken.None);

        await Poll.UntilAsync(async () => (await http.GetAsync("/health")).StatusCode == HttpStatusCode.ServiceUnavailable, "/health to turn not ready");
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/alive")).StatusCode);
        using (var newcomer = new ClientWebSocket())
        {
            var refused = await Assert.ThrowsAsync<WebSocketException>(() => newcomer.ConnectAsync(LegacyClient.UrlOf(draining), CancellationToken.None));
            Assert.Contains("503", refused.Message, StringComparison.Ordinal);
        }

        Assert.Contains("roomhub_connections_refused_total{otel_scope_name=\"RoomHub\",http_response_status_code=\"503\"}", await http.GetStringAsync("/metrics"), StringComparison.Ordinal);

        await drainTask.WaitAsync(TimeSpan.FromSeconds(10));
        var finished = clock.Elapsed - started;

        // SignalR clients were told they may reconnect (their automatic reconnect started); legacy clients got 1012.
        await Poll.UntilAsync(() => closedAt.Count == 6, "every SignalR client to be told to reconnect");
        foreach (var client in legacy)
        {
            await client.WaitUntilClosedAsync();
            Assert.Equal((WebSocketCloseStatus)1012, client.CloseStatus);
        }

        Assert.Equal(["{\"type\":7,\"allowReconnect\":true}\u001e"], await closeMessages.WaitAsync(TimeSpan.FromSeconds(20)));
        Assert.InRange(finished, TimeSpan.Zero, TimeSpan.FromSeconds(4));
        var spread = closedAt.Values.Max() - closedAt.Values.Min();
        Assert.True(spread > TimeSpan.FromSeconds(0.5), $"connections should leave in waves, not at once (spread {spread.TotalMilliseconds:0} ms)");

        // The other instance is untouched and takes newcomers.
        await using var elsewhere = await TestClient.ConnectAsync(cluster[1]);
        await elsewhere.SubscribeAsync(room);
        foreach (var connection in reconnecting)
        {
            await connection.DisposeAsync();
        }

        foreach (var client in legacy)
        {
            await client.DisposeAsync();
        }
    }

    [Fact]
    public async Task SigtermDrainsAndExitsCleanlyWithinTheDrainTimeout()
    {
        var redis = await RedisServer.Shared;
        await using var server = await RoomHubProcess.StartAsync(new Dictionary<string, string?>
        {
            ["REDIS_URL"] = redis.Url,
            ["RoomHub:ChannelPrefix"] = "drain-" + Guid.NewGuid().ToString("N")[..12],
            ["RoomHub:DrainTimeout"] = "00:00:02",
        });
        await using var legacy = await LegacyClient.ConnectAsync(new Uri($"ws://127.0.0.1:{server.Port}/"));
        await using var signalR = await TestClient.ConnectAsync(server.HubUrl);
        var clock = Stopwatch.StartNew();

        server.Terminate();

        await legacy.WaitUntilClosedAsync(TimeSpan.FromSeconds(10));
        Assert.Equal((WebSocketCloseStatus)1012, legacy.CloseStatus);
        var exitCode = await server.WaitForExitAsync(TimeSpan.FromSeconds(15));
        Assert.Equal(0, exitCode);
        Assert.InRange(clock.Elapsed, TimeSpan.Zero, TimeSpan.FromSeconds(10));
    }
}
