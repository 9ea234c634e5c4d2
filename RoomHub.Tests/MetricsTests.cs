using System.Globalization;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.SignalR.Client;
using RoomHub.Contracts;
using RoomHub.Tests.Infrastructure;

namespace RoomHub.Tests;

/// <summary>
/// The server runs as a process of its own, so the counts it reports are this workload's and nobody else's (meters
/// are process-wide); the test runs alone so that timing is its own too.
/// </summary>
[Collection(IsolatedCollection.Name)]
public sealed partial class MetricsTests
{
    [Fact]
    public async Task MetricsEndpointReportsAKnownWorkload()
    {
        var redis = await RedisServer.Shared;
        await using var instance = await RoomHubProcess.StartAsync(new Dictionary<string, string?>
        {
            ["REDIS_URL"] = redis.Url,
            ["RoomHub:ChannelPrefix"] = "metrics-" + Guid.NewGuid().ToString("N")[..12],
        });
        var room = Rooms.Unique("metrics");
        await using var sender = await TestClient.ConnectAsync(instance.HubUrl);
        await using var first = await TestClient.ConnectAsync(instance.HubUrl);
        await using var second = await TestClient.ConnectAsync(instance.HubUrl, messagePack: true);
        await using var legacy = await LegacyClient.ConnectAsync(new Uri($"ws://127.0.0.1:{instance.Port}/"));
        await first.SubscribeAsync(room);
        await second.SubscribeAsync(room);
        await legacy.SubscribeAsync(room);
        var probes = 0;
        await Poll.UntilAsync(async () =>
        {
            await sender.SendAsync(room, "probe");
            probes++;
            return legacy.Frames.Contains("probe");
        }, "the legacy client to be in the room");
        await first.WaitForCountAsync(room, probes);
        await second.WaitForCountAsync(room, probes);
        await Poll.UntilAsync(() => legacy.Frames.Count(f => f == "probe") == probes, "every probe at the legacy client");
        var before = await ScrapeAsync(instance);

        for (var i = 0; i < 5; i++)
        {
            await sender.SendAsync(room, $"m{i}");
        }

        await first.WaitForCountAsync(room, probes + 5);
        await second.WaitForCountAsync(room, probes + 5);
        await Poll.UntilAsync(() => legacy.Frames.Count(f => f.StartsWith('m')) == 5, "the legacy deliveries");
        await Assert.ThrowsAsync<Microsoft.AspNetCore.SignalR.HubException>(() => sender.SendAsync(room, new string('x', RoomLimits.DefaultMaxMessageBytes + 1)));

        string after = "";
        await Poll.UntilAsync(async () =>
        {
            after = await ScrapeAsync(instance);
            return Value(after, "roomhub_messages_delivered_total", "roomhub_transport=\"legacy\"") - Value(before, "roomhub_messages_delivered_total", "roomhub_transport=\"legacy\"") >= 5
                && Value(after, "roomhub_messages_rejected_total", "error_type=\"MESSAGE_TOO_LARGE\"") > Value(before, "roomhub_messages_rejected_total", "error_type=\"MESSAGE_TOO_LARGE\"");
        }, "the scrape to show the workload");

        Assert.Equal(5, Value(after, "roomhub_messages_published_total") - Value(before, "roomhub_messages_published_total"));
        Assert.Equal(10, Value(after, "roomhub_messages_delivered_total", "roomhub_transport=\"signalr\"") - Value(before, "roomhub_messages_delivered_total", "roomhub_transport=\"signalr\""));
        Assert.Equal(5, Value(after, "roomhub_messages_delivered_total", "roomhub_transport=\"legacy\"") - Value(before, "roomhub_messages_delivered_total", "roomhub_transport=\"legacy\""));
        Assert.Equal(1, Value(after, "roomhub_messages_rejected_total", "error_type=\"MESSAGE_TOO_LARGE\"") - Value(before, "roomhub_messages_rejected_total", "error_type=\"MESSAGE_TOO_LARGE\""));
        Assert.Equal(3, Value(after, "roomhub_connections_active", "roomhub_transport=\"signalr\""));
        Assert.Equal(1, Value(after, "roomhub_connections_active", "roomhub_transport=\"legacy\""));
        Assert.True(Value(after, "roomhub_rooms_active") >= 1, "rooms active");
        Assert.Equal(1, Value(after, "roomhub_backplane_connected"));
        Assert.True(Value(after, "roomhub_message_latency_seconds_count", "roomhub_transport=\"legacy\"") - Value(before, "roomhub_message_latency_seconds_count", "roomhub_transport=\"legacy\"") >= 5, "legacy latency samples\n" + after);
        Assert.True(Value(after, "roomhub_message_latency_seconds_count", "roomhub_transport=\"signalr\"") >= 5, "signalr latency samples\n" + after);
        Assert.InRange(Value(after, "roomhub_message_latency_seconds_sum", "roomhub_transport=\"legacy\""), 0, 60);
        Assert.True(Value(after, "roomhub_store_duration_seconds_count", "roomhub_operation=\"append\"") >= 5, "append durations");
    }

    [Fact]
    public async Task RefusedSendsAreCountedAsRejectedOnBothTransports()
    {
        await using var instance = await RoomHubProcess.StartAsync(new Dictionary<string, string?>
        {
            ["RoomHub:Security:SendsPerSecond"] = "1",
            ["RoomHub:Security:SendBurst"] = "2",
        });
        await using var sender = await TestClient.ConnectAsync(instance.HubUrl);
        var room = Rooms.Unique("limited");
        var refused = 0;
        for (var i = 0; i < 4; i++)
        {
            try
            {
                await sender.SendAsync(room, "m");
            }
            catch (Microsoft.AspNetCore.SignalR.HubException ex) when (ex.Message.Contains(RoomErrorCodes.RateLimited, StringComparison.Ordinal))
            {
                refused++;
            }
        }

        Assert.InRange(refused, 1, 2);
        await Assert.ThrowsAsync<Microsoft.AspNetCore.SignalR.HubException>(() => sender.Connection.InvokeAsync(nameof(IRoomHub.SendMessage), room));
        await using var legacy = await LegacyClient.ConnectAsync(new Uri($"ws://127.0.0.1:{instance.Port}/"));
        await legacy.SendAsync($$"""{"type":"SEND_MESSAGE","roomId":"{{room}}"}""");
        await legacy.WaitForErrorAsync(RoomErrorCodes.InvalidMessage);
        await legacy.SendAsync("""{"type":"SEND_MESSAGE","message":"no room"}""");
        await legacy.WaitForErrorAsync(RoomErrorCodes.InvalidRoom);
        await legacy.SendAsync("""{"type":"SUBSCRIBE"}""");
        await Poll.UntilAsync(() => legacy.Json().Count(j => (string?)j["code"] == RoomErrorCodes.InvalidRoom) == 2, "the refused SUBSCRIBE");

        var scrape = await ScrapeAsync(instance);
        Assert.Equal(refused, Value(scrape, "roomhub_messages_rejected_total", "error_type=\"RATE_LIMITED\""));
        Assert.Equal(1, Value(scrape, "roomhub_messages_rejected_total", "error_type=\"INVALID_MESSAGE\""));
        Assert.Equal(1, Value(scrape, "roomhub_messages_rejected_total", "error_type=\"INVALID_ROOM\""));
        Assert.Equal(1, Value(scrape, "roomhub_messages_rejected_total", "error_type=\"INVALID_ARGUMENT\""));
    }

    [Fact]
    public async Task OpenWebSocketsHoldNoHttpRequest()
    {
        await using var instance = await RoomHubProcess.StartAsync(new Dictionary<string, string?>());
        var room = Rooms.Unique("handoff");
        await using var signalR = await TestClient.ConnectAsync(instance.HubUrl);
        await using var first = await LegacyClient.ConnectAsync(new Uri($"ws://127.0.0.1:{instance.Port}/"));
        await using var second = await LegacyClient.ConnectAsync(new Uri($"ws://127.0.0.1:{instance.Port}/notification?format=envelope"));
        await using var third = await LegacyClient.ConnectAsync(new Uri($"ws://127.0.0.1:{instance.Port}/"));

        // Kestrel counts an upgraded request while it lasts: a WebSocket's, legacy or SignalR (negotiated, here), ends once
        // its handshake is answered.
        await Poll.UntilAsync(async () => Value(await ScrapeAsync(instance), "kestrel_upgraded_connections") == 0, "no WebSocket to count as an upgraded request");
        var scrape = await ScrapeAsync(instance);
        Assert.True(Value(scrape, "kestrel_active_connections") >= 4, "every WebSocket is still a connection of Kestrel's");
        Assert.Equal(3, Value(scrape, "roomhub_connections_active", "roomhub_transport=\"legacy\""));
        Assert.Equal(1, Value(scrape, "roomhub_connections_active", "roomhub_transport=\"signalr\""));

        // And the legacy connections still work both ways, with each other and with SignalR.
        await first.SubscribeAsync(room);
        await second.SubscribeAsync(room);
        await signalR.SubscribeAsync(room);
        await Poll.UntilAsync(async () =>
        {
            await third.SendMessageAsync(room, "through");
            return first.Frames.Contains("through") && second.Frames.Any(f => f.Contains("through", StringComparison.Ordinal));
        }, "a legacy message to reach the legacy members");
        await signalR.WaitForCountAsync(room, 1);
    }

    private static async Task<string> ScrapeAsync(RoomHubProcess instance)
    {
        using var http = new HttpClient { BaseAddress = instance.BaseAddress };
        return await http.GetStringAsync("/metrics");
    }

    /// <summary>The sum of a metric's samples whose labels contain <paramref name="label"/> (0 when absent).</summary>
    private static double Value(string scrape, string metric, string? label = null) =>
        scrape.Split('\n')
            .Where(line => line.StartsWith(metric + "{", StringComparison.Ordinal) || line.StartsWith(metric + " ", StringComparison.Ordinal))
            .Where(line => label is null || line.Contains(label, StringComparison.Ordinal))
            .Select(line => SampleValue().Match(line))
            .Where(match => match.Success)
            .Sum(match => double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture));

    [GeneratedRegex(@"^\S+(?:\{[^}]*\})?\s+([-+0-9.eE]+|NaN)")]
    private static partial Regex SampleValue();
}
