using System.Diagnostics;

namespace RoomHub.Server.Internal.WebSockets;

/// <summary>
/// Tells whether this instance is behind: whether many of its recent flush rounds came up late, that is, more than
/// <see cref="Late"/> after they were queued.
/// </summary>
/// <remarks>
/// One late round says little: a collection, or one thread's burst of writes to many connections, delays a few now and
/// then at any load. A share of late rounds that stays high says that writes come faster than the machine's cores run
/// them, which is when holding a round open (<see cref="FlushRound"/>) pays. The share is a moving average over recent
/// rounds (<see cref="Share"/>); it turns the verdict on above <see cref="Share.On"/> and off again below
/// <see cref="Share.Off"/>, and forgets what it knew after <see cref="Share.Forget"/> without rounds.
/// </remarks>
internal static class LateRounds
{
    /// <summary>A round that runs later than this after it was queued came up late.</summary>
    internal static readonly TimeSpan Late = TimeSpan.FromMicroseconds(300);

    private static readonly Lock s_lock = new();
    private static Share s_share;
    private static volatile bool s_behind;

    /// <summary>Whether many of the recent rounds came up late.</summary>
    public static bool IsBehind => s_behind;

    /// <summary>Notes a round's first run, <paramref name="waited"/> after it was queued.</summary>
    public static void Ran(TimeSpan waited)
    {
        var now = Stopwatch.GetTimestamp();
        lock (s_lock)
        {
            s_behind = s_share.Add(waited > Late, now);
        }
    }

    /// <summary>The moving share of late rounds and the verdict drawn from it.</summary>
    internal struct Share
    {
        /// <summary>The verdict turns on once the share of late rounds is above this…</summary>
        internal const double On = 0.15;

        /// <summary>…and off again once it is below this.</summary>
        internal const double Off = 0.05;

        /// <summary>The weight of each round in the share: about the last 1/<see cref="Weight"/> rounds count.</summary>
        internal const double Weight = 1.0 / 32;

        /// <summary>A share with no round for this long starts again from none late.</summary>
        internal static readonly TimeSpan Forget = TimeSpan.FromMilliseconds(100);

        private double _late;
        private bool _behind;
        private long _last;

        public readonly double Value => _late;

        /// <summary>Adds a round (<paramref name="late"/> or not) at <paramref name="timestamp"/>; returns the verdict after it.</summary>
        public bool Add(bool late, long timestamp)
        {
            if (_last != 0 && Stopwatch.GetElapsedTime(_last, timestamp) > Forget)
            {
                (_late, _behind) = (0, false);
            }

            _last = timestamp;
            _late += ((late ? 1 : 0) - _late) * Weight;
            _behind = _behind ? _late >= Off : _late > On;
            return _behind;
        }
    }
}
