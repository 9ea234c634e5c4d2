namespace RoomHub.Server.Internal;

/// <summary>
/// Lets one report of a repeated failure through per interval and counts the rest, so that a failure hitting every
/// call (a Redis outage, an overload) is logged once a second with a count rather than once per call.
/// </summary>
internal sealed class LogThrottle(TimeProvider time, TimeSpan interval)
{
    private readonly long _interval = (long)(interval.TotalSeconds * time.TimestampFrequency);
    private long _next = long.MinValue;
    private int _suppressed;

    /// <summary>Whether to log this one; if so, <paramref name="suppressed"/> is how many were not logged since the last.</summary>
    public bool ShouldLog(out int suppressed)
    {
        var now = time.GetTimestamp();
        var next = Volatile.Read(ref _next);
        if (now < next || Interlocked.CompareExchange(ref _next, now + _interval, next) != next)
        {
            Interlocked.Increment(ref _suppressed);
            suppressed = 0;
            return false;
        }

        suppressed = Interlocked.Exchange(ref _suppressed, 0);
        return true;
    }
}
