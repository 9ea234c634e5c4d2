using System.Globalization;

namespace RoomHub.Server.Internal.Engine;

/// <summary>
/// A message id: <c>{unix-milliseconds}-{sequence}</c>, the form of Redis stream ids. Ids order by time first, so an id
/// also says when its message was accepted.
/// </summary>
internal readonly record struct StreamId(ulong Milliseconds, ulong Sequence) : IComparable<StreamId>
{
    public static readonly StreamId Zero = new(0, 0);

    /// <summary>The largest id there can be: nothing follows it.</summary>
    public static readonly StreamId Max = new(ulong.MaxValue, ulong.MaxValue);

    public static bool TryParse(string? text, out StreamId id)
    {
        id = Zero;
        if (string.IsNullOrEmpty(text) || text.Length > 41)
        {
            return false;
        }

        var dash = text.IndexOf('-', StringComparison.Ordinal);
        var msText = dash < 0 ? text : text[..dash];
        var seqText = dash < 0 ? "0" : text[(dash + 1)..];
        if (!ulong.TryParse(msText, NumberStyles.None, CultureInfo.InvariantCulture, out var ms) ||
            !ulong.TryParse(seqText, NumberStyles.None, CultureInfo.InvariantCulture, out var seq))
        {
            return false;
        }

        id = new StreamId(ms, seq);
        return true;
    }

    public static StreamId Parse(string text) =>
        TryParse(text, out var id) ? id : throw new FormatException($"'{text}' is not a message id.");

    public static StreamId FromTime(DateTimeOffset time) => new((ulong)Math.Max(0, time.ToUnixTimeMilliseconds()), 0);

    public DateTimeOffset Time => DateTimeOffset.FromUnixTimeMilliseconds((long)Math.Min(Milliseconds, (ulong)DateTimeOffset.MaxValue.ToUnixTimeMilliseconds()));

    public int CompareTo(StreamId other) => (Milliseconds, Sequence).CompareTo((other.Milliseconds, other.Sequence));

    public static bool operator <(StreamId a, StreamId b) => a.CompareTo(b) < 0;

    public static bool operator >(StreamId a, StreamId b) => a.CompareTo(b) > 0;

    public static bool operator <=(StreamId a, StreamId b) => a.CompareTo(b) <= 0;

    public static bool operator >=(StreamId a, StreamId b) => a.CompareTo(b) >= 0;

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Milliseconds}-{Sequence}");
}
