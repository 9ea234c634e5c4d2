namespace RoomHub.Server.Internal.Engine;

/// <summary>
/// What is remembered of a session: its rooms, and when a connection of it was last known to be alive, by the clock
/// that dates the room history's message ids (Redis's, for the Redis stores), not by the clock of the instance that
/// saw it: a returning session's replay compares the two.
/// </summary>
internal sealed record SessionState(IReadOnlyCollection<string> Rooms, DateTimeOffset LastSeen);

/// <summary>
/// A session as one of its connections writes to it: <paramref name="Holder"/> is that connection's id, and
/// <paramref name="Claim"/> when it claimed the session, by the store's clock (0 before it has).
/// </summary>
internal readonly record struct SessionRef(string Owner, string Session, string Holder, long Claim = 0);

/// <summary>What a claim returns: what is remembered of the session (or null), and when it was claimed, by the store's clock.</summary>
internal sealed record SessionClaim(SessionState? Remembered, long Claim);

/// <summary>
/// Sessions: the rooms a client asked to be in, kept across its connections, instances and instance crashes.
/// Guarantees: a session is visible to every instance sharing the store until <see cref="RoomSessionOptions.Ttl"/> after
/// it was last touched (its last connection closed, or its instance's last heartbeat); sessions of different owners
/// never mix, whatever their ids; and only the connection that claimed a session last writes to it: the writes of an
/// older connection of the session (one the server has not yet seen go, after a network drop) are ignored, so it
/// cannot put back a room the client has since left. If the store loses the session's record (Redis lost its data), the
/// connection whose claim is newest takes it back at its next write, whichever connection wrote first.
/// </summary>
internal interface ISessionStore
{
    /// <summary>What is remembered of the session, or null.</summary>
    Task<SessionState?> GetAsync(string owner, string session, CancellationToken cancellationToken);

    /// <summary>Makes <see cref="SessionRef.Holder"/> the session's writer from now on, and returns what is remembered (or null) and the claim's time.</summary>
    Task<SessionClaim> ClaimAsync(SessionRef session, CancellationToken cancellationToken);

    Task AddRoomAsync(SessionRef session, string room, CancellationToken cancellationToken);

    Task RemoveRoomAsync(SessionRef session, string room, CancellationToken cancellationToken);

    /// <summary>
    /// Records that the sessions' connections are alive now (by the store's clock) in exactly these rooms (a room the
    /// session's record holds besides them is dropped), and restarts their TTL.
    /// </summary>
    Task TouchAsync(IReadOnlyCollection<(SessionRef Session, IReadOnlyCollection<string> Rooms)> sessions, CancellationToken cancellationToken);
}
