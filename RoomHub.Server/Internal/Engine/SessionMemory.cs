using System.Collections.Concurrent;
using Microsoft.Extensions.Options;

namespace RoomHub.Server.Internal.Engine;

/// <summary>Sessions in this process's memory. Single instance only; they do not survive a restart.</summary>
internal sealed class SessionMemory(IOptions<RoomHubOptions> options, TimeProvider time) : ISessionStore
{
    private readonly ConcurrentDictionary<(string Owner, string Session), Entry> _sessions = new();
    private readonly TimeSpan _ttl = options.Value.Sessions.Ttl;
    private long _claims;
    private long _claimOrder;

    public Task<SessionState?> GetAsync(string owner, string session, CancellationToken cancellationToken)
    {
        if (_sessions.TryGetValue((owner, session), out var entry))
        {
            lock (entry)
            {
                if (entry.Expires > time.GetUtcNow())
                {
                    return Task.FromResult(entry.State());
                }
            }

            _sessions.TryRemove(KeyValuePair.Create((owner, session), entry));
        }

        return Task.FromResult<SessionState?>(null);
    }

    public Task<SessionClaim> ClaimAsync(SessionRef session, CancellationToken cancellationToken)
    {
        SessionState? remembered = null;
        Update(session, claim: true, entry => remembered = entry.State());

        // Nothing here outlives the process, so claims need no clock: their order is enough.
        return Task.FromResult(new SessionClaim(remembered, Interlocked.Increment(ref _claimOrder)));
    }

    public Task AddRoomAsync(SessionRef session, string room, CancellationToken cancellationToken)
    {
        Update(session, claim: false, entry =>
        {
            entry.Rooms.Add(room);
            entry.Remembered = true;
        });
        return Task.CompletedTask;
    }

    public Task RemoveRoomAsync(SessionRef session, string room, CancellationToken cancellationToken)
    {
        Update(session, claim: false, entry => entry.Rooms.Remove(room));
        return Task.CompletedTask;
    }

    public Task TouchAsync(IReadOnlyCollection<(SessionRef Session, IReadOnlyCollection<string> Rooms)> sessions, CancellationToken cancellationToken)
    {
        var seen = time.GetUtcNow();
        foreach (var (session, rooms) in sessions)
        {
            Update(session, claim: false, entry =>
            {
                entry.Rooms.Clear();
                entry.Rooms.UnionWith(rooms);
                entry.LastSeen = seen;
                entry.Remembered = true;
            });
        }

        return Task.CompletedTask;
    }

    private void Update(SessionRef session, bool claim, Action<Entry> change)
    {
        var now = time.GetUtcNow();
        if (claim)
        {
            Sweep(now);
        }

        var entry = _sessions.GetOrAdd((session.Owner, session.Session), static (_, now) => new Entry { LastSeen = now }, now);
        lock (entry)
        {
            if (entry.Expires <= now && entry.Expires != default)
            {
                entry.Rooms.Clear();
                entry.Remembered = false;
                entry.Holder = null;
            }

            if (claim)
            {
                entry.Holder = session.Holder;
            }
            else if (entry.Holder is { } holder && holder != session.Holder)
            {
                return; // A connection the session has moved on from.
            }

            change(entry);
            entry.Expires = now + _ttl;
        }
    }

    /// <summary>Forgets expired sessions once every 256 claims: nothing else reads them back to notice they expired.</summary>
    private void Sweep(DateTimeOffset now)
    {
        if (Interlocked.Increment(ref _claims) % 256 != 0)
        {
            return;
        }

        foreach (var pair in _sessions)
        {
            if (pair.Value.Expires != default && pair.Value.Expires <= now)
            {
                _sessions.TryRemove(pair);
            }
        }
    }

    private sealed class Entry
    {
        public HashSet<string> Rooms { get; } = new(StringComparer.Ordinal);

        public DateTimeOffset LastSeen { get; set; }

        public DateTimeOffset Expires { get; set; }

        public string? Holder { get; set; }

        /// <summary>Whether anything was written besides a claim: a claimed session with nothing to restore is unknown.</summary>
        public bool Remembered { get; set; }

        /// <summary>What is remembered, or null; called under the entry's lock.</summary>
        public SessionState? State() => Remembered ? new SessionState(Rooms.ToArray(), LastSeen) : null;
    }
}
