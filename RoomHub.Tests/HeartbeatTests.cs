using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using RoomHub.Server;
using RoomHub.Server.Internal;
using RoomHub.Server.Internal.Engine;

namespace RoomHub.Tests;

public sealed class HeartbeatTests
{
    [Fact]
    public async Task BeatRefreshesPresenceAndSessionOfEveryConnectionAcrossItsBatches()
    {
        // More connections than one batch of a beat holds, and not a multiple of it.
        const int count = 2_345;
        var options = Options.Create(new RoomHubOptions());
        var connections = new ConnectionRegistry();
        var presence = new PresenceMemory(options, TimeProvider.System);
        var sessions = new SessionMemory(options, TimeProvider.System);
        for (var i = 0; i < count; i++)
        {
            var state = new ConnectionState($"c{i}", ConnectionRegistry.SignalR, user: null, session: $"session-{i:D12}") { Restoring = false };
            state.AddRoom($"room{i}");
            connections.Add(state);
        }

        // A session still being restored keeps the record its previous connection left: its last-seen time is where the
        // replay of what it missed starts.
        var restoring = new ConnectionState("restoring", ConnectionRegistry.SignalR, user: null, session: "session-restoring");
        restoring.AddRoom("room-restoring");
        connections.Add(restoring);

        var heartbeat = new RoomHubHeartbeat(connections, presence, sessions, options, TimeProvider.System, NullLogger<RoomHubHeartbeat>.Instance);
        await heartbeat.BeatAsync(CancellationToken.None);

        for (var i = 0; i < count; i++)
        {
            Assert.Equal(1, (await presence.GetAsync($"room{i}", CancellationToken.None)).Connections);
            var session = await sessions.GetAsync("anonymous", $"session-{i:D12}", CancellationToken.None);
            Assert.NotNull(session);
            Assert.Equal([$"room{i}"], session.Rooms);
        }

        Assert.Null(await sessions.GetAsync("anonymous", "session-restoring", CancellationToken.None));
    }
}
