using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Protocol;
using Microsoft.Extensions.Options;
using RoomHub.Contracts;
using RoomHub.Server.Internal;

namespace RoomHub.Tests;

/// <summary>
/// The size an answer is announced with, against the bytes each protocol really writes for it: never less (the rest
/// would count against a full queue's allowance), and not much more (the surplus would pass for later writes).
/// </summary>
public sealed class AnswerSizeTests
{
    public static TheoryData<string> Texts => new()
    {
        "plain ascii text, the usual case",
        "<b>html & \"quotes\"</b> + 'apostrophes' `ticks` \\ backslash",
        "Привет, мир! Кириллица целиком",
        "日本語のテキスト、全部三バイト",
        "emoji 🎉🚀 and a family 👨‍👩‍👧",
        "control\u0001chars\ttab\nnewline",
        new string('é', 5000) + new string('x', 5000),
    };

    private static RoomMessage[] Answer(string text) =>
        [.. Enumerable.Range(0, 20).Select(i => new RoomMessage($"1763900000000-{i}", "room-ü<&>", text, DateTimeOffset.UnixEpoch.AddDays(i)))];

    [Theory]
    [MemberData(nameof(Texts))]
    public void SignalRJsonAnswersAreAnnouncedAtLeastAsLargeAsWrittenAndWithinTheirEnvelopes(string text) =>
        AssertClose(new JsonHubProtocol(), TextEncoding.Json, text);

    [Theory]
    [MemberData(nameof(Texts))]
    public void MessagePackAnswersAreAnnouncedAtLeastAsLargeAsWrittenAndWithinTheirEnvelopes(string text) =>
        AssertClose(new MessagePackHubProtocol(Options.Create(new MessagePackHubProtocolOptions())), TextEncoding.Utf8, text);

    [Fact]
    public void EachProtocolIsMatchedToTheWayItWritesText()
    {
        Assert.Equal(TextEncoding.Json, AnswerSize.EncodingOf(new JsonHubProtocol().Name));
        Assert.Equal(TextEncoding.Utf8, AnswerSize.EncodingOf(new MessagePackHubProtocol().Name));
        Assert.Equal(TextEncoding.Json, AnswerSize.EncodingOf(Server.Internal.Legacy.LegacyHubProtocol.BareName));
        Assert.Equal(TextEncoding.Json, AnswerSize.EncodingOf(null));
    }

    [Theory]
    [MemberData(nameof(Texts))]
    public void LegacyTextIsCountedAsTheRelaxedEncoderWritesIt(string text)
    {
        var written = System.Text.Json.JsonSerializer.Serialize(text, new System.Text.Json.JsonSerializerOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
        var bytes = System.Text.Encoding.UTF8.GetByteCount(written) - 2; // without its quotes

        Assert.Equal(bytes, AnswerSize.Of(text, TextEncoding.Json));
    }

    [Fact]
    public void TheNewestMessagesThatFitAreKeptAndTheNewestAlways()
    {
        var answer = Answer("text");
        AnswerSize.NewestWithin(answer[..1], TextEncoding.Json, long.MaxValue, out var each);

        Assert.Equal(17, AnswerSize.NewestWithin(answer, TextEncoding.Json, (3 * each) + 1, out var bytes));
        Assert.Equal(3 * each, bytes);
        Assert.Equal(0, AnswerSize.NewestWithin(answer, TextEncoding.Json, long.MaxValue, out _));
        Assert.Equal(19, AnswerSize.NewestWithin(answer, TextEncoding.Json, 1, out bytes));
        Assert.Equal(each, bytes);
        Assert.Equal(0, AnswerSize.NewestWithin([], TextEncoding.Json, 1, out bytes));
        Assert.Equal(0, bytes);
    }

    private static void AssertClose(IHubProtocol protocol, TextEncoding encoding, string text)
    {
        var answer = Answer(text);
        var written = protocol.GetMessageBytes(CompletionMessage.WithResult("1", answer)).Length;
        Assert.Equal(0, AnswerSize.NewestWithin(answer, encoding, long.MaxValue, out var announced));

        Assert.InRange(announced, written, written + (answer.Length * 128));
    }
}
