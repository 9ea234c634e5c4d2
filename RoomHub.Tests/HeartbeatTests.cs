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

    [Fact]
    public async Task ARoomJoinedWhileABeatIsUnderWayStaysInTheSession()
    {
        // A beat writes each session's rooms exactly; a join that lands while the beat's presence refresh is on its way
        // (as RoomCore's join does: the room into the connection's state, then the session write) must not be undone.
        var options = Options.Create(new RoomHubOptions());
        var connections = new ConnectionRegistry();
        var sessions = new SessionMemory(options, TimeProvider.System);
        var state = new ConnectionState("c1", ConnectionRegistry.SignalR, user: null, session: "session-000000000001") { Restoring = false };
        state.SessionClaim = (await sessions.ClaimAsync(state.SessionRef!.Value, CancellationToken.None)).Claim;
        state.AddRoom("a");
        await sessions.AddRoomAsync(state.SessionRef!.Value, "a", CancellationToken.None);
        connections.Add(state);
        var presence = new JoinDuringRefresh(new PresenceMemory(options, TimeProvider.System), async () =>
        {
            state.AddRoom("b");
            await sessions.AddRoomAsync(state.SessionRef!.Value, "b", CancellationToken.None);
        });

        await new RoomHubHeartbeat(connections, presence, sessions, options, TimeProvider.System, NullLogger<RoomHubHeartbeat>.Instance).BeatAsync(CancellationToken.None);

        var remembered = await sessions.GetAsync("anonymous", "session-000000000001", CancellationToken.None);
        Assert.Equal(["a", "b"], remembered!.Rooms.Order(StringComparer.Ordinal));
    }

    /// <summary>Presence whose refresh lets a join happen before it returns.</summary>
    private sealed class JoinDuringRefresh(IPresenceStore inner, Func<Task> join) : IPresenceStore
    {
        public Task AddAsync(string room, PresenceMember member, CancellationToken cancellationToken) => inner.AddAsync(room, member, cancellationToken);

        public Task RemoveAsync(string room, PresenceMember member, CancellationToken cancellationToken) => inner.RemoveAsync(room, member, cancellationToken);

        public async Task RefreshAsync(IReadOnlyCollection<(string Room, PresenceMember Member)> members, CancellationToken cancellationToken)
        {
            await inner.RefreshAsync(members, cancellationToken);
            await join();
        }

        public Task<Contracts.RoomPresence> GetAsync(string room, CancellationToken cancellationToken) => inner.GetAsync(room, cancellationToken);
    }
}
