using Microsoft.Extensions.Options;
using RoomHub.Server.Internal.Engine;
using StackExchange.Redis;

namespace RoomHub.Server.Internal;

/// <summary>
/// Redis pub/sub keeps nothing for a subscriber that is away. When this instance's subscription connection comes back
/// after a loss, every message its rooms received in history since shortly before the loss is delivered again to the
/// local members of those rooms (only to them, not through Redis), so a message accepted by another instance while
/// this one was cut off is not lost to its members. Some may arrive twice, with the same id.
/// </summary>
/// <remarks>
/// The outage is timed by this instance's monotonic clock and placed on Redis's, which dates the message ids: an
/// instance whose wall clock is ahead of Redis's would otherwise start the replay after messages it missed.
/// </remarks>
internal sealed partial class BackplaneRecovery(
    RedisConnection redis,
    RoomCore core,
    TimeProvider time,
    IOptions<RoomHubOptions> options,
    ILogger<BackplaneRecovery> logger) : IHostedService, IDisposable
{
    /// <summary>Losses are noticed late (up to a couple of heartbeats); read history from this much earlier.</summary>
    private static readonly TimeSpan DetectionMargin = TimeSpan.FromSeconds(2);

    /// <summary>Resubscription follows the reconnection; replay once it has had time to complete.</summary>
    private static readonly TimeSpan SettleDelay = TimeSpan.FromSeconds(1);

    private readonly Lock _gate = new();
    private readonly CancellationTokenSource _stopping = new();
    private long? _lostAt;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        redis.Failed += OnFailed;
        redis.Restored += OnRestored;
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        redis.Failed -= OnFailed;
        redis.Restored -= OnRestored;
        _stopping.Cancel(); // A replay under way would otherwise go on into the services stopping after this one.
        return Task.CompletedTask;
    }

    public void Dispose() => _stopping.Dispose();

    private void OnFailed(ConnectionType type)
    {
        if (type != ConnectionType.Subscription)
        {
            return;
        }

        lock (_gate)
        {
            _lostAt ??= time.GetTimestamp();
        }
    }

    private void OnRestored(ConnectionType type)
    {
        if (type != ConnectionType.Subscription)
        {
            return;
        }

        long lostAt;
        lock (_gate)
        {
            if (_lostAt is not { } at)
            {
                return;
            }

            lostAt = at;
            _lostAt = null;
        }

        _ = ReplayAsync(lostAt);
    }

    private async Task ReplayAsync(long lostAt)
    {
        try
        {
            var stopping = _stopping.Token;
            await Task.Delay(SettleDelay, time, stopping).ConfigureAwait(false);
            var now = await RedisClock.NowAsync(await redis.DatabaseAsync().ConfigureAwait(false)).ConfigureAwait(false);
            // A message stored shortly before the loss may have been published after it: it is re-sent too.
            var since = now - time.GetElapsedTime(lostAt) - DetectionMargin - options.Value.PublishLag;
            var replayed = await core.ReplayToLocalMembersAsync(StreamId.FromTime(since), stopping).ConfigureAwait(false);
            LogReplayed(logger, replayed, since);
        }
        catch (Exception ex) when (!Cancellation.Requested(ex))
        {
            LogReplayFailed(logger, ex);
        }
    }

    [LoggerMessage(1030, LogLevel.Information, "Redis subscription restored: re-sent {Messages} messages accepted since {Since:O} (Redis's clock) to local members.")]
    private static partial void LogReplayed(ILogger logger, int messages, DateTimeOffset since);

    [LoggerMessage(1031, LogLevel.Warning, "Could not re-send the messages missed while the Redis subscription was down.")]
    private static partial void LogReplayFailed(ILogger logger, Exception exception);
}
