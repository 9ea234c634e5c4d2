using Microsoft.Extensions.Options;

namespace RoomHub.Server.Internal.Drain;

/// <summary>
/// The drain: readiness off at once, new connections refused, and the existing ones told to reconnect elsewhere in
/// waves with jitter across most of <see cref="RoomHubOptions.DrainTimeout"/>, so that the other instances take them over
/// gradually instead of all at once; then the host stops. Messages are acknowledged only once stored, and sessions and
/// resume bring clients their rooms and what they missed, so nothing acknowledged is lost on the way.
/// </summary>
internal sealed partial class GracefulDrain(
    DrainState state,
    ConnectionTracker connections,
    IOptions<RoomHubOptions> options,
    TimeProvider time,
    ILogger<GracefulDrain> logger)
{
    /// <summary>The share of the drain timeout over which connections are closed; the rest lets the last ones go.</summary>
    private const double SpreadShare = 0.8;

    /// <summary>How long a connection told to reconnect has to close by itself before it is cut (within the drain timeout).</summary>
    private static readonly TimeSpan CloseGrace = TimeSpan.FromSeconds(2);

    public async Task DrainAsync(CancellationToken cancellationToken)
    {
        if (!state.Begin())
        {
            return;
        }

        var settings = options.Value;
        var ids = connections.ConnectionIds.ToArray();
        Random.Shared.Shuffle(ids);
        LogDrainStarted(logger, ids.Length, settings.DrainTimeout);

        var started = time.GetTimestamp();
        var spread = settings.DrainTimeout * SpreadShare;
        var waves = Math.Max(1, Math.Min(settings.DrainWaves, ids.Length));
        var waveLength = spread / waves;
        var closing = new List<Task>(ids.Length);
        for (var wave = 0; wave < waves; wave++)
        {
            var members = ids.Skip(wave * ids.Length / waves).Take(((wave + 1) * ids.Length / waves) - (wave * ids.Length / waves));
            foreach (var id in members)
            {
                // Each connection leaves at a random moment inside its wave: the jitter spreads reconnections evenly.
                var at = (waveLength * wave) + (waveLength * Random.Shared.NextDouble());
                closing.Add(CloseAtAsync(id, started, at, cancellationToken));
            }
        }

        await Task.WhenAll(closing).ConfigureAwait(false);
        using var deadline = new CancellationTokenSource(settings.DrainTimeout - time.GetElapsedTime(started) is { Ticks: > 0 } rest ? rest : TimeSpan.Zero, time);
        while (connections.Count > 0 && !deadline.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(50), time, CancellationToken.None).ConfigureAwait(false);
        }

        LogDrainFinished(logger, time.GetElapsedTime(started), connections.Count);
    }

    private async Task CloseAtAsync(string connectionId, long started, TimeSpan at, CancellationToken cancellationToken)
    {
        var wait = at - time.GetElapsedTime(started);
        if (wait > TimeSpan.Zero)
        {
            await Task.Delay(wait, time, cancellationToken).ConfigureAwait(false);
        }

        try
        {
            var left = options.Value.DrainTimeout - time.GetElapsedTime(started);
            var grace = left < CloseGrace ? left : CloseGrace;
            await connections.CloseForReconnectAsync(connectionId, grace, time, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (!Cancellation.Requested(ex))
        {
            LogCloseFailed(logger, connectionId, ex.Message);
        }
    }

    [LoggerMessage(5001, LogLevel.Information, "Draining: {Connections} connections will be asked to reconnect elsewhere within {Timeout}.")]
    private static partial void LogDrainStarted(ILogger logger, int connections, TimeSpan timeout);

    [LoggerMessage(5002, LogLevel.Information, "Drain finished after {Elapsed}; {Remaining} connections left.")]
    private static partial void LogDrainFinished(ILogger logger, TimeSpan elapsed, int remaining);

    [LoggerMessage(5003, LogLevel.Debug, "Draining: closing {ConnectionId} failed: {Reason}")]
    private static partial void LogCloseFailed(ILogger logger, string connectionId, string reason);
}
