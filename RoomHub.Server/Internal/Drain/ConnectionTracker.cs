using System.Collections.Concurrent;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Protocol;

namespace RoomHub.Server.Internal.Drain;

/// <summary>
/// Keeps the hub's own handle on every connection of this instance (SignalR and legacy alike), so that a drain can
/// tell each one to reconnect elsewhere: a SignalR close message that allows reconnecting, then the close itself.
/// </summary>
internal sealed class ConnectionTracker(HubLifetimeManager<RoomsHub> inner) : DelegatingLifetimeManager(inner)
{
    private static readonly CloseMessage ReconnectElsewhere = new(error: null, allowReconnect: true);

    private readonly ConcurrentDictionary<string, HubConnectionContext> _connections = new(StringComparer.Ordinal);

    public int Count => _connections.Count;

    public IReadOnlyList<string> ConnectionIds => [.. _connections.Keys];

    public override async Task OnConnectedAsync(HubConnectionContext connection)
    {
        _connections[connection.ConnectionId] = connection;
        await base.OnConnectedAsync(connection).ConfigureAwait(false);
    }

    public override async Task OnDisconnectedAsync(HubConnectionContext connection)
    {
        _connections.TryRemove(connection.ConnectionId, out _);
        await base.OnDisconnectedAsync(connection).ConfigureAwait(false);
    }

    /// <summary>Asks one connection to go and reconnect (to another instance, through the load balancer).</summary>
    public async Task CloseForReconnectAsync(string connectionId, CancellationToken cancellationToken)
    {
        if (!_connections.TryGetValue(connectionId, out var connection))
        {
            return;
        }

        try
        {
            await connection.WriteAsync(ReconnectElsewhere, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            connection.Abort();
        }
    }
}
