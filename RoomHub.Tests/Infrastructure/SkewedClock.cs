namespace RoomHub.Tests.Infrastructure;

/// <summary>A wall clock that is off by <paramref name="skew"/>; timers and elapsed time are the machine's own.</summary>
public sealed class SkewedClock(TimeSpan skew) : TimeProvider
{
    public override DateTimeOffset GetUtcNow() => base.GetUtcNow() + skew;
}
