using System.Text.Json.Nodes;
using Microsoft.AspNetCore.SignalR.Client;
using RoomHub.Contracts;
using RoomHub.Tests.Infrastructure;

namespace RoomHub.Tests;

public sealed class LegacyDurableTests(ClusterFixture fixture) : IClassFixture<ClusterFixture>
{
    private RoomHubCluster Cluster => fixture.Cluster;

    [Fact]
    public async Task HistoryFrameIsAnsweredWithTheLatestMessagesOldestFirst()
    {
        var room = Rooms.Unique("legacy-history");
        await using var sender = await TestClient.ConnectAsync(Cluster[0]);
        var ids = new List<string>();
        for (var i = 1; i <= 4; i++)
        {
            ids.Add(await sender.SendAsync(room, $"m{i}"));
        }

        await using var legacy = await LegacyClient.ConnectAsync(Cluster[1]);
        await legacy.SendAsync(new JsonObject { ["type"] = "HISTORY", ["room"] = room, ["limit"] = 2 }.ToJsonString());

        var answer = await legacy.WaitForJsonAsync(j => (string?)j["type"] == "HISTORY", "the HISTORY answer");
        Assert.Equal(room, (string?)answer["room"]);
        var messages = answer["messages"]!.AsArray();
        Assert.Equal(ids.Skip(2), messages.Select(m => (string?)m!["id"]));
        Assert.Equal(["m3", "m4"], messages.Select(m => (string?)m!["message"]));
    }

    [Fact]
    public async Task EnvelopeClientResumesFromTheLastIdItSaw()
    {
        var room = Rooms.Unique("legacy-resume");
        await using var sender = await TestClient.ConnectAsync(Cluster[0]);
        var seen = await sender.SendAsync(room, "seen");
        var missed = await sender.SendAsync(room, "missed");

        await using var legacy = await LegacyClient.ConnectAsync(Cluster[1], "/", "format=envelope");
        await legacy.SendAsync(new JsonObject { ["type"] = "RESUME", ["room"] = room, ["lastId"] = seen }.ToJsonString());

        var answer = await legacy.WaitForJsonAsync(j => (string?)j["type"] == "RESUME", "the RESUME answer");
        Assert.Equal(room, (string?)answer["room"]);
        Assert.True((bool)answer["recovered"]!);
        Assert.Equal([seen, missed], answer["messages"]!.AsArray().Select(m => (string?)m!["id"])); // "seen": the look-back.

        // RESUME joined the room: live messages follow.
        var live = await sender.SendAsync(room, "live");
        await legacy.WaitForJsonAsync(j => (string?)j["type"] == "MESSAGE" && (string?)j["id"] == live, "a live envelope after RESUME");
    }

    [Fact]
    public async Task PresenceFrameCountsSignalRAndLegacyMembers()
    {
        var room = Rooms.Unique("legacy-presence");
        await using var signalR = await TestClient.ConnectAsync(Cluster[0]);
        await signalR.SubscribeAsync(room);
        await using var legacy = await LegacyClient.ConnectAsync(Cluster[1]);
        await legacy.SendAsync(new JsonObject { ["type"] = "RESUME", ["room"] = room }.ToJsonString());
        await legacy.WaitForJsonAsync(j => (string?)j["type"] == "RESUME", "the RESUME answer");

        await legacy.SendAsync(new JsonObject { ["type"] = "PRESENCE", ["room"] = room }.ToJsonString());

        var answer = await legacy.WaitForJsonAsync(j => (string?)j["type"] == "PRESENCE", "the PRESENCE answer");
        Assert.Equal(2, (int)answer["connections"]!);
        Assert.Empty(answer["users"]!.AsArray());
    }

    [Fact]
    public async Task BadHistoryAndResumeFramesAreAnswered()
    {
        await using var legacy = await LegacyClient.ConnectAsync(Cluster[0]);

        await legacy.SendAsync("""{"type":"HISTORY","room":"r","limit":0}""");
        await legacy.WaitForErrorAsync(RoomErrorCodes.InvalidArgument);
        await legacy.SendAsync("""{"type":"RESUME","room":"r","lastId":"not-an-id"}""");
        await Poll.UntilAsync(() => legacy.Json().Count(j => (string?)j["code"] == RoomErrorCodes.InvalidArgument) == 2, "the second INVALID_ARGUMENT");
        await legacy.SendAsync("""{"type":"HISTORY"}""");
        await legacy.WaitForErrorAsync(RoomErrorCodes.InvalidRoom);
    }

    [Fact]
    public async Task LegacySessionKeepsItsRoomsOnReconnectToAnotherInstance()
    {
        var room = Rooms.Unique("legacy-session");
        var session = Guid.NewGuid().ToString("N");
        await using (var first = await LegacyClient.ConnectAsync(Cluster[0], "/", $"session={session}&format=envelope"))
        {
            await first.SendAsync(new JsonObject { ["type"] = "RESUME", ["room"] = room }.ToJsonString());
            await first.WaitForJsonAsync(j => (string?)j["type"] == "RESUME", "the RESUME answer");
        }

        await using var sender = await TestClient.ConnectAsync(Cluster[0]);
        var whileAway = await sender.SendAsync(room, "while away");
        await using var second = await LegacyClient.ConnectAsync(Cluster[1], "/", $"session={session}&format=envelope");
        var after = await sender.SendAsync(room, "after reconnect");

        await second.WaitForJsonAsync(j => (string?)j["id"] == after, "a message after reconnecting, with no SUBSCRIBE");
        await second.WaitForJsonAsync(j => (string?)j["id"] == whileAway, "the message sent while away, replayed");
    }

    /// <summary>An empty one too: a client whose session id went missing is told, rather than silently left without one.</summary>
    [Theory]
    [InlineData("short")]
    [InlineData("")]
    public async Task InvalidSessionIdIsRefusedWithAClearError(string session)
    {
        // SignalR: the handshake itself answers with the error, so the client's start fails with it.
        await using var connection = new HubConnectionBuilder().WithUrl(new Uri(Cluster[0].HubUrl + "?session=" + session)).Build();
        var refused = await Assert.ThrowsAnyAsync<Exception>(() => connection.StartAsync());
        Assert.Contains("INVALID_ARGUMENT: A session id is 16 to 128", refused.Message, StringComparison.Ordinal);
        Assert.Equal(HubConnectionState.Disconnected, connection.State);

        await using var legacy = await LegacyClient.ConnectAsync(Cluster[0], "/", "session=" + session);
        await legacy.WaitForErrorAsync(RoomErrorCodes.InvalidArgument);
        await legacy.WaitUntilClosedAsync();
    }
}
