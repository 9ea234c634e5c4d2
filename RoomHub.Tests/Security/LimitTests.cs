using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Client;
using RoomHub.Tests.Infrastructure;

namespace RoomHub.Tests.Security;

public sealed class LimitTests
{
    [Fact]
    public async Task SendsUpToTheBurstPassAndTheNextIsRateLimitedOnBothTransports()
    {
        await using var server = await RoomHubInstance.StartAsync(new Dictionary<string, string?>
        {
            ["RoomHub:Security:SendsPerSecond"] = "1",
            ["RoomHub:Security:SendBurst"] = "5",
        });
        var room = Rooms.Unique();

        await using var hub = await SecureClients.HubAsync(server);
        for (var i = 0; i < 5; i++)
        {
            await hub.InvokeAsync<string>("SendMessage", room, "ok");
        }

        var error = await Assert.ThrowsAsync<HubException>(() => hub.InvokeAsync<string>("SendMessage", room, "one too many"));
        Assert.Contains("RATE_LIMITED: ", error.Message, StringComparison.Ordinal);
        await Poll.UntilAsync(async () =>
        {
            try
            {
                await hub.InvokeAsync<string>("SendMessage", room, "later");
                return true;
            }
            catch (HubException)
            {
                return false;
            }
        }, "the bucket to refill");

        await using var legacy = await LegacyClient.ConnectAsync(server);
        for (var i = 0; i < 6; i++)
        {
            await legacy.SendMessageAsync(room, "legacy " + i);
        }

        await legacy.WaitForErrorAsync("RATE_LIMITED");
        Assert.Single(legacy.Json(), j => (string?)j["code"] == "RATE_LIMITED");
    }

    [Fact]
    public async Task SubscribeCallsUpToTheBurstPassAndTheNextIsRateLimited()
    {
        await using var server = await RoomHubInstance.StartAsync(new Dictionary<string, string?>
        {
            ["RoomHub:Security:SubscriptionsPerSecond"] = "1",
            ["RoomHub:Security:SubscriptionBurst"] = "4",
        });
        await using var hub = await SecureClients.HubAsync(server);
        var room = Rooms.Unique();

        await hub.InvokeAsync("Subscribe", room);
        await hub.InvokeAsync("Unsubscribe", room);
        await hub.InvokeAsync("Subscribe", room);
        await hub.InvokeAsync("Unsubscribe", room);
        var error = await Assert.ThrowsAsync<HubException>(() => hub.InvokeAsync("Subscribe", room));
        Assert.Contains("RATE_LIMITED: ", error.Message, StringComparison.Ordinal);

        await using var legacy = await LegacyClient.ConnectAsync(server);
        for (var i = 0; i < 5; i++)
        {
            await legacy.SubscribeAsync(room + i);
        }

        await legacy.WaitForErrorAsync("RATE_LIMITED");
        Assert.Single(legacy.Json(), j => (string?)j["code"] == "RATE_LIMITED");
    }

    [Fact]
    public async Task AConnectionMayJoinUpToMaxRoomsAndNoMore()
    {
        await using var server = await RoomHubInstance.StartAsync(new Dictionary<string, string?>
        {
            ["RoomHub:Security:MaxRoomsPerConnection"] = "3",
        });
        await using var hub = await SecureClients.HubAsync(server);
        var rooms = Enumerable.Range(0, 4).Select(_ => Rooms.Unique()).ToArray();

        for (var i = 0; i < 3; i++)
        {
            await hub.InvokeAsync("Subscribe", rooms[i]);
        }

        await hub.InvokeAsync("Subscribe", rooms[0]);
        var error = await Assert.ThrowsAsync<HubException>(() => hub.InvokeAsync("Subscribe", rooms[3]));
        Assert.Contains("TOO_MANY_ROOMS: ", error.Message, StringComparison.Ordinal);
        await hub.InvokeAsync("Unsubscribe", rooms[0]);
        await hub.InvokeAsync("Subscribe", rooms[3]);

        await using var legacy = await LegacyClient.ConnectAsync(server);
        foreach (var room in rooms)
        {
            await legacy.SubscribeAsync(room);
        }

        await legacy.WaitForErrorAsync("TOO_MANY_ROOMS");
        Assert.Single(legacy.Json(), j => (string?)j["code"] == "TOO_MANY_ROOMS");
    }

    [Fact]
    public async Task ConnectionsPerAddressUpToTheLimitPassAndTheNextGets429()
    {
        await using var server = await RoomHubInstance.StartAsync(new Dictionary<string, string?>
        {
            ["RoomHub:Security:MaxConnectionsPerAddress"] = "3",
        });

        var open = new List<RawWebSocket>();
        try
        {
            open.Add(await RawWebSocket.ConnectAsync(server, "/"));
            open.Add(await RawWebSocket.ConnectAsync(server, "/hubs/rooms"));
            open.Add(await RawWebSocket.ConnectAsync(server, "/notification"));
            Assert.All(open, s => Assert.Equal(101, s.Status));

            Assert.Equal(429, await SecureClients.UpgradeStatusAsync(server, "/"));
            Assert.Equal(429, await SecureClients.UpgradeStatusAsync(server, "/hubs/rooms"));
            Assert.Equal(200, (int)(await new HttpClient().GetAsync(new Uri(server.BaseAddress, "alive"))).StatusCode);

            await open[0].DisposeAsync();
            await Poll.UntilAsync(async () => await SecureClients.UpgradeStatusAsync(server, "/") == 101, "a freed slot");
        }
        finally
        {
            await DisposeAllAsync(open);
        }
    }

    [Theory]
    [InlineData(Microsoft.AspNetCore.Http.Connections.HttpTransportType.ServerSentEvents)]
    [InlineData(Microsoft.AspNetCore.Http.Connections.HttpTransportType.LongPolling)]
    public async Task ConnectionsPerAddressAreCountedOnEveryTransport(Microsoft.AspNetCore.Http.Connections.HttpTransportType transport)
    {
        await using var server = await RoomHubInstance.StartAsync(new Dictionary<string, string?>
        {
            ["RoomHub:Security:MaxConnectionsPerAddress"] = "3",
        });
        var room = Rooms.Unique();

        var clients = new List<HubConnection>();
        try
        {
            for (var i = 0; i < 6; i++)
            {
                var client = Over(server, transport);
                clients.Add(client);
                try
                {
                    await client.StartAsync();
                    await client.InvokeAsync("Subscribe", room);
                }
                catch (Exception ex) when (ex is AggregateException or HttpRequestException or InvalidOperationException or HubException or TaskCanceledException or IOException)
                {
                    // Refused (429) at its stream or poll, or cut when a later poll was.
                }
            }

            await Poll.UntilAsync(() => clients.Count(c => c.State == HubConnectionState.Connected) <= 3, "the connections over the limit to be refused");
            Assert.InRange(clients.Count(c => c.State == HubConnectionState.Connected), 1, 3);
        }
        finally
        {
            await DisposeAllAsync(clients);
        }
    }

    private static HubConnection Over(RoomHubInstance server, Microsoft.AspNetCore.Http.Connections.HttpTransportType transport) =>
        new HubConnectionBuilder().WithUrl(server.HubUrl, options => options.Transports = transport).Build();

    private static async Task DisposeAllAsync(IEnumerable<IAsyncDisposable> clients)
    {
        foreach (var client in clients)
        {
            await client.DisposeAsync();
        }
    }

    [Fact]
    public async Task BehindAProxyWithForwardedHeadersOnTheLimitCountsEachClientAddress()
    {
        // As every shipped deployment runs it (ASPNETCORE_FORWARDEDHEADERS_ENABLED=true): the proxy's own address would
        // otherwise be every client's, and the limit per address a limit per proxy.
        await using var server = await RoomHubInstance.StartAsync(new Dictionary<string, string?>
        {
            ["RoomHub:Security:MaxConnectionsPerAddress"] = "1",
            ["FORWARDEDHEADERS_ENABLED"] = "true",
        });
        static Dictionary<string, string> From(string address) => new() { ["X-Forwarded-For"] = address };

        await using var first = await RawWebSocket.ConnectAsync(server, "/", From("203.0.113.7"));
        await using var other = await RawWebSocket.ConnectAsync(server, "/", From("198.51.100.20"));
        await using var again = await RawWebSocket.ConnectAsync(server, "/", From("203.0.113.7"));

        Assert.Equal(101, first.Status);
        Assert.Equal(101, other.Status);
        Assert.Equal(429, again.Status);
    }

    [Fact]
    public async Task ConnectionsInTotalUpToTheLimitPassAndTheNextGets503()
    {
        await using var server = await RoomHubInstance.StartAsync(new Dictionary<string, string?>
        {
            ["RoomHub:Security:MaxConnections"] = "4",
        });

        var open = new List<RawWebSocket>();
        try
        {
            for (var i = 0; i < 4; i++)
            {
                open.Add(await RawWebSocket.ConnectAsync(server, i % 2 == 0 ? "/" : "/hubs/rooms"));
            }

            Assert.All(open, s => Assert.Equal(101, s.Status));
            Assert.Equal(503, await SecureClients.UpgradeStatusAsync(server, "/hubs/rooms"));
        }
        finally
        {
            await DisposeAllAsync(open);
        }
    }

    [Fact]
    public async Task AConnectionFloodGetsExactlyTheLimitAndTheServerKeepsServing()
    {
        await using var server = await RoomHubInstance.StartAsync(new Dictionary<string, string?>
        {
            ["RoomHub:Security:MaxConnectionsPerAddress"] = "10",
        });

        var flood = await Task.WhenAll(Enumerable.Range(0, 100).Select(i => RawWebSocket.ConnectAsync(server, i % 2 == 0 ? "/" : "/hubs/rooms")));
        try
        {
            Assert.Equal(10, flood.Count(s => s.Status == 101));
            Assert.Equal(90, flood.Count(s => s.Status == 429));
        }
        finally
        {
            foreach (var socket in flood)
            {
                await socket.DisposeAsync();
            }
        }

        var room = Rooms.Unique();
        await Poll.UntilAsync(async () => await SecureClients.UpgradeStatusAsync(server, "/") == 101, "the flood to drain");
        await using var legacy = await LegacyClient.ConnectAsync(server);
        await legacy.SubscribeAsync(room);
        await using var hub = await SecureClients.HubAsync(server);
        await Poll.UntilAsync(async () =>
        {
            await hub.InvokeAsync<string>("SendMessage", room, "still here");
            return legacy.Frames.Contains("still here");
        }, "delivery after the flood");
    }
}
