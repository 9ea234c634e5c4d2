using System.Security.Claims;
using Microsoft.AspNetCore.SignalR;
using RoomHub.Contracts;
using RoomHub.Server.Internal.Security;

namespace RoomHub.Server.Internal;

/// <summary>
/// The semantic core: what it means to join, leave and send to a room. The SignalR hub calls it, and the legacy
/// raw-WebSocket endpoint reaches it through that same hub, so both transports follow one set of rules.
/// Delivery goes through the hub lifetime manager: in memory on a single instance, over the Redis backplane otherwise.
/// </summary>
internal sealed partial class RoomCore(
    IHubContext<RoomsHub, IRoomClient> hub,
    RoomRules rules,
    MessageIdGenerator ids,
    TimeProvider time,
    RoomHubTelemetry telemetry,
    RoomAuthorizer authorizer,
    ILogger<RoomCore> logger)
{
    public Task SubscribeAsync(string connectionId, ClaimsPrincipal? user, string? room, CancellationToken cancellationToken)
    {
        var name = RoomRules.ValidateRoom(room);
        authorizer.Authorize(user, name, RoomActions.Subscribe);
        return hub.Groups.AddToGroupAsync(connectionId, name, cancellationToken);
    }

    public Task UnsubscribeAsync(string connectionId, string? room, CancellationToken cancellationToken)
    {
        var name = RoomRules.ValidateRoom(room);
        return hub.Groups.RemoveFromGroupAsync(connectionId, name, cancellationToken);
    }

    public async Task<string> PublishAsync(ClaimsPrincipal? user, string? room, string? message, CancellationToken cancellationToken)
    {
        string name, text;
        try
        {
            name = RoomRules.ValidateRoom(room);
            text = rules.ValidateMessage(message);
            authorizer.Authorize(user, name, RoomActions.Publish);
        }
        catch (HubException)
        {
            telemetry.MessagesRejected.Add(1);
            throw;
        }

        var roomMessage = new RoomMessage(ids.Next(), name, text, time.GetUtcNow());
        try
        {
            await hub.Clients.Group(name).ReceiveMessage(roomMessage).WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            telemetry.MessagesRejected.Add(1);
            LogPublishFailed(logger, name, ex);
            throw RoomRules.Error(RoomErrorCodes.SendFailed, "The message could not be published; nothing was delivered. Retry later.");
        }

        telemetry.MessagesPublished.Add(1);
        return roomMessage.Id;
    }

    [LoggerMessage(2001, LogLevel.Warning, "Publishing to room {Room} failed.")]
    private static partial void LogPublishFailed(ILogger logger, string room, Exception exception);
}
