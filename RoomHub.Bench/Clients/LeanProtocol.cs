using System.Buffers;
using System.Buffers.Text;
using System.Text;
using System.Text.Json;

namespace RoomHub.Bench.Clients;

/// <summary>
/// The SignalR JSON hub protocol, as little of it as a benchmark client needs.
/// <code>
/// handshake   → {"protocol":"json","version":1}␞       ← {}␞  (or {"error":"…"}␞)
/// invocation  → {"type":1,"invocationId":"7","target":"SendMessage","arguments":["room","text"]}␞
/// completion  ← {"type":3,"invocationId":"7","result":"…"}␞   or  {"type":3,"invocationId":"7","error":"…"}␞
/// delivery    ← {"type":1,"target":"ReceiveMessage","arguments":[{"id":"…","room":"…","message":"…","sentAt":"…"}]}␞
/// ping        ↔ {"type":6}␞      close ← {"type":7,"error":"…"}␞
/// </code>
/// ␞ is the record separator 0x1E. Room names and texts written here are ASCII with nothing to escape.
/// </summary>
internal static class LeanProtocol
{
    public const byte RecordSeparator = 0x1E;

    public static ReadOnlySpan<byte> Handshake => "{\"protocol\":\"json\",\"version\":1}\u001e"u8;

    public static ReadOnlySpan<byte> Ping => "{\"type\":6}\u001e"u8;

    /// <summary>Splits the next complete record off <paramref name="buffer"/> (without its separator).</summary>
    public static bool TryReadRecord(ref ReadOnlySpan<byte> buffer, out ReadOnlySpan<byte> record)
    {
        var end = buffer.IndexOf(RecordSeparator);
        if (end < 0)
        {
            record = default;
            return false;
        }

        record = buffer[..end];
        buffer = buffer[(end + 1)..];
        return true;
    }

    public static void WriteInvocation(IBufferWriter<byte> output, long invocationId, string target, string room, ReadOnlySpan<byte> text)
    {
        Write(output, "{\"type\":1,\"invocationId\":\""u8);
        var span = output.GetSpan(20);
        Utf8Formatter.TryFormat(invocationId, span, out var written);
        output.Advance(written);
        Write(output, "\",\"target\":\""u8);
        WriteAscii(output, target);
        Write(output, "\",\"arguments\":[\""u8);
        WriteAscii(output, room);
        if (!text.IsEmpty)
        {
            Write(output, "\",\""u8);
            Write(output, text);
        }

        Write(output, "\"]}\u001e"u8);
    }

    /// <summary>Reads the fields of one record the client cares about.</summary>
    public static LeanRecord Parse(ReadOnlySpan<byte> record) => TryParseDelivery(record, out var delivery) ? delivery : ParseJson(record);

    /// <summary>
    /// A delivery as the server writes it (System.Text.Json keeps the declared order of a record's properties), read
    /// without a JSON reader: the prefix is fixed, and the message is the first <c>"message":"</c> after it (the
    /// argument's <c>id</c> and <c>room</c> come first and cannot hold that text unescaped). Anything else, or a message
    /// with escapes, is left to <see cref="ParseJson"/>. Most records at high rates are deliveries: this keeps the
    /// client's cost per delivery well under the server's.
    /// </summary>
    private static bool TryParseDelivery(ReadOnlySpan<byte> record, out LeanRecord delivery)
    {
        delivery = default;
        if (!record.StartsWith(DeliveryPrefix) || record[^1] != (byte)'}')
        {
            return false;
        }

        var at = record.IndexOf(MessageProperty);
        if (at < 0)
        {
            return false;
        }

        var start = at + MessageProperty.Length;
        var length = record[start..].IndexOfAny((byte)'"', (byte)'\\');
        if (length < 0 || record[start + length] != (byte)'"')
        {
            return false;
        }

        delivery = new LeanRecord { Type = 1, Target = "ReceiveMessage", MessageRange = new Range(start, start + length) };
        return true;
    }

    private static ReadOnlySpan<byte> DeliveryPrefix => "{\"type\":1,\"target\":\"ReceiveMessage\",\"arguments\":[{"u8;

    private static ReadOnlySpan<byte> MessageProperty => "\"message\":\""u8;

    /// <summary>Any record, read with a JSON reader.</summary>
    internal static LeanRecord ParseJson(ReadOnlySpan<byte> record)
    {
        var reader = new Utf8JsonReader(record);
        var result = new LeanRecord();
        var argumentsDepth = -1;
        while (reader.Read())
        {
            if (reader.TokenType != JsonTokenType.PropertyName)
            {
                if (reader.TokenType == JsonTokenType.StartArray && argumentsDepth == -2)
                {
                    argumentsDepth = reader.CurrentDepth;
                }

                continue;
            }

            if (reader.CurrentDepth == 1)
            {
                if (reader.ValueTextEquals("type"u8))
                {
                    reader.Read();
                    result.Type = reader.GetInt32();
                }
                else if (reader.ValueTextEquals("invocationId"u8))
                {
                    reader.Read();
                    result.InvocationId = reader.GetString();
                }
                else if (reader.ValueTextEquals("error"u8))
                {
                    reader.Read();
                    result.Error = reader.GetString();
                }
                else if (reader.ValueTextEquals("target"u8))
                {
                    reader.Read();
                    result.Target = reader.GetString();
                }
                else if (reader.ValueTextEquals("arguments"u8))
                {
                    argumentsDepth = -2;
                }
                else
                {
                    reader.Read();
                    reader.Skip();
                }
            }
            else if (argumentsDepth >= 0 && reader.CurrentDepth == argumentsDepth + 2 && reader.ValueTextEquals("message"u8))
            {
                reader.Read();
                if (reader.ValueIsEscaped)
                {
                    result.EscapedMessage = Encoding.UTF8.GetBytes(reader.GetString() ?? "");
                }
                else
                {
                    var start = (int)reader.TokenStartIndex + 1;
                    result.MessageRange = new Range(start, start + reader.ValueSpan.Length);
                }
            }
        }

        return result;
    }

    private static void Write(IBufferWriter<byte> output, ReadOnlySpan<byte> bytes)
    {
        bytes.CopyTo(output.GetSpan(bytes.Length));
        output.Advance(bytes.Length);
    }

    private static void WriteAscii(IBufferWriter<byte> output, string text)
    {
        var span = output.GetSpan(text.Length);
        var written = Encoding.ASCII.GetBytes(text, span);
        output.Advance(written);
    }
}

/// <summary>The parts of a hub protocol record the lean client reads.</summary>
internal struct LeanRecord
{
    public int Type { get; set; }
    public string? InvocationId { get; set; }
    public string? Target { get; set; }
    public string? Error { get; set; }

    /// <summary>Where the <c>message</c> field of a <c>ReceiveMessage</c> argument lies in the record, when it needed no unescaping.</summary>
    public Range? MessageRange { get; set; }

    /// <summary>The <c>message</c> field, unescaped, when it held escapes.</summary>
    public byte[]? EscapedMessage { get; set; }

    /// <summary>The <c>message</c> text of a delivery in <paramref name="record"/>, or empty when there is none.</summary>
    public readonly ReadOnlySpan<byte> MessageIn(ReadOnlySpan<byte> record) =>
        EscapedMessage is { } escaped ? escaped : MessageRange is { } range ? record[range] : default;

    public readonly bool HasMessage => EscapedMessage is not null || MessageRange is not null;
}
