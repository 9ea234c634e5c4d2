using System.Buffers;
using System.Runtime.ExceptionServices;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Protocol;
using RoomHub.Contracts;

namespace RoomHub.Server.Internal;

/// <summary>
/// A SignalR hub protocol (JSON, MessagePack) whose calls with arguments that do not bind (a wrong type, a wrong count,
/// an unknown method) are refused with <c>INVALID_ARGUMENT</c> and what the method takes, like every other refusal.
/// SignalR refuses them before the hub, with only "Failed to invoke ... due to an error on the server", and passes on
/// the reason only when it is a <see cref="HubException"/>. So are calls made as streams (the hub has no streaming
/// method) or with streams as arguments (none of its methods takes one), which SignalR refuses without a code. A
/// refused send is counted as a rejected message.
/// </summary>
/// <remarks>
/// A whole frame of a message type the protocol does not know (a newer client's) is skipped, as SignalR's protocols
/// mean it to be. The protocols consume it and answer that there is no message; SignalR's reader, which bounds each
/// message's size, takes that answer for an incomplete frame and parses the same frame again on every read, so nothing
/// the client sent after it would ever be handled. It is handed on as a ping, which the hub ignores.
/// The hub's own size bound leaves room for the legacy endpoint's record prefix (see <see cref="RoomHubExtensions"/>), so
/// a SignalR message is held to <c>MaxReceiveMessageSize</c> here, exactly, as SignalR holds it to its bound: a larger
/// one closes the connection.
/// </remarks>
internal sealed class ArgumentCheckingProtocol(IHubProtocol inner, RoomHubTelemetry telemetry, long maxMessageBytes) : IHubProtocol
{
    public string Name => inner.Name;

    public int Version => inner.Version;

    public TransferFormat TransferFormat => inner.TransferFormat;

    public bool IsVersionSupported(int version) => inner.IsVersionSupported(version);

    public ReadOnlyMemory<byte> GetMessageBytes(HubMessage message) => inner.GetMessageBytes(message);

    public void WriteMessage(HubMessage message, IBufferWriter<byte> output)
    {
        Security.IAnswerWriter.MarkIfAnswer(message, output);
        inner.WriteMessage(message, output);
    }

    public bool TryParseMessage(ref ReadOnlySequence<byte> input, IInvocationBinder binder, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out HubMessage? message)
    {
        var length = input.Length;
        var parsed = inner.TryParseMessage(ref input, binder, out message);
        if (length - input.Length > maxMessageBytes)
        {
            // SignalR's own words for its bound, which ends the connection the same way.
            throw new InvalidDataException($"The maximum message size of {maxMessageBytes}B was exceeded.");
        }

        if (!parsed || message is null)
        {
            if (input.Length == length)
            {
                return false; // Not yet a whole frame.
            }

            message = PingMessage.Instance;
            return true;
        }

        switch (message)
        {
            case InvocationBindingFailureMessage failure:
                message = Refused(failure.InvocationId, failure.Target, Refusal(failure.Target, binder));
                break;
            case StreamInvocationMessage stream:
                message = Refused(stream.InvocationId, stream.Target, RoomRules.Error(RoomErrorCodes.InvalidArgument, $"{stream.Target} is not a streaming method; invoke it."));
                break;
            case InvocationMessage { StreamIds.Length: > 0 } invocation:
                message = Refused(invocation.InvocationId, invocation.Target, RoomRules.Error(RoomErrorCodes.InvalidArgument, $"{invocation.Target} takes no stream arguments."));
                break;
        }

        return true;
    }

    private InvocationBindingFailureMessage Refused(string? invocationId, string target, RoomHubException refusal)
    {
        if (target == nameof(IRoomHub.SendMessage))
        {
            telemetry.Rejected(RoomErrorCodes.InvalidArgument); // Counted as every other refused send is.
        }

        return new InvocationBindingFailureMessage(invocationId, target, ExceptionDispatchInfo.Capture(refusal));
    }

    private static RoomHubException Refusal(string target, IInvocationBinder binder)
    {
        IReadOnlyList<Type> parameters;
        try
        {
            parameters = binder.GetParameterTypes(target);
        }
        catch (Exception ex) when (ex is HubException or InvalidOperationException)
        {
            return RoomRules.Error(RoomErrorCodes.InvalidArgument, $"There is no hub method '{target}'.");
        }

        return RoomRules.Error(RoomErrorCodes.InvalidArgument, $"The arguments do not match {target}({string.Join(", ", parameters.Select(Describe))}).");
    }

    private static string Describe(Type type) => type == typeof(string) ? "string" : type == typeof(int) ? "int" : type.Name;
}
