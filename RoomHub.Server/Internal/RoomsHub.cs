using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Protocol;
using RoomHub.Contracts;

namespace RoomHub.Server.Internal;

/// <summary>The SignalR face of <see cref="RoomCore"/>; it holds no rule of its own.</summary>
internal sealed class RoomsHub(RoomCore core) : Hub<IRoomClient>, IRoomHub
{
    public override async Task OnConnectedAsync()
    {
        if (Context.Features.Get<IHubProtocol>() is Legacy.LegacyHubProtocol && ConnectionRegistry.TransportOf(Context.Features) != ConnectionRegistry.Legacy)
        {
            // The legacy endpoint's own protocols, asked for on the hub's URL: they are not offered there (only JSON and
            // MessagePack are), and the handshake has already been answered, so the connection is cut.
            Context.Abort();
            return;
        }

        var session = Context.Features.Get<WebSockets.WebSocketConnectionContext>() is { } legacy
            ? legacy.Session
            : Context.GetHttpContext() is { } http ? RoomCore.SessionOf(http) : null;
        try
        {
            await core.ConnectedAsync(Context.ConnectionId, Context.User, Context.UserIdentifier, Context.Features, session, Context.ConnectionAborted);
        }
        catch (RoomHubException ex) when (ex.Code == RoomErrorCodes.Unavailable)
        {
            // The session's rooms could not be restored (Redis is away). Refusing or closing the connection would tell
            // SignalR clients not to reconnect; cutting it, as a network failure would, makes them (and legacy clients
            // that retry) come back and try again.
            Security.ConnectionCut.CutSocket(Context.Features, "The session could not be restored.");
            Context.Abort();
        }
        catch
        {
            // SignalR does not call OnDisconnectedAsync for a connection whose OnConnectedAsync failed (one that went
            // away during its session's restore, say): what was registered for it is released here.
            await core.DisconnectedAsync(Context.ConnectionId);
            throw;
        }
    }

    public override Task OnDisconnectedAsync(Exception? exception) => core.DisconnectedAsync(Context.ConnectionId);

    public Task Subscribe(string room) => core.SubscribeAsync(Context.ConnectionId, room, Context.ConnectionAborted);

    public Task Unsubscribe(string room) => core.UnsubscribeAsync(Context.ConnectionId, room, Context.ConnectionAborted);

    public Task<string> SendMessage(string roomId, string message) => core.PublishAsync(Context.ConnectionId, Context.User, roomId, message, Context.ConnectionAborted);

    public Task<IReadOnlyList<RoomMessage>> GetHistory(string room, int limit) => core.GetHistoryAsync(Context.ConnectionId, Context.User, room, limit, Context.ConnectionAborted);

    public Task<ResumeResult> Resume(string room, string lastId) => core.ResumeAsync(Context.ConnectionId, room, lastId, Context.ConnectionAborted);

    public Task<RoomPresence> GetPresence(string room) => core.GetPresenceAsync(Context.ConnectionId, Context.User, room, Context.ConnectionAborted);
}
