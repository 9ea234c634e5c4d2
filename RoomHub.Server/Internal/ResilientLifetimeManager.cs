using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.StackExchangeRedis;
using StackExchange.Redis;

namespace RoomHub.Server.Internal;

/// <summary>
/// The Redis backplane, kept serving while Redis is away. A new connection subscribes to a per-connection channel,
/// which RoomHub never uses (it sends only to rooms, and joins rooms locally), so that subscription failing during
/// an outage must not refuse the connection. A join that would subscribe a room channel is refused before the backplane
/// is touched while Redis is away, and undone when Redis does not answer it; a leave always succeeds. It owns the
/// backplane, and stops it without failing the stop while Redis is away.
/// </summary>
internal sealed partial class ResilientLifetimeManager(
    RedisHubLifetimeManager<RoomsHub> inner,
    RedisConnection redis,
    ConnectionRegistry connections,
    ILogger<ResilientLifetimeManager> logger) : DelegatingLifetimeManager(inner), IDisposable
{
    private readonly SemaphoreSlim _joins = new(1, 1);

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

    public override async Task AddToGroupAsync(string connectionId, string groupName, CancellationToken cancellationToken = default)
    {
        // Only the first local member's join subscribes the room's channel.
        EnsureReachableUnless(() => connections.LocalMembers(groupName) > 0);

        // One join at a time, its undo included: a join that came in while an earlier one hung would otherwise find the
        // room's subscription under way, count as done, and be left in a room nobody on this instance receives once the
        // earlier one failed. The backplane takes one lock for every join and leave of the instance anyway.
        await _joins.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await inner.AddToGroupAsync(connectionId, groupName, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            // Redis stopped answering without the connection being lost (a stall): the backplane has recorded the
            // connection in the room before its subscription failed, so without this every later join of the room would
            // count as done while nobody on this instance receives it.
            await ForgetAsync(connectionId, groupName).ConfigureAwait(false);
            throw;
        }
        finally
        {
            _joins.Release();
        }
    }

    /// <summary>
    /// Only the last local member's leave unsubscribes the room's channel, and a leave needs no answer from Redis: the
    /// backplane takes the connection out of the room and releases the channel locally before it asks Redis to
    /// unsubscribe, so when Redis is away or does not answer the leave has happened all the same, and is finished here.
    /// Redis's own record of the subscription ends with the connection to it at the latest, and a lost connection comes
    /// back without it.
    /// </summary>
    public override Task RemoveFromGroupAsync(string connectionId, string groupName, CancellationToken cancellationToken = default) =>
        ForgetAsync(connectionId, groupName, cancellationToken);

    /// <summary>
    /// Takes a connection out of a room in the backplane, whether Redis answers or not. The backplane drops the room's
    /// subscription first and forgets the connection's membership only after Redis's answer to that, so when that answer
    /// fails, a second removal, which finds nothing left to unsubscribe and needs no Redis, finishes what the first began.
    /// </summary>
    private async Task ForgetAsync(string connectionId, string groupName, CancellationToken cancellationToken = default)
    {
        for (var attempt = 0; attempt < 2; attempt++)
        {
            try
            {
                // The second removal, which needs no Redis, finishes even when the caller has given up.
                await inner.RemoveFromGroupAsync(connectionId, groupName, attempt == 0 ? cancellationToken : CancellationToken.None).ConfigureAwait(false);
                return;
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException)
            {
                LogLeftWithoutRedis(logger, connectionId, ex.Message);
            }
        }
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

    [LoggerMessage(1013, LogLevel.Debug, "Connection {ConnectionId} taken out of a room locally while Redis does not answer: {Reason}")]
    private static partial void LogLeftWithoutRedis(ILogger logger, string connectionId, string reason);

    [LoggerMessage(1012, LogLevel.Information, "Stopped without releasing the backplane's Redis subscriptions, since Redis is unreachable: {Reason}")]
    private static partial void LogStoppedWithoutRedis(ILogger logger, string reason);
}
