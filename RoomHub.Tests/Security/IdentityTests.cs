using System.Text.Json.Nodes;
using Microsoft.AspNetCore.SignalR.Client;
using RoomHub.Contracts;
using RoomHub.Tests.Infrastructure;

namespace RoomHub.Tests.Security;

/// <summary>A signed-in connection is its token's subject: to sessions, which belong to it, and to presence, which lists it.</summary>
public sealed class IdentityTests
{
    private static Task<RoomPresence> PresenceAsync(HubConnection connection, string room) =>
        connection.InvokeAsync<RoomPresence>(nameof(IRoomHub.GetPresence), room);

    [Fact]
    public async Task ASessionIdPresentedByAnotherUserDoesNotGiveThemTheOwnersRooms()
    {
        await using var server = await RoomHubInstance.StartAsync(Tokens.Settings(require: true));
        var alice = Tokens.Mint("alice");
        var room = Rooms.Unique("owned");
        var session = "session=" + Guid.NewGuid().ToString("N");
        await using (var first = await SecureClients.HubAsync(server, alice, query: session))
        {
            await first.InvokeAsync(nameof(IRoomHub.Subscribe), room);
        }

        await using var watcher = await SecureClients.HubAsync(server, Tokens.Mint("watcher"));
        await Poll.UntilAsync(async () => (await PresenceAsync(watcher, room)).Connections == 0, "alice's first connection to leave the room");

        // Invocations are served only once the connection's session restore is over, so the answer reflects it.
        await using var bob = await SecureClients.HubAsync(server, Tokens.Mint("bob"), query: session);
        Assert.Equal(0, (await PresenceAsync(bob, room)).Connections);
        await using var legacyBob = await SecureClients.LegacyAsync(server, Tokens.Mint("bob"), query: session);
        await legacyBob.SendAsync(new JsonObject { ["type"] = "PRESENCE", ["room"] = room }.ToJsonString());
        var answer = await legacyBob.WaitForJsonAsync(j => (string?)j["type"] == "PRESENCE", "the PRESENCE answer");
        Assert.Equal(0, (int)answer["connections"]!);

        await using var back = await SecureClients.HubAsync(server, alice, query: session);
        var restored = await PresenceAsync(back, room);
        Assert.Equal(1, restored.Connections);
        Assert.Equal(["alice"], restored.Users);
    }

    [Fact]
    public async Task PresenceListsTheSignedInUsersOnBothEndpoints()
    {
        await using var server = await RoomHubInstance.StartAsync(Tokens.Settings(require: false));
        var room = Rooms.Unique("who");
        await using var alice = await SecureClients.HubAsync(server, Tokens.Mint("alice"));
        await alice.InvokeAsync(nameof(IRoomHub.Subscribe), room);
        await using var bob = await SecureClients.LegacyAsync(server, Tokens.Mint("bob"));
        await bob.SubscribeAsync(room);
        await using var anonymous = await SecureClients.HubAsync(server);
        await anonymous.InvokeAsync(nameof(IRoomHub.Subscribe), room);

        await Poll.UntilAsync(async () => (await PresenceAsync(alice, room)).Connections == 3, "all three to be present");
        Assert.Equal(["alice", "bob"], (await PresenceAsync(anonymous, room)).Users);

        await bob.SendAsync(new JsonObject { ["type"] = "PRESENCE", ["room"] = room }.ToJsonString());
        var answer = await bob.WaitForJsonAsync(j => (string?)j["type"] == "PRESENCE", "the PRESENCE answer");
        Assert.Equal(["alice", "bob"], answer["users"]!.AsArray().Select(u => (string?)u));
    }
}
