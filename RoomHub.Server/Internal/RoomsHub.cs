using Microsoft.AspNetCore.SignalR;
using RoomHub.Contracts;

namespace RoomHub.Server.Internal;

/// <summary>The SignalR face of <see cref="RoomCore"/>; it holds no rule of its own.</summary>
internal sealed class RoomsHub(RoomCore core) : Hub<IRoomClient>, IRoomHub
{
    public Task Subscribe(string room) => core.SubscribeAsync(Context.ConnectionId, room, Context.ConnectionAborted);

    public Task Unsubscribe(string room) => core.UnsubscribeAsync(Context.ConnectionId, room, Context.ConnectionAborted);

    public Task<string> SendMessage(string roomId, string message) => core.PublishAsync(roomId, message, Context.ConnectionAborted);
}
