using RoomHub.Tests.Infrastructure;

namespace RoomHub.Tests;

public sealed class JavaScriptInteropTests(ClusterFixture fixture) : IClassFixture<ClusterFixture>
{
    private RoomHubCluster Cluster => fixture.Cluster;

    [Fact]
    public async Task JavaScriptClientAndDotNetClientExchangeMessagesAcrossInstances()
    {
        var room = Rooms.Unique("js");
        await using var js = NodeProcess.Start("signalr-client.mjs", Cluster[0].HubUrl.ToString());
        await js.WaitForEventAsync("ready");
        await js.SendAsync(new { op = "subscribe", room });
        await js.WaitForEventAsync("done", e => (string?)e["op"] == "subscribe");
        await using var dotnet = await TestClient.ConnectAsync(Cluster[1]);
        await dotnet.SubscribeAsync(room);

        var fromDotNet = await dotnet.SendAsync(room, "hello from .NET");
        var received = await js.WaitForEventAsync("message", e => (string?)e["message"]?["id"] == fromDotNet);
        Assert.Equal("hello from .NET", (string?)received["message"]!["message"]);
        Assert.Equal(room, (string?)received["message"]!["room"]);
        Assert.NotNull((string?)received["message"]!["sentAt"]);

        await js.SendAsync(new { op = "send", room, message = "hello from JavaScript ✓" });
        var sent = await js.WaitForEventAsync("done", e => (string?)e["op"] == "send");
        var fromJs = (string?)sent["result"];
        Assert.False(string.IsNullOrEmpty(fromJs));
        Assert.Equal("hello from JavaScript ✓", (await dotnet.WaitForAsync(m => m.Id == fromJs, "the JavaScript client's message")).Message);
    }

    [Fact]
    public async Task JavaScriptClientSeesTheErrorCodeOfARefusedCall()
    {
        await using var js = NodeProcess.Start("signalr-client.mjs", Cluster[1].HubUrl.ToString());
        await js.WaitForEventAsync("ready");

        await js.SendAsync(new { op = "subscribe", room = "" });

        var failed = await js.WaitForEventAsync("failed");
        Assert.Contains("INVALID_ROOM: ", (string?)failed["error"], StringComparison.Ordinal);
    }
}
