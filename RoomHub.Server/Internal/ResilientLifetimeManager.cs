using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.StackExchangeRedis;
using StackExchange.Redis;

namespace RoomHub.Server.Internal;

/// <summary>
/// The Redis backplane, kept serving while Redis is away. A new connection subscribes to a per-connection channel,
/// which RoomHub never uses (it sends only to rooms, and joins rooms locally), so that subscription failing during
/// an outage must not refuse the connection. A join or leave that would subscribe or unsubscribe a room channel is
/// refused before the backplane is touched (the backplane cannot undo a half-done subscription). It owns the backplane,
/// and stops it without failing the stop while Redis is away.
/// </summary>
internal sealed partial class ResilientLifetimeManager(
    RedisHubLifetimeManager<RoomsHub> inner,
    RedisConnection redis,
    ConnectionRegistry connections,
    ILogger<ResilientLifetimeManager> logger) : DelegatingLifetimeManager(inner), IDisposable
{
    public void Dispose()
    {
        try
        {
            // Released first without waiting for Redis's answer: the backplane's own release waits for one, which does
            // not come while Redis is away or frozen, and its failure would skip the rest of the backplane's clean-up.
            redis.Made?.GetSubscriber().UnsubscribeAll(CommandFlags.FireAndForget);
            inner.Dispose();
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException or OperationCanceledException or ObjectDisposedException)
        {
            // The subscriptions end with the Redis connection, which is closed next.
            LogStoppedWithoutRedis(logger, ex.Message);
        }
    }

    public override async Task OnConnectedAsync(HubConnectionContext connection)
    {
        try
        {
            await inner.OnConnectedAsync(connection).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            LogConnectedWithoutRedis(logger, connection.ConnectionId, ex.Message);
        }
    }

    public override async Task OnDisconnectedAsync(HubConnectionContext connection)
    {
        try
        {
            await inner.OnDisconnectedAsync(connection).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            LogDisconnectedWithoutRedis(logger, connection.ConnectionId, ex.Message);
        }
    }

    public override Task AddToGroupAsync(string connectionId, string groupName, CancellationToken cancellationToken = default)
    {
        // Only the first local member's join subscribes the room's channel.
        EnsureReachableUnless(() => connections.LocalMembers(groupName) > 0);
        return inner.AddToGroupAsync(connectionId, groupName, cancellationToken);
    }

    public override Task RemoveFromGroupAsync(string connectionId, string groupName, CancellationToken cancellationToken = default)
    {
        // Only the last local member's leave unsubscribes it.
        EnsureReachableUnless(() => connections.LocalMembers(groupName) > 1);
        return inner.RemoveFromGroupAsync(connectionId, groupName, cancellationToken);
    }

    private void EnsureReachableUnless(Func<bool> redisNotNeeded)
    {
        if (!redis.IsConnected && !redisNotNeeded())
        {
            throw new RedisConnectionException(ConnectionFailureType.UnableToConnect, "Redis is not connected.");
        }
    }

    [LoggerMessage(1010, LogLevel.Warning, "Connection {ConnectionId} accepted while Redis is unreachable: {Reason}")]
    private static partial void LogConnectedWithoutRedis(ILogger logger, string connectionId, string reason);

    [LoggerMessage(1011, LogLevel.Debug, "Connection {ConnectionId} closed while Redis is unreachable: {Reason}")]
    private static partial void LogDisconnectedWithoutRedis(ILogger logger, string connectionId, string reason);

    [LoggerMessage(1012, LogLevel.Information, "Stopped without releasing the backplane's Redis subscriptions, since Redis is unreachable: {Reason}")]
    private static partial void LogStoppedWithoutRedis(ILogger logger, string reason);
}
