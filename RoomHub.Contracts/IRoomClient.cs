namespace RoomHub.Contracts;

/// <summary>The methods the server invokes on a connected client.</summary>
public interface IRoomClient
{
    /// <summary>A message was sent to a room the client is a member of.</summary>
    /// <param name="message">The message, as accepted by the server.</param>
    Task ReceiveMessage(RoomMessage message);

    /// <summary>A connection joined a room the client is in (only for rooms the server announces members of).</summary>
    /// <param name="member">Who joined.</param>
    Task MemberJoined(RoomMember member);

    /// <summary>A connection left a room the client is in (only for rooms the server announces members of).</summary>
    /// <param name="member">Who left.</param>
    Task MemberLeft(RoomMember member);
}
