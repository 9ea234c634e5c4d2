using System.Collections.Concurrent;
using Microsoft.Extensions.Options;

namespace RoomHub.Server.Internal.Engine;

/// <summary>Sessions in this process's memory. Single instance only; they do not survive a restart.</summary>
internal sealed class SessionMemory(IOptions<RoomHubOptions> options, TimeProvider time) : ISessionStore
{
    private readonly ConcurrentDictionary<(string Owner, string Session), Entry> _sessions = new();
    private readonly TimeSpan _ttl = options.Value.Sessions.Ttl;

    public Task<SessionState?> GetAsync(string owner, string session, CancellationToken cancellationToken)
    {
        if (_sessions.TryGetValue((owner, session), out var entry))
        {
            lock (entry)
            {
                if (entry.Expires > time.GetUtcNow())
                {
                    return Task.FromResult<SessionState?>(new SessionState(entry.Rooms.ToArray(), entry.LastSeen));
                }
            }

            _sessions.TryRemove(KeyValuePair.Create((owner, session), entry));
        }

        return Task.FromResult<SessionState?>(null);
    }

    public Task AddRoomAsync(string owner, string session, string room, CancellationToken cancellationToken)
    {
        Update(owner, session, entry => entry.Rooms.Add(room));
        return Task.CompletedTask;
    }

    public Task RemoveRoomAsync(string owner, string session, string room, CancellationToken cancellationToken)
    {
        Update(owner, session, entry => entry.Rooms.Remove(room));
        return Task.CompletedTask;
    }

    public Task TouchAsync(IReadOnlyCollection<(string Owner, string Session, IReadOnlyCollection<string> Rooms)> sessions, DateTimeOffset seen, CancellationToken cancellationToken)
    {
        foreach (var (owner, session, rooms) in sessions)
        {
            Update(owner, session, entry =>
            {
                entry.Rooms.UnionWith(rooms);
                entry.LastSeen = seen;
            });
        }

        return Task.CompletedTask;
    }

    private void Update(string owner, string session, Action<Entry> change)
    {
        var now = time.GetUtcNow();
        var entry = _sessions.GetOrAdd((owner, session), static (_, now) => new Entry { LastSeen = now }, now);
        lock (entry)
        {
            if (entry.Expires <= now && entry.Expires != default)
            {
                entry.Rooms.Clear();
            }

            change(entry);
            entry.Expires = now + _ttl;
        }
    }

    private sealed class Entry
    {
        public HashSet<string> Rooms { get; } = new(StringComparer.Ordinal);

        public DateTimeOffset LastSeen { get; set; }

        public DateTimeOffset Expires { get; set; }
    }
}
