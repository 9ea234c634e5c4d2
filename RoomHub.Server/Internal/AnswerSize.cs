using System.Buffers;
using System.Text;
using System.Text.Encodings.Web;
using RoomHub.Contracts;

namespace RoomHub.Server.Internal;

/// <summary>How a connection's protocol writes text, as far as its size goes.</summary>
internal enum TextEncoding
{
    /// <summary>
    /// SignalR's JSON protocol and the legacy endpoint: UTF-8, with control characters, quotes, backslashes and the
    /// characters System.Text.Json's relaxed encoder still refuses to write as they are (emoji among them) escaped.
    /// </summary>
    Json,

    /// <summary>MessagePack: UTF-8 as it is.</summary>
    Utf8,
}

/// <summary>
/// What an answer of messages takes on a connection's wire, to within a margin per message for its envelope (id, time,
/// field names and framing): no less than the protocol writes, and not much more.
/// </summary>
internal static class AnswerSize
{
    private const int Envelope = 128;

    private static readonly SearchValues<char> Plain = SearchValues.Create(
        " !#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[]^_`abcdefghijklmnopqrstuvwxyz{|}~");

    public static TextEncoding EncodingOf(string? protocol) => protocol == "messagepack" ? TextEncoding.Utf8 : TextEncoding.Json;

    /// <summary>
    /// Where the newest of <paramref name="messages"/> (oldest first) that fit in <paramref name="maxBytes"/> begin: the
    /// last message always counts as fitting. <paramref name="bytes"/> is their size.
    /// </summary>
    public static int NewestWithin(IReadOnlyList<RoomMessage> messages, TextEncoding encoding, long maxBytes, out long bytes)
    {
        bytes = 0;
        for (var i = messages.Count - 1; i >= 0; i--)
        {
            var size = Of(messages[i], encoding);
            if (bytes + size > maxBytes && i < messages.Count - 1)
            {
                return i + 1;
            }

            bytes += size;
        }

        return 0;
    }

    private static long Of(RoomMessage message, TextEncoding encoding) => Of(message.Message, encoding) + Of(message.Room, encoding) + Envelope;

    internal static long Of(ReadOnlySpan<char> text, TextEncoding encoding)
    {
        if (encoding == TextEncoding.Utf8)
        {
            return Encoding.UTF8.GetByteCount(text);
        }

        var bytes = 0L;
        while (!text.IsEmpty)
        {
            var run = text.IndexOfAnyExcept(Plain);
            if (run < 0)
            {
                return bytes + text.Length;
            }

            bytes += run + Escaped(text[run]);
            text = text[(run + 1)..];
        }

        return bytes;
    }

    /// <summary>The bytes System.Text.Json writes for one character outside plain printable ASCII.</summary>
    private static int Escaped(char c) => c switch
    {
        '"' or '\\' or '\b' or '\t' or '\n' or '\f' or '\r' => 2,
        _ when char.IsSurrogate(c) || JavaScriptEncoder.UnsafeRelaxedJsonEscaping.WillEncode(c) => 6,
        < (char)0x800 => 2,
        _ => 3,
    };
}
