using System.Globalization;

namespace RoomHub.Server.Internal;

/// <summary>
/// Issues message ids of the form <c>{unix-milliseconds}-{sequence}</c>, strictly increasing within this instance,
/// even when the clock stands still or steps back.
/// </summary>
internal sealed class MessageIdGenerator(TimeProvider time)
{
    private readonly Lock _gate = new();
    private long _lastMilliseconds;
    private long _sequence;

    public string Next()
    {
        long milliseconds, sequence;
        lock (_gate)
        {
            var now = time.GetUtcNow().ToUnixTimeMilliseconds();
            if (now > _lastMilliseconds)
            {
                _lastMilliseconds = now;
                _sequence = 0;
            }
            else
            {
                _sequence++;
            }

            milliseconds = _lastMilliseconds;
            sequence = _sequence;
        }

        return string.Create(CultureInfo.InvariantCulture, $"{milliseconds}-{sequence}");
    }
}
