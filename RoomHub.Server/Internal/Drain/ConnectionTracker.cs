using System.Collections.Concurrent;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Protocol;

namespace RoomHub.Server.Internal.Drain;

/// <summary>
/// Keeps the hub's own handle on every connection of this instance (SignalR and legacy alike), so that a drain can
/// tell each one to reconnect elsewhere: a SignalR close message that allows reconnecting, then the close itself. It also
/// leaves the connection's protocol among its features, where the hub (which SignalR does not tell) finds it.
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
        connection.Features.Set(connection.Protocol);
        await base.OnConnectedAsync(connection).ConfigureAwait(false);
    }

    public override async Task OnDisconnectedAsync(HubConnectionContext connection)
    {
        _connections.TryRemove(connection.ConnectionId, out _);
        await base.OnDisconnectedAsync(connection).ConfigureAwait(false);
    }

    /// <summary>
    /// Asks one connection to go and reconnect (to another instance, through the load balancer), and cuts it if it has
    /// not gone within <paramref name="grace"/>. A client that obeys closes by itself: cutting it at once would make
    /// SignalR send a close message of its own, which does not allow reconnecting and, read in the same batch, overrides
    /// the first in the JavaScript client, which then stays closed.
    /// </summary>
    public async Task CloseForReconnectAsync(string connectionId, TimeSpan grace, TimeProvider time, CancellationToken cancellationToken)
    {
        if (!_connections.TryGetValue(connectionId, out var connection))
        {
            return;
        }

        try
        {
            await connection.WriteAsync(ReconnectElsewhere, cancellationToken).ConfigureAwait(false);
            if (grace > TimeSpan.Zero)
            {
                using var gone = CancellationTokenSource.CreateLinkedTokenSource(connection.ConnectionAborted, cancellationToken);
                await Task.Delay(grace, time, gone.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (connection.ConnectionAborted.IsCancellationRequested)
        {
            // Gone by itself, as asked.
        }
        finally
        {
            if (!connection.ConnectionAborted.IsCancellationRequested)
            {
                connection.Abort();
            }
        }
    }
}
