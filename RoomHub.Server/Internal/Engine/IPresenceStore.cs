using RoomHub.Contracts;

namespace RoomHub.Server.Internal.Engine;

/// <summary>A member of a room as presence counts it: one connection, and its user if authenticated.</summary>
internal readonly record struct PresenceMember(string ConnectionId, string? User);

/// <summary>
/// Who is in each room, across instances.
/// Guarantees: a member added is counted by every instance sharing the store until it is removed, or, if its instance
/// stops refreshing it (a crash), until <see cref="PresenceOptions.Ttl"/> after the last refresh. Counting is eventually
/// consistent: an add or remove is visible to reads that start after it completed.
/// </summary>
internal interface IPresenceStore
{
    Task AddAsync(string room, PresenceMember member, CancellationToken cancellationToken);

    Task RemoveAsync(string room, PresenceMember member, CancellationToken cancellationToken);

    /// <summary>Re-asserts members (the heartbeat of an instance), adding any that a store outage lost.</summary>
    Task RefreshAsync(IReadOnlyCollection<(string Room, PresenceMember Member)> members, CancellationToken cancellationToken);

    Task<RoomPresence> GetAsync(string room, CancellationToken cancellationToken);
}
