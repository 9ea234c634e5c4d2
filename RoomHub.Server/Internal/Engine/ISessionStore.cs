namespace RoomHub.Server.Internal.Engine;

/// <summary>What is remembered of a session: its rooms, and when a connection of it was last known to be alive.</summary>
internal sealed record SessionState(IReadOnlyCollection<string> Rooms, DateTimeOffset LastSeen);

/// <summary>
/// Sessions: the rooms a client asked to be in, kept across its connections, instances and instance crashes.
/// Guarantees: a session is visible to every instance sharing the store until <see cref="RoomSessionOptions.Ttl"/> after
/// it was last touched (its last connection closed, or its instance's last heartbeat); sessions of different owners
/// never mix, whatever their ids.
/// </summary>
internal interface ISessionStore
{
    Task<SessionState?> GetAsync(string owner, string session, CancellationToken cancellationToken);

    Task AddRoomAsync(string owner, string session, string room, CancellationToken cancellationToken);

    Task RemoveRoomAsync(string owner, string session, string room, CancellationToken cancellationToken);

    /// <summary>Records that the sessions' connections are alive now with these rooms, and restarts their TTL.</summary>
    Task TouchAsync(IReadOnlyCollection<(string Owner, string Session, IReadOnlyCollection<string> Rooms)> sessions, DateTimeOffset seen, CancellationToken cancellationToken);
}
