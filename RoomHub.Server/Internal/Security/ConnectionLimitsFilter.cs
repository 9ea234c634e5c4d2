using Microsoft.AspNetCore.SignalR;
using Microsoft.Extensions.Options;
using RoomHub.Contracts;
using RoomHub.Server.Internal.WebSockets;

namespace RoomHub.Server.Internal.Security;

/// <summary>
/// Per-connection limits, in front of every hub call. Legacy connections are connections of the same hub, so both
/// transports meet the same limits: token buckets for sends and for (un)subscribes, and a cap on rooms per connection.
/// It also closes legacy connections whose token expires (SignalR does that itself for its own connections).
/// </summary>
internal sealed class ConnectionLimitsFilter(IOptions<RoomHubSecurityOptions> options, TimeProvider time, RoomHubTelemetry telemetry, ILogger<ConnectionLimitsFilter> logger) : IHubFilter
{
    private static readonly object StateKey = new();
    private readonly RoomHubSecurityOptions _options = options.Value;

    public async Task OnConnectedAsync(HubLifetimeContext context, Func<HubLifetimeContext, Task> next)
    {
        var state = new ConnectionLimits(_options, time);
        var legacy = context.Context.Features.Get<WebSocketConnectionContext>();
        if (legacy is not null)
        {
            legacy.Limits = state;
        }
        else
        {
            context.Context.Items[StateKey] = state;
        }

        if (_options.Authentication.CloseOnAuthenticationExpiration
            && legacy is { AuthenticationExpires: { } expires } expiring)
        {
            var due = expires - time.GetUtcNow();
            state.Expiry = time.CreateTimer(_ =>
            {
                SecurityLog.AuthenticationExpired(logger, expiring.ConnectionId);
                expiring.CloseWith(System.Net.WebSockets.WebSocketCloseStatus.PolicyViolation, "Authentication expired");
            }, null, due < TimeSpan.Zero ? TimeSpan.Zero : due, Timeout.InfiniteTimeSpan);
        }

        try
        {
            await next(context).ConfigureAwait(false);
        }
        catch
        {
            // SignalR calls no OnDisconnectedAsync for a connection whose OnConnectedAsync failed.
            state.Dispose();
            throw;
        }
    }

    public async Task OnDisconnectedAsync(HubLifetimeContext context, Exception? exception, Func<HubLifetimeContext, Exception?, Task> next)
    {
        try
        {
            await next(context, exception).ConfigureAwait(false);
        }
        finally
        {
            Kept(context.Context)?.Dispose();
        }
    }

    public async ValueTask<object?> InvokeMethodAsync(HubInvocationContext context, Func<HubInvocationContext, ValueTask<object?>> next)
    {
        if (Kept(context.Context) is not { } state)
        {
            return await next(context).ConfigureAwait(false);
        }

        var method = context.HubMethodName;
        switch (method)
        {
            case nameof(IRoomHub.SendMessage):
                if (!state.TrySend())
                {
                    telemetry.Rejected(RoomErrorCodes.RateLimited); // A refused send is counted as RoomCore counts its own.
                    Acquire(context, acquired: false, "messages", _options.SendsPerSecond);
                }

                return await next(context).ConfigureAwait(false);

            case nameof(IRoomHub.Subscribe) or nameof(IRoomHub.Unsubscribe) or nameof(IRoomHub.Resume)
                or nameof(IRoomHub.GetHistory) or nameof(IRoomHub.GetPresence):
                // The room count per connection is enforced where rooms are joined, in RoomCore.
                Acquire(context, state.TrySubscribe(), "room operations (subscribe, unsubscribe, resume, history, presence)", _options.SubscriptionsPerSecond);
                return await next(context).ConfigureAwait(false);

            default:
                return await next(context).ConfigureAwait(false);
        }
    }

    /// <summary>A legacy connection keeps its limits itself, SignalR connections in their items.</summary>
    private static ConnectionLimits? Kept(HubCallerContext context) =>
        context.Features.Get<WebSocketConnectionContext>() is { } legacy ? legacy.Limits as ConnectionLimits
        : context.Items.TryGetValue(StateKey, out var value) ? value as ConnectionLimits : null;

    private void Acquire(HubInvocationContext context, bool acquired, string what, int perSecond)
    {
        if (!acquired)
        {
            throw Refuse(context, RoomErrorCodes.RateLimited, $"Too many {what}: at most {perSecond} per second. Slow down and retry.");
        }
    }

    private HubException Refuse(HubInvocationContext context, string code, string text)
    {
        SecurityLog.LimitHit(logger, context.Context.ConnectionId, context.HubMethodName, code);
        return RoomRules.Error(code, text);
    }

    /// <summary>
    /// One connection's buckets (thread-safe: a connection's calls may overlap, see CommandSequencer). Each starts full
    /// at its burst and refills continuously at its rate, worked out when a call arrives: no timer, and a few bytes per
    /// connection where two <c>TokenBucketRateLimiter</c>s cost about 0.5 KB.
    /// </summary>
    private sealed class ConnectionLimits(RoomHubSecurityOptions options, TimeProvider time) : IDisposable
    {
        private TokenBucket _sends = new(options.SendsPerSecond, options.SendBurst, time.GetTimestamp());
        private TokenBucket _subscriptions = new(options.SubscriptionsPerSecond, options.SubscriptionBurst, time.GetTimestamp());

        public ITimer? Expiry { get; set; }

        public bool TrySend() => TryTake(ref _sends);

        public bool TrySubscribe() => TryTake(ref _subscriptions);

        private bool TryTake(ref TokenBucket bucket)
        {
            lock (this)
            {
                return bucket.TryTake(time);
            }
        }

        public void Dispose() => Expiry?.Dispose();
    }

    private struct TokenBucket(int perSecond, int burst, long now)
    {
        private double _tokens = burst;
        private long _refilledAt = now;

        public bool TryTake(TimeProvider time)
        {
            var at = time.GetTimestamp();
            _tokens = Math.Min(burst, _tokens + (perSecond * time.GetElapsedTime(_refilledAt, at).TotalSeconds));
            _refilledAt = at;
            if (_tokens < 1)
            {
                return false;
            }

            _tokens--;
            return true;
        }
    }
}
