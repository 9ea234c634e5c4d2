using RoomHub.Server.Internal;

namespace RoomHub.Tests;

public sealed class LogThrottleTests
{
    [Fact]
    public void OneReportPerIntervalGoesThroughAndCarriesTheCountOfThoseHeldBack()
    {
        var time = new ManualTime();
        var throttle = new LogThrottle(time, TimeSpan.FromSeconds(1));

        Assert.True(throttle.ShouldLog(out var first));
        Assert.Equal(0, first);
        for (var i = 0; i < 5; i++)
        {
            time.Advance(TimeSpan.FromMilliseconds(100));
            Assert.False(throttle.ShouldLog(out _));
        }

        time.Advance(TimeSpan.FromMilliseconds(500));
        Assert.True(throttle.ShouldLog(out var held));
        Assert.Equal(5, held);
        Assert.False(throttle.ShouldLog(out _));
    }

    [Fact]
    public void ConcurrentCallersLetExactlyOneReportThroughPerInterval()
    {
        var time = new ManualTime();
        var throttle = new LogThrottle(time, TimeSpan.FromSeconds(1));
        var logged = 0;

        Parallel.For(0, 10_000, _ =>
        {
            if (throttle.ShouldLog(out _))
            {
                Interlocked.Increment(ref logged);
            }
        });

        Assert.Equal(1, logged);
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.True(throttle.ShouldLog(out var held));
        Assert.Equal(9_999, held);
    }

    private sealed class ManualTime : TimeProvider
    {
        private long _now = 1_000_000;

        public override long TimestampFrequency => TimeSpan.TicksPerSecond;

        public override long GetTimestamp() => Interlocked.Read(ref _now);

        public void Advance(TimeSpan by) => Interlocked.Add(ref _now, by.Ticks);
    }
}
