using System.Buffers;
using System.Text;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Protocol;
using RoomHub.Contracts;
using RoomHub.Server.Internal.Legacy;

namespace RoomHub.Tests;

public sealed class LegacyHubProtocolTests
{
    private static readonly LegacyHubProtocol Bare = new(LegacyFormat.Bare);
    private static readonly LegacyHubProtocol Envelope = new(LegacyFormat.Envelope);
    private static readonly RoomMessage Sample = new("5-1", "room1", "Hello, World!", DateTimeOffset.UnixEpoch);

    [Fact]
    public void ClientFramesBecomeHubInvocations()
    {
        var input = Records("""{"type":"SUBSCRIBE","room":"r"}""", """{"type":"SEND_MESSAGE","roomId":"r","message":"m"}""", """{"type":"UNSUBSCRIBE","room":"r"}""");

        var messages = ParseAll(Bare, ref input);

        Assert.True(input.IsEmpty);
        Assert.Collection(messages,
            m => AssertInvocation(m, nameof(IRoomHub.Subscribe), "r"),
            m => AssertInvocation(m, nameof(IRoomHub.SendMessage), "r", "m"),
            m => AssertInvocation(m, nameof(IRoomHub.Unsubscribe), "r"));
        Assert.Equal(3, messages.Select(m => ((InvocationMessage)m).InvocationId).Distinct().Count());
    }

    [Fact]
    public void PartialRecordWaitsForTheRest()
    {
        var whole = Records("""{"type":"SUBSCRIBE","room":"r"}""").ToArray();
        for (var cut = 0; cut < whole.Length; cut++)
        {
            var part = new ReadOnlySequence<byte>(whole, 0, cut);
            Assert.False(Bare.TryParseMessage(ref part, null!, out _));
        }
    }

    [Fact]
    public void RefusedFrameIsAnsweredWithAnErrorFrameCarryingTheCodecsCode()
    {
        var input = Records("""{"type":"SUBSCRIBE"}""");
        var failure = Assert.IsType<InvocationBindingFailureMessage>(Assert.Single(ParseAll(Bare, ref input)));

        // SignalR answers a binding failure with an error completion for the same invocation id.
        var frame = WriteFrame(Bare, CompletionMessage.WithError(failure.InvocationId!, "Failed to invoke 'frame' due to an error on the server."));

        Assert.Equal("""{"type":"ERROR","code":"INVALID_ROOM","message":"The frame has no \"room\"."}""", frame);
    }

    [Fact]
    public void HubExceptionCompletionBecomesAnErrorFrameWithItsCode()
    {
        var error = "An unexpected error occurred invoking 'SendMessage' on the server. HubException: MESSAGE_TOO_LARGE: Messages are at most 10 bytes of UTF-8; this one has 11.";

        var frame = WriteFrame(Envelope, CompletionMessage.WithError("M1", error));

        Assert.Equal("""{"type":"ERROR","code":"MESSAGE_TOO_LARGE","message":"Messages are at most 10 bytes of UTF-8; this one has 11."}""", frame);
    }

    [Fact]
    public void UnexpectedServerErrorBecomesAServerErrorFrameWithoutDetails()
    {
        var frame = WriteFrame(Bare, CompletionMessage.WithError("S1", "An unexpected error occurred invoking 'Subscribe' on the server. NullReferenceException: secret detail"));

        Assert.Equal("""{"type":"ERROR","code":"SERVER_ERROR","message":"The server could not handle the frame."}""", frame);
    }

    [Fact]
    public void SuccessfulCompletionsPingsAndClosesWriteNothing()
    {
        foreach (var message in new HubMessage[] { CompletionMessage.Empty("S1"), CompletionMessage.WithResult("M1", "5-1"), PingMessage.Instance, CloseMessage.Empty })
        {
            Assert.Equal(0, Bare.GetMessageBytes(message).Length);
        }
    }

    [Fact]
    public void BareDeliveryIsTheMessageTextAlone()
    {
        Assert.Equal("Hello, World!", WriteFrame(Bare, new InvocationMessage(nameof(IRoomClient.ReceiveMessage), [Sample])));
    }

    [Fact]
    public void EnvelopeDeliveryCarriesIdRoomAndTime()
    {
        var frame = WriteFrame(Envelope, new InvocationMessage(nameof(IRoomClient.ReceiveMessage), [Sample]));

        Assert.Equal("""{"type":"MESSAGE","room":"room1","message":"Hello, World!","id":"5-1","sentAt":"1970-01-01T00:00:00+00:00"}""", frame);
    }

    [Fact]
    public void ProtocolsHaveDistinctNames()
    {
        Assert.NotEqual(Bare.Name, Envelope.Name);
        Assert.True(Bare.IsVersionSupported(1));
    }

    private static void AssertInvocation(HubMessage message, string target, params string[] arguments)
    {
        var invocation = Assert.IsType<InvocationMessage>(message);
        Assert.Equal(target, invocation.Target);
        Assert.Equal(arguments, invocation.Arguments.Cast<string>());
        Assert.False(string.IsNullOrEmpty(invocation.InvocationId));
    }

    private static List<HubMessage> ParseAll(LegacyHubProtocol protocol, ref ReadOnlySequence<byte> input)
    {
        var messages = new List<HubMessage>();
        while (protocol.TryParseMessage(ref input, null!, out var message))
        {
            messages.Add(message);
        }

        return messages;
    }

    private static ReadOnlySequence<byte> Records(params string[] frames)
    {
        var buffer = new ArrayBufferWriter<byte>();
        foreach (var frame in frames)
        {
            LegacyHubProtocol.WriteRecord(buffer, Encoding.UTF8.GetBytes(frame));
        }

        return new ReadOnlySequence<byte>(buffer.WrittenMemory);
    }

    private static string WriteFrame(LegacyHubProtocol protocol, HubMessage message)
    {
        var bytes = new ReadOnlySequence<byte>(protocol.GetMessageBytes(message));
        Assert.True(LegacyHubProtocol.TryReadRecord(ref bytes, out var payload));
        Assert.True(bytes.IsEmpty);
        return Encoding.UTF8.GetString(payload.ToArray());
    }
}
