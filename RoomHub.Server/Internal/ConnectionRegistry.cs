using System.Collections.Concurrent;
using RoomHub.Server.Internal.Engine;
using RoomHub.Server.Internal.WebSockets;

namespace RoomHub.Server.Internal;

/// <summary>What this instance knows of one of its connections: transport, user, session and rooms.</summary>
internal sealed class ConnectionState(string connectionId, string transport, string? user, string? session)
{
    /// <summary>The connection's rooms, under this object's lock: most connections are in one room, which needs no set.</summary>
    private RoomSet _rooms;
    private CommandSequencer? _commands;
    private RoomCounts? _counts;
    private bool _closed;

    public string ConnectionId { get; } = connectionId;

    public string Transport { get; } = transport;

    public string? User { get; } = user;

    public string? Session { get; } = session;

    /// <summary>The connection's outbound queue, where the slow-consumer guard watches it.</summary>
    public Security.IOutboundQueueFeature? Outbound { get; init; }

    /// <summary>The client's address (as forwarded by a trusted proxy), for the limits per address.</summary>
    public System.Net.IPAddress? Address { get; init; }

    /// <summary>How the connection's protocol writes text, for the size of its answers.</summary>
    public TextEncoding AnswerEncoding { get; init; }

    /// <summary>Completes when the outbound queue has room (at once where no guard watches it).</summary>
    public Task WaitForRoomAsync(CancellationToken cancellationToken) =>
        Outbound is { } queue ? queue.WaitForRoomAsync().WaitAsync(cancellationToken) : Task.CompletedTask;

    /// <summary>The authenticated user, for the room rules.</summary>
    public System.Security.Claims.ClaimsPrincipal? Principal { get; init; }

    /// <summary>Sessions belong to their user; anonymous sessions are told apart by their unguessable ids alone.</summary>
    public string SessionOwner => User is null ? "anonymous" : "user:" + User;

    /// <summary>The session as this connection writes to it.</summary>
    public SessionRef? SessionRef => Session is { } session ? new SessionRef(SessionOwner, session, ConnectionId, SessionClaim) : null;

    /// <summary>When this connection claimed its session, by the session store's clock; 0 until it has.</summary>
    public long SessionClaim { get; set; }

    public PresenceMember Member => new(ConnectionId, User);

    /// <summary>
    /// Whether the session's rooms and missed messages are still being restored. Until they are, the session's record
    /// is left as the previous connection left it: a restore that fails must not move the session's last-seen time
    /// forward (the next restore replays from it) before anything was replayed.
    /// </summary>
    public bool Restoring { get; set; } = session is not null;

    /// <summary>The order of this connection's hub calls; made on first use, so idle connections do not pay for it.</summary>
    public CommandSequencer Commands => LazyInitializer.EnsureInitialized(ref _commands);

    /// <summary>Adds the room unless the connection has already left the registry (a join racing its close).</summary>
    public bool AddRoom(string room)
    {
        lock (this)
        {
            if (_closed || !_rooms.Add(room))
            {
                return false;
            }

            _counts?.Increment(room);
            return true;
        }
    }

    public bool RemoveRoom(string room)
    {
        lock (this)
        {
            if (!_rooms.Remove(room))
            {
                return false;
            }

            if (!_closed)
            {
                _counts?.Decrement(room);
            }

            return true;
        }
    }

    /// <summary>Counts this connection's rooms, from now on, in <paramref name="counts"/>.</summary>
    internal void CountIn(RoomCounts counts)
    {
        lock (this)
        {
            _counts = counts;
            foreach (var room in _rooms.ToArray())
            {
                counts.Increment(room);
            }
        }
    }

    /// <summary>Takes the connection's rooms out of the counts; its rooms stay readable for the clean-up after a close.</summary>
    internal void Close()
    {
        lock (this)
        {
            if (_closed)
            {
                return;
            }

            _closed = true;
            foreach (var room in _rooms.ToArray())
            {
                _counts?.Decrement(room);
            }
        }
    }

    public int RoomCount
    {
        get
        {
            lock (this)
            {
                return _rooms.Count;
            }
        }
    }

    public bool InRoom(string room)
    {
        lock (this)
        {
            return _rooms.Contains(room);
        }
    }

    public string[] Rooms()
    {
        lock (this)
        {
            return _rooms.ToArray();
        }
    }

    /// <summary>A set of rooms that holds one room in a field, and makes a hash set only for a second.</summary>
    private struct RoomSet
    {
        private string? _one;
        private HashSet<string>? _many;

        public readonly int Count => _many?.Count ?? (_one is null ? 0 : 1);

        public bool Add(string room)
        {
            if (_many is not null)
            {
                return _many.Add(room);
            }

            if (_one is null)
            {
                _one = room;
                return true;
            }

            if (string.Equals(_one, room, StringComparison.Ordinal))
            {
                return false;
            }

            _many = new HashSet<string>(StringComparer.Ordinal) { _one, room };
            _one = null;
            return true;
        }

        public bool Remove(string room)
        {
            if (_many is not null)
            {
                return _many.Remove(room);
            }

            if (string.Equals(_one, room, StringComparison.Ordinal))
            {
                _one = null;
                return true;
            }

            return false;
        }

        public readonly bool Contains(string room) => _many?.Contains(room) ?? string.Equals(_one, room, StringComparison.Ordinal);

        public readonly string[] ToArray() => _many is not null ? [.. _many] : _one is null ? [] : [_one];
    }
}

/// <summary>The connections of this instance.</summary>
internal sealed class ConnectionRegistry
{
    public const string SignalR = "signalr";
    public const string Legacy = "legacy";

    private readonly ConcurrentDictionary<string, ConnectionState> _connections = new(StringComparer.Ordinal);
    private readonly RoomCounts _rooms = new();
    private int _signalR;
    private int _legacy;
    private long _opened;

    public int SignalRCount => Volatile.Read(ref _signalR);

    /// <summary>Connections registered since the start.</summary>
    public long Opened => Interlocked.Read(ref _opened);

    public int LegacyCount => Volatile.Read(ref _legacy);

    public static string TransportOf(Microsoft.AspNetCore.Http.Features.IFeatureCollection features) =>
        features.Get<WebSocketConnectionContext>() is { IsLegacy: true } ? Legacy : SignalR;

    public void Add(ConnectionState state)
    {
        if (_connections.TryAdd(state.ConnectionId, state))
        {
            Interlocked.Increment(ref _opened);
            state.CountIn(_rooms);
            Interlocked.Increment(ref state.Transport == Legacy ? ref _legacy : ref _signalR);
        }
    }

    public ConnectionState? Get(string connectionId) => _connections.GetValueOrDefault(connectionId);

    public ConnectionState? Remove(string connectionId)
    {
        if (_connections.TryRemove(connectionId, out var state))
        {
            state.Close();
            Interlocked.Decrement(ref state.Transport == Legacy ? ref _legacy : ref _signalR);
            return state;
        }

        return null;
    }

    public IReadOnlyList<ConnectionState> Snapshot() => [.. _connections.Values];

    /// <summary>Every connection, read as the walk goes (connections may come and go meanwhile): no copy of them all.</summary>
    public IEnumerable<ConnectionState> Enumerate() => _connections.Select(static pair => pair.Value);

    /// <summary>How many distinct rooms local connections are in.</summary>
    public int LocalRoomCount() => _rooms.Count;

    /// <summary>How many local connections are in <paramref name="room"/>.</summary>
    public int LocalMembers(string room) => _rooms.Of(room);
}

/// <summary>
/// Local members per room, kept as connections join, leave and close, so that "is anyone else here in this room?"
/// (asked on every join and leave while Redis is away) and the rooms metric do not walk every connection.
/// A room is in the table exactly while its count is above zero.
/// </summary>
internal sealed class RoomCounts
{
    private readonly ConcurrentDictionary<string, int> _counts = new(StringComparer.Ordinal);

    public int Count => _counts.Count;

    public int Of(string room) => _counts.GetValueOrDefault(room);

    public void Increment(string room) => _counts.AddOrUpdate(room, 1, static (_, n) => n + 1);

    public void Decrement(string room)
    {
        while (_counts.TryGetValue(room, out var n))
        {
            // Removing only the pair (room, 1) loses no concurrent increment: if one got in first, the removal fails and
            // the loop reads the new count.
            if (n <= 1 ? _counts.TryRemove(new KeyValuePair<string, int>(room, n)) : _counts.TryUpdate(room, n - 1, n))
            {
                return;
            }
        }
    }
}
