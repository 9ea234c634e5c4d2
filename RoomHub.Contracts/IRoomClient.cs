namespace RoomHub.Contracts;

/// <summary>The methods the server invokes on a connected client.</summary>
public interface IRoomClient
{
    /// <summary>A message was sent to a room the client is a member of.</summary>
    /// <param name="message">The message, as accepted by the server.</param>
    Task ReceiveMessage(RoomMessage message);
}
