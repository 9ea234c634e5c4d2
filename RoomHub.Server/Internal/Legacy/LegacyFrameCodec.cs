using System.Buffers;
using System.Text;
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
/// server → client:
///   Hello                                                           (bare mode: the message text, nothing else)
///   {"type":"MESSAGE","room":"room1","message":"Hello","id":"…","sentAt":"…"}   (envelope mode, ?format=envelope)
///   {"type":"ERROR","code":"INVALID_ROOM","message":"A room name is required."}
/// </code>
/// A <c>message</c> that is a JSON number, boolean, object or array is delivered as its JSON text.
/// Unknown properties are ignored; when a property appears twice, the last one counts.
/// </summary>
internal static class LegacyFrameCodec
{
    private static readonly JsonReaderOptions ReaderOptions = new() { MaxDepth = 64, CommentHandling = JsonCommentHandling.Disallow };

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
            // Utf8JsonReader reports some malformed input (e.g. invalid UTF-8 inside a string) this way.
            return LegacyCommand.Error(LegacyErrorCodes.InvalidJson, "The frame is not valid JSON.");
        }
    }

    private static LegacyCommand ParseCore(ReadOnlySpan<byte> frame)
    {
        var reader = new Utf8JsonReader(frame, ReaderOptions);
        if (!reader.Read())
        {
            return LegacyCommand.Error(LegacyErrorCodes.InvalidJson, "The frame is empty.");
        }

        if (reader.TokenType != JsonTokenType.StartObject)
        {
            reader.Skip();
            EnsureEnd(ref reader);
            return LegacyCommand.Error(LegacyErrorCodes.InvalidFrame, "A frame must be a JSON object with a \"type\".");
        }

        Field type = default, room = default, roomId = default, message = default;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var name = reader.ValueTextEquals("type"u8) ? 1
                : reader.ValueTextEquals("room"u8) ? 2
                : reader.ValueTextEquals("roomId"u8) ? 3
                : reader.ValueTextEquals("message"u8) ? 4
                : 0;
            reader.Read();
            switch (name)
            {
                case 1: type = ReadField(ref reader, frame); break;
                case 2: room = ReadField(ref reader, frame); break;
                case 3: roomId = ReadField(ref reader, frame); break;
                case 4: message = ReadField(ref reader, frame); break;
                default: reader.Skip(); break;
            }
        }

        EnsureEnd(ref reader);

        if (type.Kind != JsonValueKind.String)
        {
            return LegacyCommand.Error(LegacyErrorCodes.UnknownType, type.Kind == JsonValueKind.Undefined
                ? "The frame has no \"type\"; expected SUBSCRIBE, UNSUBSCRIBE or SEND_MESSAGE."
                : "\"type\" must be a string: SUBSCRIBE, UNSUBSCRIBE or SEND_MESSAGE.");
        }

        return type.Text switch
        {
            "SUBSCRIBE" => RoomCommand(LegacyCommandKind.Subscribe, room, "room"),
            "UNSUBSCRIBE" => RoomCommand(LegacyCommandKind.Unsubscribe, room, "room"),
            "SEND_MESSAGE" => SendCommand(roomId.Kind == JsonValueKind.Undefined ? room : roomId, message),
            _ => LegacyCommand.Error(LegacyErrorCodes.UnknownType, $"Unknown type \"{Truncate(type.Text!)}\"; expected SUBSCRIBE, UNSUBSCRIBE or SEND_MESSAGE."),
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
            return command;
        }

        return message.Kind switch
        {
            JsonValueKind.Undefined => LegacyCommand.Error(RoomErrorCodes.InvalidMessage, "The frame has no \"message\"."),
            JsonValueKind.Null => LegacyCommand.Error(RoomErrorCodes.InvalidMessage, "\"message\" must not be null."),
            _ => command with { Message = message.Text },
        };
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
                reader.Skip();
                return new Field(kind, Encoding.UTF8.GetString(frame[start..(int)reader.BytesConsumed]));
            default:
                var raw = reader.HasValueSequence ? reader.ValueSequence.ToArray() : reader.ValueSpan.ToArray();
                return new Field(reader.TokenType == JsonTokenType.Number ? JsonValueKind.Number : JsonValueKind.True, Encoding.UTF8.GetString(raw)); // true or false: the kind only needs to say "not a string"
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
        using var writer = new Utf8JsonWriter(output);
        writer.WriteStartObject();
        writer.WriteString("type"u8, "ERROR"u8);
        writer.WriteString("code"u8, code);
        writer.WriteString("message"u8, message);
        writer.WriteEndObject();
    }

    public static void WriteEnvelope(IBufferWriter<byte> output, RoomMessage message)
    {
        using var writer = new Utf8JsonWriter(output);
        writer.WriteStartObject();
        writer.WriteString("type"u8, "MESSAGE"u8);
        writer.WriteString("room"u8, message.Room);
        writer.WriteString("message"u8, message.Message);
        writer.WriteString("id"u8, message.Id);
        writer.WriteString("sentAt"u8, message.SentAt);
        writer.WriteEndObject();
    }

    private readonly record struct Field(JsonValueKind Kind, string? Text);
}
