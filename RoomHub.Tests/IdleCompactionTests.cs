using RoomHub.Server.Internal;

namespace RoomHub.Tests;

/// <summary>
/// When an instance compacts its heap: once, after a burst of connects, when it has been quiet long enough; never while
/// it is busy, never without a burst, and not again within the minimum interval.
/// </summary>
public sealed class IdleCompactionTests
{
    private const long Frequency = TimeSpan.TicksPerSecond;
    private static readonly TimeSpan Check = IdleCompaction.CheckInterval;
    private const long QuietStep = 100 * 1024; // Bytes allocated per check while quiet: an idle instance's pings.

    private readonly IdleCompactionPolicy _policy = new(Frequency);
    private long _now = 1_000 * Frequency;
    private long _allocated = 1L << 30;
    private long _opened;

    [Fact]
    public void ABurstOfConnectsIsFollowedByOneCompactionOnceTheInstanceHasBeenQuietLongEnough()
    {
        _opened = IdleCompactionPolicy.MinimumConnects;
        var checks = 0;
        while (!Next(QuietStep))
        {
            Assert.True(++checks * Check < IdleCompactionPolicy.QuietFor + 2 * Check, "no compaction after the quiet spell");
        }

        Assert.True(checks * Check >= IdleCompactionPolicy.QuietFor, $"compacted after {checks * Check} of quiet");
        _policy.Compacted(_now, _allocated);

        // Quiet for long after, with no new burst: nothing more.
        for (var i = 0; i < 1000; i++)
        {
            Assert.False(Next(QuietStep));
        }
    }

    [Fact]
    public void ABusyInstanceIsNeverPausedAndItsQuietSpellStartsOverAfterEachBusyMoment()
    {
        _opened = 10 * IdleCompactionPolicy.MinimumConnects;
        var busyStep = (long)(IdleCompactionPolicy.QuietBytesPerSecond * Check.TotalSeconds) + 1;
        for (var i = 0; i < 100; i++)
        {
            Assert.False(Next(busyStep));
        }

        // Nearly a full quiet spell, one busy check, and nearly another: still nothing.
        var almost = (int)(IdleCompactionPolicy.QuietFor / Check) - 1;
        for (var i = 0; i < almost; i++)
        {
            Assert.False(Next(QuietStep));
        }

        Assert.False(Next(busyStep));
        for (var i = 0; i < almost; i++)
        {
            Assert.False(Next(QuietStep));
        }

        Assert.True(Enumerable.Range(0, 3).Any(_ => Next(QuietStep)), "no compaction after a whole quiet spell");
    }

    [Fact]
    public void FewerConnectsThanABurstNeverCompact()
    {
        _opened = IdleCompactionPolicy.MinimumConnects - 1;
        for (var i = 0; i < 1000; i++)
        {
            Assert.False(Next(QuietStep));
        }
    }

    [Fact]
    public void ASecondBurstSoonAfterTheFirstWaitsForTheMinimumInterval()
    {
        _opened = IdleCompactionPolicy.MinimumConnects;
        while (!Next(QuietStep))
        {
        }

        var compactedAt = _now;
        _policy.Compacted(_now, _allocated);
        _opened += IdleCompactionPolicy.MinimumConnects;
        while (!Next(QuietStep))
        {
        }

        Assert.True(_now - compactedAt >= IdleCompactionPolicy.MinimumInterval.Ticks, "compacted again within the minimum interval");
        Assert.True(_now - compactedAt < IdleCompactionPolicy.MinimumInterval.Ticks + 2 * Check.Ticks);
    }

    private bool Next(long allocatedSince)
    {
        _now += Check.Ticks;
        _allocated += allocatedSince;
        return _policy.ShouldCompact(_now, _allocated, _opened);
    }
}
