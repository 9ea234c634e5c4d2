using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Runtime.ExceptionServices;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Protocol;
using RoomHub.Contracts;

namespace RoomHub.Server.Internal.Legacy;

internal enum LegacyFormat
{
    /// <summary>Deliveries are the bare message text, as the replaced servers send them.</summary>
    Bare,

    /// <summary>Deliveries are <c>{"type":"MESSAGE",…}</c> envelopes with id and time.</summary>
    Envelope,
}

/// <summary>
/// The legacy raw-JSON protocol as a SignalR hub protocol, so that a raw WebSocket client is an ordinary connection of
/// the rooms hub, and a room message is serialized to the legacy format once per message (SignalR caches the bytes
/// per protocol, and the Redis backplane carries them), not once per recipient.
/// <code>
/// Wire format inside the in-process pipes, in both directions: records of
///   [int32 little-endian length][payload]
/// pump → hub: payload = one client frame, as received (parsed here, once, by LegacyFrameCodec)
/// hub → pump: payload = one text frame to send as it is; a record of length 0 is never written
/// A room-message delivery sets the top bit of the length, so the pump can count deliveries without parsing them.
/// </code>
/// Invocation ids carry what the answer needs: <c>"!" + code + "|" + text</c> for a frame the codec refused (SignalR
/// answers it with an error completion, which becomes an ERROR frame), a kind letter and a counter otherwise.
/// A room message's latency is recorded where it is serialized: once per message, protocol and instance, as its first
/// member's write asks for the bytes (SignalR's connections are metered the same way, by <see cref="DeliveryMeter"/>).
/// </summary>
internal sealed class LegacyHubProtocol(LegacyFormat format, RoomHubTelemetry? telemetry = null) : IHubProtocol
{
    public const string BareName = "roomhub-legacy";
    public const string EnvelopeName = "roomhub-legacy-envelope";

    /// <summary>The length prefix of every record between a legacy session and the hub.</summary>
    public const int RecordPrefixBytes = sizeof(int);

    private const int HeaderLength = RecordPrefixBytes;
    private const int DeliveryFlag = unchecked((int)0x80000000);
    private const string RefusedPrefix = "!";
    private const string HubExceptionMarker = "HubException: ";
    private const char HistoryKind = 'H';
    private const char ResumeKind = 'R';

    private static long _invocationCounter;

    public string Name { get; } = format == LegacyFormat.Bare ? BareName : EnvelopeName;

    public int Version => 1;

    public TransferFormat TransferFormat => TransferFormat.Binary;

    public LegacyFormat Format => format;

    public bool IsVersionSupported(int version) => version == Version;

    public bool TryParseMessage(ref ReadOnlySequence<byte> input, IInvocationBinder binder, [NotNullWhen(true)] out HubMessage? message)
    {
        message = null;
        if (!TryReadRecord(ref input, out var payload))
        {
            return false;
        }

        var command = payload.IsSingleSegment ? LegacyFrameCodec.Parse(payload.FirstSpan) : LegacyFrameCodec.Parse(payload.ToArray());
        if (command.RefusedSend)
        {
            telemetry?.Rejected(command.ErrorCode!);
        }

        message = ToHubMessage(command);
        return true;
    }

    private static HubMessage ToHubMessage(in LegacyCommand command)
    {
        switch (command.Kind)
        {
            case LegacyCommandKind.Subscribe:
                return new InvocationMessage(NextId('S'), nameof(IRoomHub.Subscribe), [command.Room]);
            case LegacyCommandKind.Unsubscribe:
                return new InvocationMessage(NextId('U'), nameof(IRoomHub.Unsubscribe), [command.Room]);
            case LegacyCommandKind.SendMessage:
                return new InvocationMessage(NextId('M'), nameof(IRoomHub.SendMessage), [command.Room, command.Message]);
            case LegacyCommandKind.History:
                return new InvocationMessage(NextId(HistoryKind, command.Room), nameof(IRoomHub.GetHistory), [command.Room, command.Limit]);
            case LegacyCommandKind.Resume:
                return new InvocationMessage(NextId(ResumeKind, command.Room), nameof(IRoomHub.Resume), [command.Room, command.LastId]);
            case LegacyCommandKind.Presence:
                return new InvocationMessage(NextId('P'), nameof(IRoomHub.GetPresence), [command.Room]);
            default:
                var id = string.Concat(RefusedPrefix, command.ErrorCode, "|", command.ErrorText);
                return new InvocationBindingFailureMessage(id, "frame", ExceptionDispatchInfo.Capture(new InvalidDataException(command.ErrorText)));
        }
    }

    private static string NextId(char kind) =>
        string.Create(CultureInfo.InvariantCulture, $"{kind}{Interlocked.Increment(ref _invocationCounter)}");

    /// <summary>Answers that must name their room carry it in the id: <c>{kind}{counter}|{room}</c>.</summary>
    private static string NextId(char kind, string? room) => string.Concat(NextId(kind), "|", room);

    private static string RoomOf(string invocationId) => invocationId[(invocationId.IndexOf('|', StringComparison.Ordinal) + 1)..];

    public void WriteMessage(HubMessage message, IBufferWriter<byte> output)
    {
        Security.IAnswerWriter.MarkIfAnswer(message, output);
        switch (message)
        {
            case InvocationMessage { Target: nameof(IRoomClient.ReceiveMessage), Arguments: [RoomMessage roomMessage] }:
                telemetry?.Latency(ConnectionRegistry.Legacy, roomMessage.SentAt);
                if (format == LegacyFormat.Bare)
                {
                    WriteBareRecord(roomMessage, output);
                }
                else
                {
                    var scratch = Scratch;
                    scratch.ResetWrittenCount();
                    LegacyFrameCodec.WriteEnvelope(scratch, roomMessage);
                    WriteDeliveryHeader(output, scratch.WrittenCount);
                    output.Write(scratch.WrittenSpan);
                }

                break;
            case CompletionMessage { InvocationId: { } id } completion when id.StartsWith(RefusedPrefix, StringComparison.Ordinal):
                var separator = id.IndexOf('|', StringComparison.Ordinal);
                WriteError(output, id[1..separator], id[(separator + 1)..]);
                break;
            case CompletionMessage { Error: { } error }:
                var (code, text) = SplitError(error);
                WriteError(output, code, text);
                break;
            case CompletionMessage { InvocationId: { } id, Result: IReadOnlyList<RoomMessage> messages } when id[0] == HistoryKind:
                WriteRecord(output, (RoomOf(id), messages), static (writer, h) => LegacyFrameCodec.WriteHistory(writer, h.Item1, h.messages));
                break;
            case CompletionMessage { InvocationId: { } id, Result: ResumeResult resumed } when id[0] == ResumeKind:
                WriteRecord(output, (RoomOf(id), resumed), static (writer, r) => LegacyFrameCodec.WriteResume(writer, r.Item1, r.resumed));
                break;
            case CompletionMessage { Result: RoomPresence presence }:
                WriteRecord(output, presence, static (writer, p) => LegacyFrameCodec.WritePresence(writer, p));
                break;
            case InvocationMessage { Target: nameof(IRoomClient.MemberJoined) or nameof(IRoomClient.MemberLeft), Arguments: [RoomMember member] } invocation when format == LegacyFormat.Envelope:
                var joined = invocation.Target == nameof(IRoomClient.MemberJoined);
                WriteRecord(output, (member, joined), static (writer, m) => LegacyFrameCodec.WriteMember(writer, m.member, m.joined));
                break;
            case CloseMessage { Error: { } closeError } when closeError.Contains(HubExceptionMarker, StringComparison.Ordinal):
                var (closeCode, closeText) = SplitError(closeError);
                WriteError(output, closeCode, closeText);
                break;
        }

        // Everything else (successful completions, pings, close messages) has no legacy frame: legacy clients get no acks.
    }

    /// <summary>
    /// A message's bytes that SignalR keeps (once per message sent to a group, for every instance's members): written
    /// into a buffer of this thread's and copied out at their exact size, one array per message.
    /// </summary>
    public ReadOnlyMemory<byte> GetMessageBytes(HubMessage message)
    {
        var buffer = t_messageBytes ??= new ArrayBufferWriter<byte>(1024);
        buffer.ResetWrittenCount();
        WriteMessage(message, buffer);
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>Splits a SignalR error text (<c>"… HubException: CODE: text"</c>) into the code and text of an ERROR frame.</summary>
    internal static (string Code, string Text) SplitError(string error)
    {
        var marker = error.IndexOf(HubExceptionMarker, StringComparison.Ordinal);
        var detail = marker < 0 ? error : error[(marker + HubExceptionMarker.Length)..];
        var colon = detail.IndexOf(": ", StringComparison.Ordinal);
        if (marker >= 0 && colon > 0 && detail.AsSpan(0, colon).IndexOfAnyExcept("ABCDEFGHIJKLMNOPQRSTUVWXYZ_") < 0)
        {
            return (detail[..colon], detail[(colon + 2)..]);
        }

        return (LegacyErrorCodes.ServerError, "The server could not handle the frame.");
    }

    private static void WriteError(IBufferWriter<byte> output, string code, string text) =>
        WriteRecord(output, (code, text), static (writer, e) => LegacyFrameCodec.WriteError(writer, e.code, e.text));

    private static void WriteBareRecord(RoomMessage message, IBufferWriter<byte> output)
    {
        WriteDeliveryHeader(output, System.Text.Encoding.UTF8.GetByteCount(message.Message));
        System.Text.EncodingExtensions.GetBytes(System.Text.Encoding.UTF8, message.Message, output);
    }

    private static void WriteDeliveryHeader(IBufferWriter<byte> output, int length)
    {
        BinaryPrimitives.WriteInt32LittleEndian(output.GetSpan(HeaderLength), length | DeliveryFlag);
        output.Advance(HeaderLength);
    }

    private static void WriteRecord<T>(IBufferWriter<byte> output, T state, Action<IBufferWriter<byte>, T> write)
    {
        var scratch = Scratch;
        scratch.ResetWrittenCount();
        write(scratch, state);
        WriteRecord(output, scratch.WrittenSpan);
    }

    /// <summary>Writes one record; the pump uses it for client frames, and the tests to build input.</summary>
    public static void WriteRecord(IBufferWriter<byte> output, ReadOnlySpan<byte> payload)
    {
        var span = output.GetSpan(HeaderLength + payload.Length);
        BinaryPrimitives.WriteInt32LittleEndian(span, payload.Length);
        payload.CopyTo(span[HeaderLength..]);
        output.Advance(HeaderLength + payload.Length);
    }

    /// <summary>Takes one whole record off the front of <paramref name="input"/>, if there is one.</summary>
    public static bool TryReadRecord(ref ReadOnlySequence<byte> input, out ReadOnlySequence<byte> payload) =>
        TryReadRecord(ref input, out payload, out _);

    /// <summary>As above; <paramref name="delivery"/> says whether the record is a room message's delivery.</summary>
    public static bool TryReadRecord(ref ReadOnlySequence<byte> input, out ReadOnlySequence<byte> payload, out bool delivery)
    {
        payload = default;
        delivery = false;
        if (input.Length < HeaderLength)
        {
            return false;
        }

        Span<byte> header = stackalloc byte[HeaderLength];
        input.Slice(0, HeaderLength).CopyTo(header);
        var length = RecordLength(header, out delivery);
        if (input.Length - HeaderLength < length)
        {
            return false;
        }

        payload = input.Slice(HeaderLength, length);
        input = input.Slice(payload.End);
        return true;
    }

    /// <summary>As above, for records in one piece (what the hub writes with one call), without a sequence's slicing.</summary>
    public static bool TryReadRecord(ref ReadOnlySpan<byte> input, out ReadOnlySpan<byte> payload, out bool delivery)
    {
        payload = default;
        delivery = false;
        if (input.Length < HeaderLength)
        {
            return false;
        }

        var length = RecordLength(input, out delivery);
        if (input.Length - HeaderLength < length)
        {
            return false;
        }

        payload = input.Slice(HeaderLength, length);
        input = input[(HeaderLength + length)..];
        return true;
    }

    /// <summary>A record's payload length, from its header; <paramref name="delivery"/>: the record is a room message's delivery.</summary>
    private static int RecordLength(ReadOnlySpan<byte> header, out bool delivery)
    {
        var length = BinaryPrimitives.ReadInt32LittleEndian(header);
        delivery = (length & DeliveryFlag) != 0;
        return length & ~DeliveryFlag;
    }

    [ThreadStatic]
    private static ArrayBufferWriter<byte>? _scratch;

    [ThreadStatic]
    private static ArrayBufferWriter<byte>? t_messageBytes;

    private static ArrayBufferWriter<byte> Scratch => _scratch ??= new ArrayBufferWriter<byte>(1024);
}
