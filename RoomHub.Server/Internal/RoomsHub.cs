using Microsoft.AspNetCore.SignalR;
using RoomHub.Contracts;

namespace RoomHub.Server.Internal;

/// <summary>The SignalR face of <see cref="RoomCore"/>; it holds no rule of its own.</summary>
internal sealed class RoomsHub(RoomCore core, ConnectionRegistry connections) : Hub<IRoomClient>, IRoomHub
{
    public override Task OnConnectedAsync()
    {
        connections.Add(Context.ConnectionId, Context.Features);
        return Task.CompletedTask;
    }

    public override Task OnDisconnectedAsync(Exception? exception)
    {
        connections.Remove(Context.ConnectionId);
        return Task.CompletedTask;
    }

    public Task Subscribe(string room) => core.SubscribeAsync(Context.ConnectionId, Context.User, room, Context.ConnectionAborted);

    public Task Unsubscribe(string room) => core.UnsubscribeAsync(Context.ConnectionId, room, Context.ConnectionAborted);

    public Task<string> SendMessage(string roomId, string message) => core.PublishAsync(Context.User, roomId, message, Context.ConnectionAborted);
}
