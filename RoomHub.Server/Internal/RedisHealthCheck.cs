using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace RoomHub.Server.Internal;

/// <summary>Ready only while the shared Redis connection answers a PING.</summary>
internal sealed class RedisHealthCheck(RedisConnection redis) : IHealthCheck
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(2);

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            var multiplexer = await redis.GetAsync().WaitAsync(Timeout, cancellationToken).ConfigureAwait(false);
            if (!multiplexer.IsConnected)
            {
                return HealthCheckResult.Unhealthy("Redis is not connected.");
            }

            var latency = await multiplexer.GetDatabase().PingAsync().WaitAsync(Timeout, cancellationToken).ConfigureAwait(false);
            return HealthCheckResult.Healthy($"Redis answered in {latency.TotalMilliseconds:0.0} ms.");
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            return HealthCheckResult.Unhealthy("Redis is not reachable.", ex);
        }
    }
}
