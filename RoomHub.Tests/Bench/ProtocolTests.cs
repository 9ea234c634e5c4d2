using System.Buffers;
using System.Text;
using RoomHub.Bench.Clients;

namespace RoomHub.Tests.Bench;

public sealed class LeanProtocolTests
{
    [Fact]
    public void InvocationIsAJsonRecordEndingWithTheSeparator()
    {
        var output = new ArrayBufferWriter<byte>();
        LeanProtocol.WriteInvocation(output, 7, "SendMessage", "room1", "s1:2:3:xx"u8);

        Assert.Equal("{\"type\":1,\"invocationId\":\"7\",\"target\":\"SendMessage\",\"arguments\":[\"room1\",\"s1:2:3:xx\"]}\u001e", Encoding.UTF8.GetString(output.WrittenSpan));
    }

    [Fact]
    public void InvocationWithoutTextHasOneArgument()
    {
        var output = new ArrayBufferWriter<byte>();
        LeanProtocol.WriteInvocation(output, 1, "Subscribe", "r", default);

        Assert.EndsWith("\"arguments\":[\"r\"]}\u001e", Encoding.UTF8.GetString(output.WrittenSpan), StringComparison.Ordinal);
    }

    [Fact]
    public void RecordsAreSplitAtTheSeparatorAndAPartialRecordIsLeft()
    {
        ReadOnlySpan<byte> data = "{\"type\":6}\u001e{\"type\":3,\"invocationId\":\"1\"}\u001e{\"ty"u8;

        Assert.True(LeanProtocol.TryReadRecord(ref data, out var first));
        Assert.True(LeanProtocol.TryReadRecord(ref data, out var second));
        Assert.False(LeanProtocol.TryReadRecord(ref data, out _));

        Assert.Equal(6, LeanProtocol.Parse(first).Type);
        Assert.Equal("1", LeanProtocol.Parse(second).InvocationId);
        Assert.Equal("{\"ty", Encoding.UTF8.GetString(data));
    }

    [Fact]
    public void DeliveryRecordYieldsTheMessageText()
    {
        var record = "{\"type\":1,\"target\":\"ReceiveMessage\",\"arguments\":[{\"id\":\"1-0\",\"room\":\"r\",\"message\":\"s1:2:3:xx\",\"sentAt\":\"2026-01-01T00:00:00+00:00\"}]}"u8;

        var parsed = LeanProtocol.Parse(record);

        Assert.Equal(1, parsed.Type);
        Assert.Equal("ReceiveMessage", parsed.Target);
        Assert.Equal("s1:2:3:xx", Encoding.UTF8.GetString(parsed.MessageIn(record)));
    }

    [Theory]
    [InlineData("{\"type\":1,\"target\":\"ReceiveMessage\",\"arguments\":[{\"id\":\"1-0\",\"room\":\"r\",\"message\":\"s1:2:3:xx\",\"sentAt\":\"t\"}]}")]
    [InlineData("{\"type\":1,\"target\":\"ReceiveMessage\",\"arguments\":[{\"id\":\"1-0\",\"room\":\"\\\"message\\\":\\\"\",\"message\":\"m\",\"sentAt\":\"t\"}]}")]
    [InlineData("{\"type\":1,\"target\":\"ReceiveMessage\",\"arguments\":[{\"id\":\"1\",\"room\":\"r\",\"message\":\"a\\\"b\",\"sentAt\":\"x\"}]}")]
    [InlineData("{\"type\":1,\"target\":\"MemberJoined\",\"arguments\":[{\"room\":\"r\",\"message\":\"not a delivery\"}]}")]
    [InlineData("{\"type\":3,\"invocationId\":\"4\",\"result\":\"1-0\"}")]
    public void TheDeliveryShortcutReadsWhatTheJsonReaderReads(string text)
    {
        var record = Encoding.UTF8.GetBytes(text);

        var quick = LeanProtocol.Parse(record);
        var full = LeanProtocol.ParseJson(record);

        Assert.Equal(full.Type, quick.Type);
        Assert.Equal(full.HasMessage, quick.HasMessage);
        Assert.Equal(Encoding.UTF8.GetString(full.MessageIn(record)), Encoding.UTF8.GetString(quick.MessageIn(record)));
    }

    [Fact]
    public void EscapedMessageTextIsUnescaped()
    {
        var record = "{\"type\":1,\"target\":\"ReceiveMessage\",\"arguments\":[{\"id\":\"1\",\"room\":\"r\",\"message\":\"a\\\"b\",\"sentAt\":\"x\"}]}"u8;

        Assert.Equal("a\"b", Encoding.UTF8.GetString(LeanProtocol.Parse(record).MessageIn(record)));
    }

    [Fact]
    public void CompletionErrorIsRead()
    {
        var parsed = LeanProtocol.Parse("{\"type\":3,\"invocationId\":\"9\",\"error\":\"INVALID_ROOM: no\"}"u8);

        Assert.Equal(3, parsed.Type);
        Assert.Equal("INVALID_ROOM: no", parsed.Error);
        Assert.False(parsed.HasMessage);
    }
}

public sealed class LegacyProtocolTests
{
    [Fact]
    public void FramesFollowTheLegacyProtocol()
    {
        var output = new ArrayBufferWriter<byte>();
        LegacyProtocol.WriteSubscribe(output, "r");
        Assert.Equal("{\"type\":\"SUBSCRIBE\",\"room\":\"r\"}", Encoding.UTF8.GetString(output.WrittenSpan));

        output.ResetWrittenCount();
        LegacyProtocol.WriteSend(output, "r", "hi"u8);
        Assert.Equal("{\"type\":\"SEND_MESSAGE\",\"roomId\":\"r\",\"message\":\"hi\"}", Encoding.UTF8.GetString(output.WrittenSpan));
    }

    [Fact]
    public void ServerSideParsingReadsTypeRoomAndMessage()
    {
        Assert.True(LegacyProtocol.TryParseCommand("{\"type\":\"SEND_MESSAGE\",\"roomId\":\"r\",\"message\":\"a\\nb\"}"u8, out var type, out var room, out var message));
        Assert.Equal(("SEND_MESSAGE", "r", "a\nb"), (type, room, Encoding.UTF8.GetString(message!)));

        Assert.True(LegacyProtocol.TryParseCommand("{\"room\":\"q\",\"extra\":{\"x\":[1]},\"type\":\"SUBSCRIBE\"}"u8, out type, out room, out _));
        Assert.Equal(("SUBSCRIBE", "q"), (type, room));
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("[1,2]")]
    [InlineData("{\"room\":\"r\"}")]
    public void AnythingElseIsRefused(string frame) => Assert.False(LegacyProtocol.TryParseCommand(Encoding.UTF8.GetBytes(frame), out _, out _, out _));
}
