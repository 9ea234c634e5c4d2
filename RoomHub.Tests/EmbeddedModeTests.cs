using System.Net;
using Microsoft.Extensions.DependencyInjection;
using RoomHub.Server.Internal;
using RoomHub.Tests.Infrastructure;

namespace RoomHub.Tests;

public sealed class EmbeddedModeTests
{
    private static readonly Dictionary<string, string?> NoRedis = new() { ["RoomHub:Redis"] = "", ["REDIS_URL"] = "" };

    [Fact]
    public async Task SingleInstanceWithoutRedisDeliversMessages()
    {
        await using var instance = await RoomHubInstance.StartAsync(NoRedis);
        Assert.Null(instance.Services.GetService<RedisConnection>());
        await using var sender = await TestClient.ConnectAsync(instance);
        await using var receiver = await TestClient.ConnectAsync(instance);
        var room = Rooms.Unique();
        await receiver.SubscribeAsync(room);

        var id = await sender.SendAsync(room, "no redis needed");

        Assert.Equal("no redis needed", (await receiver.WaitForAsync(m => m.Id == id, "the message in embedded mode")).Message);
    }

    [Fact]
    public async Task HealthIsReadyWithoutRedis()
    {
        await using var instance = await RoomHubInstance.StartAsync(NoRedis);
        using var http = new HttpClient { BaseAddress = instance.BaseAddress };

        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/alive")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/health")).StatusCode);
    }

    [Fact]
    public async Task HealthIsReadyWhenRedisAnswers()
    {
        await using var cluster = await RoomHubCluster.StartAsync(instances: 1);
        using var http = new HttpClient { BaseAddress = cluster[0].BaseAddress };

        await Poll.UntilAsync(async () => (await http.GetAsync("/health")).StatusCode == HttpStatusCode.OK, "/health to report ready");
    }

    [Fact]
    public async Task HealthIsNotReadyButAliveWhenRedisCannotBeReached()
    {
        var deadPort = FreePort.Next();
        await using var instance = await RoomHubInstance.StartAsync(new Dictionary<string, string?> { ["RoomHub:Redis"] = $"redis://127.0.0.1:{deadPort}" });
        using var http = new HttpClient { BaseAddress = instance.BaseAddress };

        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/alive")).StatusCode);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await http.GetAsync("/health")).StatusCode);
    }

    [Fact]
    public async Task InvalidConfigurationStopsTheServerAtStart()
    {
        var error = await Assert.ThrowsAnyAsync<Exception>(() => RoomHubInstance.StartAsync(new Dictionary<string, string?>
        {
            ["RoomHub:MaxMessageBytes"] = "0",
            ["RoomHub:Redis"] = "",
        }));

        Assert.Contains("MaxMessageBytes", error.Message, StringComparison.Ordinal);
    }
}
