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
/// the reason only when it is a <see cref="HubException"/>. A refused send is counted as a rejected message.
/// </summary>
internal sealed class ArgumentCheckingProtocol(IHubProtocol inner, RoomHubTelemetry telemetry) : IHubProtocol
{
    public string Name => inner.Name;

    public int Version => inner.Version;

    public TransferFormat TransferFormat => inner.TransferFormat;

    public bool IsVersionSupported(int version) => inner.IsVersionSupported(version);

    public ReadOnlyMemory<byte> GetMessageBytes(HubMessage message) => inner.GetMessageBytes(message);

    public void WriteMessage(HubMessage message, IBufferWriter<byte> output) => inner.WriteMessage(message, output);

    public bool TryParseMessage(ref ReadOnlySequence<byte> input, IInvocationBinder binder, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out HubMessage? message)
    {
        if (!inner.TryParseMessage(ref input, binder, out message))
        {
            return false;
        }

        if (message is InvocationBindingFailureMessage failure)
        {
            if (failure.Target == nameof(IRoomHub.SendMessage))
            {
                telemetry.Rejected(RoomErrorCodes.InvalidArgument); // Counted as every other refused send is.
            }

            message = new InvocationBindingFailureMessage(failure.InvocationId, failure.Target, ExceptionDispatchInfo.Capture(Refusal(failure.Target, binder)));
        }

        return true;
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
