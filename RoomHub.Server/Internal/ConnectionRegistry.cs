using System.Collections.Concurrent;
using RoomHub.Server.Internal.Engine;
using RoomHub.Server.Internal.Legacy;

namespace RoomHub.Server.Internal;

/// <summary>What this instance knows of one of its connections: transport, user, session and rooms.</summary>
internal sealed class ConnectionState(string connectionId, string transport, string? user, string? session)
{
    private readonly HashSet<string> _rooms = new(StringComparer.Ordinal);
    private CommandSequencer? _commands;

    public string ConnectionId { get; } = connectionId;

    public string Transport { get; } = transport;

    public string? User { get; } = user;

    public string? Session { get; } = session;

    /// <summary>The authenticated user, for the room rules.</summary>
    public System.Security.Claims.ClaimsPrincipal? Principal { get; init; }

    /// <summary>Sessions belong to their user; anonymous sessions are told apart by their unguessable ids alone.</summary>
    public string SessionOwner => User is null ? "anonymous" : "user:" + User;

    public PresenceMember Member => new(ConnectionId, User);

    /// <summary>
    /// Whether the session's rooms and missed messages are still being restored. Until they are, the session's record
    /// is left as the previous connection left it: a restore that fails must not move the session's last-seen time
    /// forward (the next restore replays from it) before anything was replayed.
    /// </summary>
    public bool Restoring { get; set; } = session is not null;

    /// <summary>The order of this connection's hub calls; made on first use, so idle connections do not pay for it.</summary>
    public CommandSequencer Commands => LazyInitializer.EnsureInitialized(ref _commands);

    public bool AddRoom(string room)
    {
        lock (_rooms)
        {
            return _rooms.Add(room);
        }
    }

    public bool RemoveRoom(string room)
    {
        lock (_rooms)
        {
            return _rooms.Remove(room);
        }
    }

    public int RoomCount
    {
        get
        {
            lock (_rooms)
            {
                return _rooms.Count;
            }
        }
    }

    public bool InRoom(string room)
    {
        lock (_rooms)
        {
            return _rooms.Contains(room);
        }
    }

    public string[] Rooms()
    {
        lock (_rooms)
        {
            return [.. _rooms];
        }
    }
}

/// <summary>The connections of this instance.</summary>
internal sealed class ConnectionRegistry
{
    public const string SignalR = "signalr";
    public const string Legacy = "legacy";

    private readonly ConcurrentDictionary<string, ConnectionState> _connections = new(StringComparer.Ordinal);
    private int _signalR;
    private int _legacy;

    public int SignalRCount => Volatile.Read(ref _signalR);

    public int LegacyCount => Volatile.Read(ref _legacy);

    public static string TransportOf(Microsoft.AspNetCore.Http.Features.IFeatureCollection features) =>
        features.Get<LegacyConnectionContext>() is null ? SignalR : Legacy;

    public void Add(ConnectionState state)
    {
        if (_connections.TryAdd(state.ConnectionId, state))
        {
            Interlocked.Increment(ref state.Transport == Legacy ? ref _legacy : ref _signalR);
        }
    }

    public ConnectionState? Get(string connectionId) => _connections.GetValueOrDefault(connectionId);

    public ConnectionState? Remove(string connectionId)
    {
        if (_connections.TryRemove(connectionId, out var state))
        {
            Interlocked.Decrement(ref state.Transport == Legacy ? ref _legacy : ref _signalR);
            return state;
        }

        return null;
    }

    public IReadOnlyList<ConnectionState> Snapshot() => [.. _connections.Values];

    /// <summary>Every connection, read as the walk goes (connections may come and go meanwhile): no copy of them all.</summary>
    public IEnumerable<ConnectionState> Enumerate() => _connections.Select(static pair => pair.Value);

    /// <summary>How many distinct rooms local connections are in. A scan: for metrics collection only.</summary>
    public int LocalRoomCount() => _connections.Values.SelectMany(c => c.Rooms()).Distinct(StringComparer.Ordinal).Count();

    /// <summary>How many local connections are in <paramref name="room"/>. A scan: meant for rare paths only.</summary>
    public int LocalMembers(string room) => _connections.Values.Count(c => c.InRoom(room));
}
