using Microsoft.Extensions.Options;

namespace RoomHub.Server.Internal;

/// <summary>
/// Gives the memory a burst of connects leaves behind back to the system once the instance has fallen quiet. Each
/// connection's long-lived objects are promoted to gen2 among the short-lived ones of the connects around it (SignalR's
/// record of each negotiation lives 15 s); when those die they leave holes between live objects, which only a
/// compacting collection gives back, and a quiet instance runs no full collection of its own. After a reconnect storm
/// (a rolling restart, a network blip) an instance would otherwise keep that memory for good: at 19,000 connections,
/// about 2.3 KB per negotiated connection (RoomHub.Bench's idle scenario). One compacting collection, once the process
/// has allocated next to nothing for <see cref="IdleCompactionPolicy.QuietFor"/>, pauses it for a fraction of a second
/// (about 0.5 s at 300 MB of heap on 2 cores), at a moment when little waits on it.
/// </summary>
internal sealed partial class IdleCompaction(IOptions<RoomHubOptions> options, ConnectionRegistry connections, TimeProvider time, ILogger<IdleCompaction> logger)
    : BackgroundService
{
    internal static readonly TimeSpan CheckInterval = TimeSpan.FromSeconds(5);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!options.Value.CompactWhenIdle)
        {
            return;
        }

        var policy = new IdleCompactionPolicy(time.TimestampFrequency);
        using var timer = new PeriodicTimer(CheckInterval, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                var now = time.GetTimestamp();
                if (policy.ShouldCompact(now, GC.GetTotalAllocatedBytes(), connections.Opened))
                {
                    Compact(policy, now);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Shutting down.
        }
    }

    private void Compact(IdleCompactionPolicy policy, long startedAt)
    {
        var before = Environment.WorkingSet;
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        var pause = time.GetElapsedTime(startedAt);
        policy.Compacted(time.GetTimestamp(), GC.GetTotalAllocatedBytes());
        LogCompacted(logger, before / (1024 * 1024), Environment.WorkingSet / (1024 * 1024), (long)pause.TotalMilliseconds, connections.SignalRCount + connections.LegacyCount);
    }

    [LoggerMessage(6001, LogLevel.Information, "Compacted the heap after a burst of connects, the instance being quiet: working set {BeforeMb} MB -> {AfterMb} MB, paused {PauseMs} ms, {Connections} connections open.")]
    private static partial void LogCompacted(ILogger logger, long beforeMb, long afterMb, long pauseMs, int connections);
}

/// <summary>
/// When <see cref="IdleCompaction"/> compacts: after at least <see cref="MinimumConnects"/> connects since the last
/// compaction (or the start), once the process has allocated less than <see cref="QuietBytesPerSecond"/> on average
/// over <see cref="QuietFor"/>, and at most once per <see cref="MinimumInterval"/>. An instance that is busy, or that
/// saw no burst, is never paused.
/// </summary>
/// <param name="frequency">Timestamp ticks per second.</param>
internal sealed class IdleCompactionPolicy(long frequency)
{
    internal const int MinimumConnects = 1000;
    internal const long QuietBytesPerSecond = 4 * 1024 * 1024;
    internal static readonly TimeSpan QuietFor = TimeSpan.FromSeconds(30);
    internal static readonly TimeSpan MinimumInterval = TimeSpan.FromMinutes(10);

    private long _openedAtLast;
    private long? _lastCompaction;

    /// <summary>When the quiet spell under way began, if one is: a spell is quiet only if every interval in it was.</summary>
    private long? _quietSince;

    /// <summary>The previous check: its timestamp, and the bytes allocated by then.</summary>
    private (long At, long Allocated)? _previous;

    /// <summary>
    /// Whether to compact now (<paramref name="now"/> a timestamp), given the bytes the process has allocated so far and
    /// the connections opened so far. Called at every check.
    /// </summary>
    public bool ShouldCompact(long now, long allocated, long opened)
    {
        var previous = _previous;
        _previous = (now, allocated);
        if (previous is not { } last || now <= last.At)
        {
            return false;
        }

        if (allocated - last.Allocated > QuietBytesPerSecond * Seconds(now - last.At))
        {
            _quietSince = null; // Busy.
            return false;
        }

        var quietSince = _quietSince ??= last.At;
        if (opened - _openedAtLast < MinimumConnects
            || Seconds(now - quietSince) < QuietFor.TotalSeconds
            || (_lastCompaction is { } compacted && Seconds(now - compacted) < MinimumInterval.TotalSeconds))
        {
            return false;
        }

        _openedAtLast = opened;
        return true;
    }

    /// <summary>A compaction ran (it allocates nothing of its own worth counting): the next needs a new quiet spell.</summary>
    public void Compacted(long now, long allocated)
    {
        _lastCompaction = now;
        _quietSince = null;
        _previous = (now, allocated);
    }

    private double Seconds(long ticks) => (double)ticks / frequency;
}
