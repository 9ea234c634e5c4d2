using System.Buffers;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using RoomHub.Contracts;

namespace RoomHub.Server.Internal.Legacy;

/// <summary>
/// Reads and writes the frames of the legacy raw-JSON WebSocket protocol. Pure: no sockets, no state.
/// <code>
/// client → server (one JSON object per text frame):
///   {"type":"SUBSCRIBE","room":"room1"}
///   {"type":"UNSUBSCRIBE","room":"room1"}
///   {"type":"SEND_MESSAGE","roomId":"room1","message":"Hello"}      ("room" is accepted in place of "roomId")
///   {"type":"HISTORY","room":"room1","limit":50}                    (limit optional, default 100)
///   {"type":"RESUME","room":"room1","lastId":"1763900000000-0"}     (joins the room; lastId optional)
///   {"type":"PRESENCE","room":"room1"}
/// server → client:
///   Hello                                                           (bare mode: the message text, nothing else)
///   {"type":"MESSAGE","room":"room1","message":"Hello","id":"…","sentAt":"…"}   (envelope mode, ?format=envelope)
///   {"type":"ERROR","code":"INVALID_ROOM","message":"A room name is required."}
///   {"type":"HISTORY","room":"room1","messages":[{"id","room","message","sentAt"},…]}
///   {"type":"RESUME","room":"room1","recovered":true,"messages":[…]}
///   {"type":"PRESENCE","room":"room1","connections":3,"users":["alice"]}
///   {"type":"MEMBER_JOINED"|"MEMBER_LEFT","room":"room1","connectionId":"…","user":null}   (envelope mode only)
/// </code>
/// A <c>message</c> that is a JSON number, boolean, object or array is delivered as its JSON text.
/// Unknown properties are ignored; when a property appears twice, the last one counts.
/// </summary>
internal static class LegacyFrameCodec
{
    public const int DefaultHistoryLimit = 100;
    private const string KnownTypes = "SUBSCRIBE, UNSUBSCRIBE, SEND_MESSAGE, HISTORY, RESUME or PRESENCE";

    /// <summary>
    /// Escapes what JSON requires (quotes, backslashes, control characters) and, unlike the default, leaves HTML-sensitive
    /// and non-ASCII text as it is, as the replaced servers' <c>JSON.stringify</c> did: frames are read by programs, never
    /// embedded in a page, and a message escaped six bytes a character would outgrow the connection's outbound queue.
    /// </summary>
    private static readonly JsonWriterOptions WriterOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static LegacyCommand Parse(ReadOnlySpan<byte> frame)
    {
        try
        {
            return ParseCore(frame);
        }
        catch (JsonException)
        {
            return LegacyCommand.Error(LegacyErrorCodes.InvalidJson, "The frame is not valid JSON.");
        }
        catch (InvalidOperationException)
        {
            // Utf8JsonReader reports this way invalid UTF-8 inside a string, and an escaped surrogate without its pair
            // ("\ud800" alone), which no UTF-8 text can carry on to the room's members.
            return LegacyCommand.Error(LegacyErrorCodes.InvalidJson, "The frame is not valid JSON, or a string in it holds an unpaired surrogate escape such as \"\\ud800\".");
        }
    }

    private static LegacyCommand ParseCore(ReadOnlySpan<byte> frame)
    {
        // Nesting is bounded by the frame's size alone (the reader keeps one bit per level, never recursing): any JSON the
        // replaced servers parsed is read, however deep a message object nests.
        var reader = new Utf8JsonReader(frame, new JsonReaderOptions { MaxDepth = Math.Max(64, frame.Length), CommentHandling = JsonCommentHandling.Disallow });
        if (!reader.Read())
        {
            return LegacyCommand.Error(LegacyErrorCodes.InvalidJson, "The frame is empty.");
        }

        if (reader.TokenType != JsonTokenType.StartObject)
        {
            SkipChecked(ref reader);
            EnsureEnd(ref reader);
            return LegacyCommand.Error(LegacyErrorCodes.InvalidFrame, "A frame must be a JSON object with a \"type\".");
        }

        Field type = default, room = default, roomId = default, message = default, limit = default, lastId = default;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var name = reader.ValueTextEquals("type"u8) ? 1
                : reader.ValueTextEquals("room"u8) ? 2
                : reader.ValueTextEquals("roomId"u8) ? 3
                : reader.ValueTextEquals("message"u8) ? 4
                : reader.ValueTextEquals("limit"u8) ? 5
                : reader.ValueTextEquals("lastId"u8) ? 6
                : 0;
            if (name == 0)
            {
                CheckEscapes(ref reader); // A name that is none of these may still escape half a surrogate pair.
            }

            reader.Read();
            switch (name)
            {
                case 1: type = ReadField(ref reader, frame); break;
                case 2: room = ReadField(ref reader, frame); break;
                case 3: roomId = ReadField(ref reader, frame); break;
                case 4: message = ReadField(ref reader, frame); break;
                case 5: limit = ReadField(ref reader, frame); break;
                case 6: lastId = ReadField(ref reader, frame); break;
                default: SkipChecked(ref reader); break;
            }
        }

        EnsureEnd(ref reader);

        if (type.Kind != JsonValueKind.String)
        {
            return LegacyCommand.Error(LegacyErrorCodes.UnknownType, type.Kind == JsonValueKind.Undefined
                ? $"The frame has no \"type\"; expected {KnownTypes}."
                : $"\"type\" must be a string: {KnownTypes}.");
        }

        return type.Text switch
        {
            "SUBSCRIBE" => RoomCommand(LegacyCommandKind.Subscribe, room, "room"),
            "UNSUBSCRIBE" => RoomCommand(LegacyCommandKind.Unsubscribe, room, "room"),
            "SEND_MESSAGE" => SendCommand(roomId.Kind == JsonValueKind.Undefined ? room : roomId, message),
            "HISTORY" => HistoryCommand(room, limit),
            "RESUME" => ResumeCommand(room, lastId),
            "PRESENCE" => RoomCommand(LegacyCommandKind.Presence, room, "room"),
            _ => LegacyCommand.Error(LegacyErrorCodes.UnknownType, $"Unknown type \"{Truncate(type.Text!)}\"; expected {KnownTypes}."),
        };
    }

    private static LegacyCommand RoomCommand(LegacyCommandKind kind, Field room, string property) =>
        room.Kind == JsonValueKind.String
            ? new LegacyCommand(kind, room.Text, null, null, null)
            : LegacyCommand.Error(RoomErrorCodes.InvalidRoom, room.Kind == JsonValueKind.Undefined
                ? $"The frame has no \"{property}\"."
                : $"\"{property}\" must be a string.");

    private static LegacyCommand SendCommand(Field room, Field message)
    {
        var command = RoomCommand(LegacyCommandKind.SendMessage, room, "roomId");
        if (command.IsError)
        {
            return command with { RefusedSend = true };
        }

        return message.Kind switch
        {
            JsonValueKind.Undefined => LegacyCommand.Error(RoomErrorCodes.InvalidMessage, "The frame has no \"message\".") with { RefusedSend = true },
            JsonValueKind.Null => LegacyCommand.Error(RoomErrorCodes.InvalidMessage, "\"message\" must not be null.") with { RefusedSend = true },
            _ => command with { Message = message.Text },
        };
    }

    private static LegacyCommand HistoryCommand(Field room, Field limit)
    {
        var command = RoomCommand(LegacyCommandKind.History, room, "room");
        if (command.IsError || limit.Kind == JsonValueKind.Undefined)
        {
            return command with { Limit = DefaultHistoryLimit };
        }

        // Any JSON spelling of a whole number counts (100, 100.0, 1e2); one past what history keeps is capped there later.
        return limit.Kind == JsonValueKind.Number && WholeNumber(limit.Text!) is >= 1 and var value
            ? command with { Limit = value }
            : LegacyCommand.Error(Contracts.RoomErrorCodes.InvalidArgument, "\"limit\" must be a whole number of at least 1.");
    }

    /// <summary>
    /// The value of a JSON number's text if it is a whole number, read exactly from its digits (a double would take
    /// 0.99999999999999999999 for 1), capped at <see cref="int.MaxValue"/>; null if it has a fractional part.
    /// </summary>
    internal static int? WholeNumber(string text)
    {
        // An exponent of any length is read in time linear in its digits: past 15 significant digits it is larger than
        // any frame's count of digits, so the value is a fraction or too large for any limit, whatever its exact size.
        // JSON's grammar, already checked by the reader: -? int (. frac)? ([eE] [+-]? exp)?
        var exponentAt = text.IndexOfAny(['e', 'E']);
        var mantissa = exponentAt < 0 ? text : text[..exponentAt];
        var negative = mantissa.StartsWith('-');
        var point = mantissa.IndexOf('.');
        var digits = (point < 0 ? mantissa : mantissa.Remove(point, 1)).TrimStart('-').TrimStart('0');
        var scale = point < 0 ? 0 : mantissa.Length - point - 1;
        if (digits.Length == 0)
        {
            return 0;
        }

        // value = digits × 10^(exponent − scale), with an exponent of any size.
        var trimmed = digits.TrimEnd('0');
        var power = Exponent(text.AsSpan(exponentAt < 0 ? text.Length : exponentAt + 1)) - scale + (digits.Length - trimmed.Length);
        if (power < 0)
        {
            return null;
        }

        if (negative)
        {
            return -1;
        }

        // At least trimmed.Length + power digits: more than int holds is capped.
        return trimmed.Length + power > 10 ? int.MaxValue : (int)long.Min(int.MaxValue, long.Parse(trimmed, System.Globalization.CultureInfo.InvariantCulture) * (long)Math.Pow(10, (int)power));
    }

    /// <summary>A JSON number's exponent digits (after the <c>e</c>; empty: none), clamped to ±10^15.</summary>
    private static long Exponent(ReadOnlySpan<char> text)
    {
        var negative = text.Length > 0 && text[0] == '-';
        if (text.Length > 0 && text[0] is '-' or '+')
        {
            text = text[1..];
        }

        text = text.TrimStart('0');
        var magnitude = text.Length == 0 ? 0 : text.Length > 15 ? 1_000_000_000_000_000 : long.Parse(text, System.Globalization.CultureInfo.InvariantCulture);
        return negative ? -magnitude : magnitude;
    }

    private static LegacyCommand ResumeCommand(Field room, Field lastId)
    {
        var command = RoomCommand(LegacyCommandKind.Resume, room, "room");
        return command.IsError || lastId.Kind is JsonValueKind.Undefined or JsonValueKind.Null or JsonValueKind.String
            ? command with { LastId = lastId.Text ?? "" }
            : LegacyCommand.Error(Contracts.RoomErrorCodes.InvalidArgument, "\"lastId\" must be a message id string.");
    }

    /// <summary>A string's value, or the JSON text of any other value (which is how non-string messages are delivered).</summary>
    private static Field ReadField(ref Utf8JsonReader reader, ReadOnlySpan<byte> frame)
    {
        switch (reader.TokenType)
        {
            case JsonTokenType.String:
                return new Field(JsonValueKind.String, reader.GetString());
            case JsonTokenType.Null:
                return new Field(JsonValueKind.Null, null);
            case JsonTokenType.StartObject or JsonTokenType.StartArray:
                var start = (int)reader.TokenStartIndex;
                var kind = reader.TokenType == JsonTokenType.StartObject ? JsonValueKind.Object : JsonValueKind.Array;
                SkipChecked(ref reader);
                return new Field(kind, Encoding.UTF8.GetString(frame[start..(int)reader.BytesConsumed]));
            default:
                var raw = reader.HasValueSequence ? reader.ValueSequence.ToArray() : reader.ValueSpan.ToArray();
                return new Field(reader.TokenType == JsonTokenType.Number ? JsonValueKind.Number : JsonValueKind.True, Encoding.UTF8.GetString(raw)); // true or false: the kind only needs to say "not a string"
        }
    }

    /// <summary>
    /// Skips the current value, as <see cref="Utf8JsonReader.Skip"/> does, but decodes every escaped string and property
    /// name in it, so that an unpaired surrogate escape is refused wherever it is (an unknown property, an object
    /// message), as it is in the fields that are read.
    /// </summary>
    private static void SkipChecked(ref Utf8JsonReader reader)
    {
        if (reader.TokenType is not (JsonTokenType.StartObject or JsonTokenType.StartArray))
        {
            CheckEscapes(ref reader);
            return;
        }

        var depth = reader.CurrentDepth;
        while (reader.Read() && reader.CurrentDepth > depth)
        {
            CheckEscapes(ref reader);
        }
    }

    /// <summary>Throws <see cref="InvalidOperationException"/>, as the fields read do, for a string that escapes half a surrogate pair.</summary>
    private static void CheckEscapes(ref Utf8JsonReader reader)
    {
        if (reader.TokenType is JsonTokenType.String or JsonTokenType.PropertyName && reader.ValueIsEscaped)
        {
            _ = reader.GetString();
        }
    }

    private static void EnsureEnd(ref Utf8JsonReader reader)
    {
        // Anything after the first value (e.g. two objects in one frame) makes the frame invalid JSON.
        if (reader.Read())
        {
            throw new JsonException("Trailing data after the JSON value.");
        }
    }

    private static string Truncate(string value) => value.Length <= 32 ? value : value[..32] + "…";

    public static void WriteError(IBufferWriter<byte> output, string code, string message)
    {
        using var writer = new Utf8JsonWriter(output, WriterOptions);
        writer.WriteStartObject();
        writer.WriteString("type"u8, "ERROR"u8);
        writer.WriteString("code"u8, code);
        writer.WriteString("message"u8, message);
        writer.WriteEndObject();
    }

    public static void WriteEnvelope(IBufferWriter<byte> output, RoomMessage message)
    {
        using var writer = new Utf8JsonWriter(output, WriterOptions);
        WriteMessage(writer, message, "MESSAGE"u8);
    }

    public static void WriteHistory(IBufferWriter<byte> output, string room, IReadOnlyList<RoomMessage> messages)
    {
        using var writer = new Utf8JsonWriter(output, WriterOptions);
        writer.WriteStartObject();
        writer.WriteString("type"u8, "HISTORY"u8);
        writer.WriteString("room"u8, room);
        WriteMessages(writer, messages);
        writer.WriteEndObject();
    }

    public static void WriteResume(IBufferWriter<byte> output, string room, ResumeResult result)
    {
        using var writer = new Utf8JsonWriter(output, WriterOptions);
        writer.WriteStartObject();
        writer.WriteString("type"u8, "RESUME"u8);
        writer.WriteString("room"u8, room);
        writer.WriteBoolean("recovered"u8, result.Recovered);
        WriteMessages(writer, result.Messages);
        writer.WriteEndObject();
    }

    public static void WritePresence(IBufferWriter<byte> output, RoomPresence presence)
    {
        using var writer = new Utf8JsonWriter(output, WriterOptions);
        writer.WriteStartObject();
        writer.WriteString("type"u8, "PRESENCE"u8);
        writer.WriteString("room"u8, presence.Room);
        writer.WriteNumber("connections"u8, presence.Connections);
        writer.WriteStartArray("users"u8);
        foreach (var user in presence.Users)
        {
            writer.WriteStringValue(user);
        }

        writer.WriteEndArray();
        writer.WriteEndObject();
    }

    public static void WriteMember(IBufferWriter<byte> output, RoomMember member, bool joined)
    {
        using var writer = new Utf8JsonWriter(output, WriterOptions);
        writer.WriteStartObject();
        writer.WriteString("type"u8, joined ? "MEMBER_JOINED"u8 : "MEMBER_LEFT"u8);
        writer.WriteString("room"u8, member.Room);
        writer.WriteString("connectionId"u8, member.ConnectionId);
        writer.WriteString("user"u8, member.User);
        writer.WriteEndObject();
    }

    private static void WriteMessages(Utf8JsonWriter writer, IReadOnlyList<RoomMessage> messages)
    {
        writer.WriteStartArray("messages"u8);
        foreach (var message in messages)
        {
            WriteMessage(writer, message, default);
        }

        writer.WriteEndArray();
    }

    private static void WriteMessage(Utf8JsonWriter writer, RoomMessage message, ReadOnlySpan<byte> type)
    {
        writer.WriteStartObject();
        if (!type.IsEmpty)
        {
            writer.WriteString("type"u8, type);
        }

        writer.WriteString("room"u8, message.Room);
        writer.WriteString("message"u8, message.Message);
        writer.WriteString("id"u8, message.Id);
        writer.WriteString("sentAt"u8, message.SentAt);
        writer.WriteEndObject();
    }

    private readonly record struct Field(JsonValueKind Kind, string? Text);
}
