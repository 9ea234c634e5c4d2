using System.Text.Json.Nodes;
using RoomHub.Tests.Infrastructure;

namespace RoomHub.Tests;

public sealed class LegacyJavaScriptInteropTests(ClusterFixture fixture) : IClassFixture<ClusterFixture>
{
    private RoomHubCluster Cluster => fixture.Cluster;

    [Fact]
    public async Task NodeWsClientAndSignalRJavaScriptClientShareARoomAcrossInstances()
    {
        var room = Rooms.Unique("node");
        await using var legacy = NodeProcess.Start("legacy-client.mjs", LegacyClient.UrlOf(Cluster[0]).ToString());
        await legacy.WaitForEventAsync("ready");
        await using var signalR = NodeProcess.Start("signalr-client.mjs", Cluster[1].HubUrl.ToString());
        await signalR.WaitForEventAsync("ready");
        await signalR.SendAsync(new { op = "subscribe", room });
        await signalR.WaitForEventAsync("done", e => (string?)e["op"] == "subscribe");
        await legacy.SendAsync(new { op = "frame", frame = new JsonObject { ["type"] = "SUBSCRIBE", ["room"] = room }.ToJsonString() });

        // The legacy client gets no ack for SUBSCRIBE, so the SignalR client sends until one message reaches it.
        await Poll.UntilAsync(async () =>
        {
            await signalR.SendAsync(new { op = "send", room, message = "from signalr-js" });
            await signalR.WaitForEventAsync("done", e => (string?)e["op"] == "send");
            return legacy.Events.Any(e => (string?)e["event"] == "frame" && (string?)e["data"] == "from signalr-js");
        }, "the node ws client to receive from the SignalR JavaScript client");

        await legacy.SendAsync(new { op = "frame", frame = new JsonObject { ["type"] = "SEND_MESSAGE", ["roomId"] = room, ["message"] = "from node ws ✓" }.ToJsonString() });

        var received = await signalR.WaitForEventAsync("message", e => (string?)e["message"]?["message"] == "from node ws ✓");
        Assert.Equal(room, (string?)received["message"]!["room"]);
    }

    [Fact]
    public async Task NodeWsClientGetsAnErrorFrameForABadFrameAndStaysConnected()
    {
        await using var legacy = NodeProcess.Start("legacy-client.mjs", LegacyClient.UrlOf(Cluster[1], "/notification").ToString());
        await legacy.WaitForEventAsync("ready");

        await legacy.SendAsync(new { op = "frame", frame = "{\"type\":\"UNSUBSCRIBE\"}" });

        var error = await legacy.WaitForEventAsync("frame");
        var json = JsonNode.Parse((string)error["data"]!)!.AsObject();
        Assert.Equal("ERROR", (string?)json["type"]);
        Assert.Equal("INVALID_ROOM", (string?)json["code"]);
        Assert.DoesNotContain(legacy.Events, e => (string?)e["event"] == "closed");
    }
}
