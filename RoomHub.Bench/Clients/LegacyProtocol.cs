using System.Buffers;
using System.Text;
using System.Text.Json;

namespace RoomHub.Bench.Clients;

/// <summary>
/// The legacy raw-JSON WebSocket protocol of the server RoomHub replaces: one JSON object per text frame from the
/// client, and each delivery is a text frame holding nothing but the message text.
/// <code>
/// → {"type":"SUBSCRIBE","room":"r"}
/// → {"type":"UNSUBSCRIBE","room":"r"}
/// → {"type":"SEND_MESSAGE","roomId":"r","message":"text"}
/// ← text                       (a delivery: the bare message)
/// </code>
/// </summary>
internal static class LegacyProtocol
{
    public static void WriteSubscribe(IBufferWriter<byte> output, string room)
    {
        Write(output, "{\"type\":\"SUBSCRIBE\",\"room\":\""u8);
        WriteAscii(output, room);
        Write(output, "\"}"u8);
    }

    public static void WriteSend(IBufferWriter<byte> output, string room, ReadOnlySpan<byte> text)
    {
        Write(output, "{\"type\":\"SEND_MESSAGE\",\"roomId\":\""u8);
        WriteAscii(output, room);
        Write(output, "\",\"message\":\""u8);
        Write(output, text);
        Write(output, "\"}"u8);
    }

    /// <summary>A client frame as a server reads it: its type, room (<c>room</c> or <c>roomId</c>) and message text.</summary>
    public static bool TryParseCommand(ReadOnlySpan<byte> frame, out string? type, out string? room, out byte[]? message)
    {
        type = room = null;
        message = null;
        try
        {
            var reader = new Utf8JsonReader(frame);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return false;
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("type"u8))
                {
                    reader.Read();
                    type = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
                }
                else if (reader.ValueTextEquals("room"u8) || reader.ValueTextEquals("roomId"u8))
                {
                    reader.Read();
                    room = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
                }
                else if (reader.ValueTextEquals("message"u8))
                {
                    reader.Read();
                    if (reader.TokenType == JsonTokenType.String)
                    {
                        message = reader.ValueIsEscaped ? Encoding.UTF8.GetBytes(reader.GetString() ?? "") : reader.ValueSpan.ToArray();
                    }
                }
                else
                {
                    reader.Read();
                    reader.Skip();
                }
            }

            return type is not null;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private static void Write(IBufferWriter<byte> output, ReadOnlySpan<byte> bytes)
    {
        bytes.CopyTo(output.GetSpan(bytes.Length));
        output.Advance(bytes.Length);
    }

    private static void WriteAscii(IBufferWriter<byte> output, string text)
    {
        var written = Encoding.ASCII.GetBytes(text, output.GetSpan(text.Length));
        output.Advance(written);
    }
}
