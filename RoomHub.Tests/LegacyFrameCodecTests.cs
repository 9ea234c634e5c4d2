using System.Buffers;
using System.Text;
using System.Text.Json.Nodes;
using RoomHub.Contracts;
using RoomHub.Server.Internal.Legacy;

namespace RoomHub.Tests;

public sealed class LegacyFrameCodecTests
{
    private static LegacyCommand Parse(string frame) => LegacyFrameCodec.Parse(Encoding.UTF8.GetBytes(frame));

    [Fact]
    public void SubscribeNamesItsRoom()
    {
        Assert.Equal(new LegacyCommand(LegacyCommandKind.Subscribe, "room1", null, null, null), Parse("""{"type":"SUBSCRIBE","room":"room1"}"""));
    }

    [Fact]
    public void UnsubscribeNamesItsRoom()
    {
        Assert.Equal(new LegacyCommand(LegacyCommandKind.Unsubscribe, "room1", null, null, null), Parse("""{"type":"UNSUBSCRIBE","room":"room1"}"""));
    }

    [Fact]
    public void SendMessageUsesRoomId()
    {
        var command = Parse("""{"type":"SEND_MESSAGE","roomId":"room1","message":"Hello, World!"}""");

        Assert.Equal((LegacyCommandKind.SendMessage, "room1", "Hello, World!"), (command.Kind, command.Room, command.Message));
    }

    [Fact]
    public void SendMessageAcceptsRoomWhenRoomIdIsAbsentAndPrefersRoomId()
    {
        Assert.Equal("a", Parse("""{"type":"SEND_MESSAGE","room":"a","message":"m"}""").Room);
        Assert.Equal("b", Parse("""{"type":"SEND_MESSAGE","room":"a","roomId":"b","message":"m"}""").Room);
    }

    [Fact]
    public void PropertyOrderAndUnknownPropertiesDoNotMatter()
    {
        var command = Parse("""{"extra":{"deep":[1,2,{"x":null}]},"message":"hi","roomId":"r","type":"SEND_MESSAGE","n":3}""");

        Assert.Equal((LegacyCommandKind.SendMessage, "r", "hi"), (command.Kind, command.Room, command.Message));
    }

    [Fact]
    public void EscapedStringsAreUnescaped()
    {
        var command = Parse("""{"type":"SEND_MESSAGE","roomId":"r\u00e9","message":"line\nbreak \"quoted\" \ud83d\ude00"}""");

        Assert.Equal("ré", command.Room);
        Assert.Equal("line\nbreak \"quoted\" 😀", command.Message);
    }

    [Theory]
    [InlineData("42", "42")]
    [InlineData("-1.5e3", "-1.5e3")]
    [InlineData("true", "true")]
    [InlineData("false", "false")]
    [InlineData("""{"a":[1,"b"]}""", """{"a":[1,"b"]}""")]
    [InlineData("""[1, 2]""", """[1, 2]""")]
    public void NonStringMessageIsCarriedAsItsJsonText(string json, string expected)
    {
        var command = Parse($$"""{"type":"SEND_MESSAGE","roomId":"r","message":{{json}}}""");

        Assert.False(command.IsError);
        Assert.Equal(expected, command.Message);
    }

    [Theory]
    [InlineData("{", LegacyErrorCodes.InvalidJson)]
    [InlineData("not json", LegacyErrorCodes.InvalidJson)]
    [InlineData("", LegacyErrorCodes.InvalidJson)]
    [InlineData("""{"type":"SUBSCRIBE","room":"r"} {}""", LegacyErrorCodes.InvalidJson)]
    [InlineData("""{"type":"SUBSCRIBE","room":"r",}""", LegacyErrorCodes.InvalidJson)]
    [InlineData("""{"type":'SUBSCRIBE'}""", LegacyErrorCodes.InvalidJson)]
    [InlineData("null", LegacyErrorCodes.InvalidFrame)]
    [InlineData("[]", LegacyErrorCodes.InvalidFrame)]
    [InlineData("\"SUBSCRIBE\"", LegacyErrorCodes.InvalidFrame)]
    [InlineData("17", LegacyErrorCodes.InvalidFrame)]
    [InlineData("{}", LegacyErrorCodes.UnknownType)]
    [InlineData("""{"room":"r"}""", LegacyErrorCodes.UnknownType)]
    [InlineData("""{"type":null,"room":"r"}""", LegacyErrorCodes.UnknownType)]
    [InlineData("""{"type":7,"room":"r"}""", LegacyErrorCodes.UnknownType)]
    [InlineData("""{"type":"subscribe","room":"r"}""", LegacyErrorCodes.UnknownType)]
    [InlineData("""{"type":"DELETE_EVERYTHING"}""", LegacyErrorCodes.UnknownType)]
    [InlineData("""{"type":"SUBSCRIBE"}""", RoomErrorCodes.InvalidRoom)]
    [InlineData("""{"type":"SUBSCRIBE","room":null}""", RoomErrorCodes.InvalidRoom)]
    [InlineData("""{"type":"SUBSCRIBE","room":5}""", RoomErrorCodes.InvalidRoom)]
    [InlineData("""{"type":"SUBSCRIBE","room":{"name":"r"}}""", RoomErrorCodes.InvalidRoom)]
    [InlineData("""{"type":"UNSUBSCRIBE"}""", RoomErrorCodes.InvalidRoom)]
    [InlineData("""{"type":"UNSUBSCRIBE","room":["r"]}""", RoomErrorCodes.InvalidRoom)]
    [InlineData("""{"type":"SEND_MESSAGE","message":"m"}""", RoomErrorCodes.InvalidRoom)]
    [InlineData("""{"type":"SEND_MESSAGE","roomId":false,"message":"m"}""", RoomErrorCodes.InvalidRoom)]
    [InlineData("""{"type":"SEND_MESSAGE","roomId":"r"}""", RoomErrorCodes.InvalidMessage)]
    [InlineData("""{"type":"SEND_MESSAGE","roomId":"r","message":null}""", RoomErrorCodes.InvalidMessage)]
    public void BadFrameIsAnsweredWithItsErrorCode(string frame, string code)
    {
        var command = Parse(frame);

        Assert.True(command.IsError);
        Assert.Equal(LegacyCommandKind.Invalid, command.Kind);
        Assert.Equal(code, command.ErrorCode);
        Assert.False(string.IsNullOrWhiteSpace(command.ErrorText));
    }

    [Fact]
    public void DeeplyNestedMessageIsCarriedNotOverflowed()
    {
        var deep = string.Concat(Enumerable.Repeat("[", 100_000)) + string.Concat(Enumerable.Repeat("]", 100_000));

        Assert.Equal(deep, Parse($$"""{"type":"SEND_MESSAGE","roomId":"r","message":{{deep}}}""").Message);
        Assert.Equal(LegacyErrorCodes.InvalidJson, Parse($$"""{"type":"SEND_MESSAGE","roomId":"r","message":{{deep[..^1]}}}""").ErrorCode);
    }

    [Theory]
    [InlineData("50", 50)]
    [InlineData("100.0", 100)]
    [InlineData("1e3", 1000)]
    [InlineData("2147483648", int.MaxValue)]
    [InlineData("1e400", int.MaxValue)]
    [InlineData("1.5e1", 15)]
    [InlineData("1E+2", 100)]
    [InlineData("1000e-3", 1)]
    [InlineData("0.00001e5", 1)]
    [InlineData("2147483647", int.MaxValue)]
    [InlineData("99999999999", int.MaxValue)]
    [InlineData("1e0000000000000000000000000002", 100)]
    [InlineData("100e-0000000000000000000000000002", 1)]
    [InlineData("1e1234567890123456789", int.MaxValue)]
    public void HistoryLimitIsAnyJsonSpellingOfAWholeNumber(string limit, int expected)
    {
        var command = Parse($$"""{"type":"HISTORY","room":"r","limit":{{limit}}}""");

        Assert.Equal((LegacyCommandKind.History, expected), (command.Kind, command.Limit));
    }

    [Theory]
    [InlineData("0")]
    [InlineData("-1")]
    [InlineData("1.5")]
    [InlineData("0.5")]
    [InlineData("0.99999999999999999999")]
    [InlineData("1.0000000000000001")]
    [InlineData("15e-1")]
    [InlineData("-1e400")]
    [InlineData("1e-400")]
    [InlineData("1e-1234567890123456789")]
    [InlineData("-1e1234567890123456789")]
    [InlineData("-0.0")]
    [InlineData("\"5\"")]
    [InlineData("null")]
    public void HistoryLimitThatIsNotAWholeNumberOfAtLeastOneIsRefused(string limit)
    {
        Assert.Equal(RoomErrorCodes.InvalidArgument, Parse($$"""{"type":"HISTORY","room":"r","limit":{{limit}}}""").ErrorCode);
    }

    [Fact]
    public void AHistoryLimitWithAnExponentOfHundredsOfThousandsOfDigitsIsReadAsItsSizeSays()
    {
        // Read from the exponent's length once it is past what any count of digits in a frame could offset.
        var huge = new string('7', 390_000);

        Assert.Equal(int.MaxValue, Parse($$"""{"type":"HISTORY","room":"r","limit":1e{{huge}}}""").Limit);
        Assert.Equal(RoomErrorCodes.InvalidArgument, Parse($$"""{"type":"HISTORY","room":"r","limit":1e-{{huge}}}""").ErrorCode);
    }

    [Theory]
    [InlineData("""{"type":"SEND_MESSAGE","roomId":"r","message":"half \ud800 a pair"}""")]
    [InlineData("""{"type":"SEND_MESSAGE","roomId":"r","message":{"k":"\ud800"}}""")]
    [InlineData("""{"type":"SEND_MESSAGE","roomId":"r","message":[1,{"\udc00":2}]}""")]
    [InlineData("""{"type":"PRESENCE","room":"r","x":"\ud800"}""")]
    [InlineData("""{"type":"PRESENCE","room":"r","x":{"y":["\udfff"]}}""")]
    [InlineData("""{"type":"PRESENCE","room":"r","\udc00":1}""")]
    [InlineData("""{"type":"PRESENCE","room":"r","x\udc00":1}""")]
    [InlineData("""{"x\ud800y":1,"type":"PRESENCE","room":"r"}""")]
    [InlineData("""["\ud800"]""")]
    public void AnUnpairedSurrogateEscapeAnywhereInTheFrameIsInvalidJsonAndSaysSo(string frame)
    {
        var command = Parse(frame);

        Assert.Equal(LegacyErrorCodes.InvalidJson, command.ErrorCode);
        Assert.Contains("surrogate", command.ErrorText, StringComparison.Ordinal);
    }

    [Fact]
    public void EscapedTextInsideObjectMessagesAndUnknownPropertiesIsFine()
    {
        var command = Parse("""{"type":"SEND_MESSAGE","roomId":"r","x":"\u00e9\ud83d\ude00","message":{"k\u00e9":["\ud83d\ude00\n"]}}""");

        Assert.Null(command.ErrorCode);
        Assert.Equal("""{"k\u00e9":["\ud83d\ude00\n"]}""", command.Message);
    }

    [Fact]
    public void InvalidUtf8InsideAStringIsInvalidJson()
    {
        var frame = Encoding.UTF8.GetBytes("""{"type":"SUBSCRIBE","room":"xx"}""");
        frame[29] = 0xC3;
        frame[30] = 0x28;

        Assert.Equal(LegacyErrorCodes.InvalidJson, LegacyFrameCodec.Parse(frame).ErrorCode);
    }

    [Fact]
    public void ErrorFrameHasTypeCodeAndMessage()
    {
        var buffer = new ArrayBufferWriter<byte>();
        LegacyFrameCodec.WriteError(buffer, "INVALID_ROOM", "A \"room\" is required.");

        var json = JsonNode.Parse(buffer.WrittenSpan)!.AsObject();
        Assert.Equal("ERROR", (string?)json["type"]);
        Assert.Equal("INVALID_ROOM", (string?)json["code"]);
        Assert.Equal("A \"room\" is required.", (string?)json["message"]);
    }

    [Fact]
    public void EnvelopeCarriesRoomMessageIdAndTime()
    {
        var buffer = new ArrayBufferWriter<byte>();
        var sentAt = new DateTimeOffset(2026, 11, 23, 10, 0, 0, TimeSpan.Zero);
        LegacyFrameCodec.WriteEnvelope(buffer, new RoomMessage("1-0", "room1", "Hello <\"world\">", sentAt));

        var json = JsonNode.Parse(buffer.WrittenSpan)!.AsObject();
        Assert.Equal("MESSAGE", (string?)json["type"]);
        Assert.Equal("room1", (string?)json["room"]);
        Assert.Equal("Hello <\"world\">", (string?)json["message"]);
        Assert.Equal("1-0", (string?)json["id"]);
        Assert.Equal(sentAt, DateTimeOffset.Parse((string)json["sentAt"]!, System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    public void FramesEscapeOnlyWhatJsonRequires()
    {
        var buffer = new ArrayBufferWriter<byte>();
        LegacyFrameCodec.WriteEnvelope(buffer, new RoomMessage("1-0", "r", "<b>&'é中\"\\\n\u0001", DateTimeOffset.UnixEpoch));

        var frame = Encoding.UTF8.GetString(buffer.WrittenSpan);
        Assert.Contains("""
            "message":"<b>&'é中\"\\\n\u0001"
            """, frame, StringComparison.Ordinal);
    }
}
