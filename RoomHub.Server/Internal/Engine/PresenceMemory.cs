using System.Collections.Concurrent;
using Microsoft.Extensions.Options;
using RoomHub.Contracts;

namespace RoomHub.Server.Internal.Engine;

/// <summary>Presence in this process's memory. Single instance only.</summary>
internal sealed class PresenceMemory(IOptions<RoomHubOptions> options, TimeProvider time) : IPresenceStore
{
    private readonly ConcurrentDictionary<string, ConcurrentDictionary<string, (string? User, DateTimeOffset Expires)>> _rooms = new(StringComparer.Ordinal);
    private readonly TimeSpan _ttl = options.Value.Presence.Ttl;

    public Task AddAsync(string room, PresenceMember member, CancellationToken cancellationToken)
    {
        _rooms.GetOrAdd(room, static _ => NewRoom())[member.ConnectionId] = (member.User, time.GetUtcNow() + _ttl);
        return Task.CompletedTask;
    }

    public Task RemoveAsync(string room, PresenceMember member, CancellationToken cancellationToken)
    {
        if (_rooms.TryGetValue(room, out var members))
        {
            members.TryRemove(member.ConnectionId, out _);
            if (members.IsEmpty)
            {
                _rooms.TryRemove(KeyValuePair.Create(room, members));
            }
        }

        return Task.CompletedTask;
    }

    public async Task RefreshAsync(IReadOnlyCollection<(string Room, PresenceMember Member)> members, CancellationToken cancellationToken)
    {
        foreach (var (room, member) in members)
        {
            await AddAsync(room, member, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Most rooms have few members: a room starts with one slot and one lock (the defaults are 31 slots and a lock per
    /// core, about 0.5 KB per room here and more on larger machines), and grows with its members.
    /// </summary>
    private static ConcurrentDictionary<string, (string? User, DateTimeOffset Expires)> NewRoom() => new(concurrencyLevel: 1, capacity: 1, StringComparer.Ordinal);

    public Task<RoomPresence> GetAsync(string room, CancellationToken cancellationToken)
    {
        if (!_rooms.TryGetValue(room, out var members))
        {
            return Task.FromResult(new RoomPresence(room, 0, []));
        }

        var now = time.GetUtcNow();
        var alive = members.Where(m => m.Value.Expires > now).ToArray();
        var users = alive.Select(m => m.Value.User).OfType<string>().Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToArray();
        return Task.FromResult(new RoomPresence(room, alive.Length, users));
    }
}
