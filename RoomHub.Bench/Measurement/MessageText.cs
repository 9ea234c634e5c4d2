using System.Buffers.Text;
using System.Text;

namespace RoomHub.Bench.Measurement;

/// <summary>
/// The text of every benchmark message: <c>s{sender}:{sequence}:{timestamp}:</c> followed by <c>x</c> padding up to the
/// payload size. The timestamp is <see cref="System.Diagnostics.Stopwatch.GetTimestamp"/> of the sending process, so
/// latency is measured by one clock in one process (sender and receivers live in the bench). The text is plain ASCII
/// with nothing to escape, so it travels unchanged through JSON and bare text frames alike.
/// </summary>
internal readonly record struct MessageText(int Sender, long Sequence, long Timestamp)
{
    /// <summary>The longest header (<c>s</c>, three numbers and three colons).</summary>
    public const int MaxHeaderBytes = 1 + 10 + 1 + 19 + 1 + 19 + 1;

    /// <summary>Writes the message into <paramref name="destination"/>, padded to <paramref name="payloadBytes"/>; returns the length.</summary>
    public int Write(Span<byte> destination, int payloadBytes)
    {
        destination[0] = (byte)'s';
        var length = 1;
        length += Format(Sender, destination[length..]);
        destination[length++] = (byte)':';
        length += Format(Sequence, destination[length..]);
        destination[length++] = (byte)':';
        length += Format(Timestamp, destination[length..]);
        destination[length++] = (byte)':';
        if (payloadBytes > length)
        {
            destination[length..payloadBytes].Fill((byte)'x');
            length = payloadBytes;
        }

        return length;
    }

    public string ToText(int payloadBytes)
    {
        Span<byte> buffer = stackalloc byte[Math.Max(payloadBytes, MaxHeaderBytes)];
        return Encoding.ASCII.GetString(buffer[..Write(buffer, payloadBytes)]);
    }

    /// <summary>Reads the header of a message written by <see cref="Write"/>; false for any other text.</summary>
    public static bool TryParse(ReadOnlySpan<byte> text, out MessageText message)
    {
        message = default;
        if (text.Length < 7 || text[0] != (byte)'s')
        {
            return false;
        }

        text = text[1..];
        if (!Utf8Parser.TryParse(text, out int sender, out var used) || used == text.Length || text[used] != (byte)':')
        {
            return false;
        }

        text = text[(used + 1)..];
        if (!Utf8Parser.TryParse(text, out long sequence, out used) || used == text.Length || text[used] != (byte)':')
        {
            return false;
        }

        text = text[(used + 1)..];
        if (!Utf8Parser.TryParse(text, out long timestamp, out used) || used == text.Length || text[used] != (byte)':')
        {
            return false;
        }

        message = new MessageText(sender, sequence, timestamp);
        return true;
    }

    public static bool TryParse(string text, out MessageText message)
    {
        Span<byte> header = stackalloc byte[MaxHeaderBytes];
        var length = Math.Min(text.Length, MaxHeaderBytes);
        for (var i = 0; i < length; i++)
        {
            header[i] = text[i] < 128 ? (byte)text[i] : (byte)'?';
        }

        return TryParse(header[..length], out message);
    }

    private static int Format(long value, Span<byte> destination) =>
        Utf8Formatter.TryFormat(value, destination, out var written) ? written : throw new ArgumentException("No room for the number.", nameof(destination));
}
