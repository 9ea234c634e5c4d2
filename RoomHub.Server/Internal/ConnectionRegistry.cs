using System.Collections.Concurrent;
using RoomHub.Server.Internal.Legacy;

namespace RoomHub.Server.Internal;

/// <summary>The connections of this instance and the transport each came through.</summary>
internal sealed class ConnectionRegistry
{
    public const string SignalR = "signalr";
    public const string Legacy = "legacy";

    private readonly ConcurrentDictionary<string, string> _connections = new();
    private int _signalR;
    private int _legacy;

    public int SignalRCount => Volatile.Read(ref _signalR);

    public int LegacyCount => Volatile.Read(ref _legacy);

    public void Add(string connectionId, Microsoft.AspNetCore.Http.Features.IFeatureCollection features)
    {
        var transport = features.Get<LegacyConnectionContext>() is null ? SignalR : Legacy;
        if (_connections.TryAdd(connectionId, transport))
        {
            Interlocked.Increment(ref transport == Legacy ? ref _legacy : ref _signalR);
        }
    }

    public void Remove(string connectionId)
    {
        if (_connections.TryRemove(connectionId, out var transport))
        {
            Interlocked.Decrement(ref transport == Legacy ? ref _legacy : ref _signalR);
        }
    }

    public IReadOnlyList<(string ConnectionId, string Transport)> Snapshot() =>
        _connections.Select(pair => (pair.Key, pair.Value)).ToArray();
}
