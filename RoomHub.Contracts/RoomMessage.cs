namespace RoomHub.Contracts;

/// <summary>
/// A message delivered to the members of a room. With the JSON hub protocol it is serialized as
/// <c>{"id":"…","room":"…","message":"…","sentAt":"2026-01-01T00:00:00+00:00"}</c>.
/// </summary>
/// <param name="Id">The server-assigned message id, unique within the room.</param>
/// <param name="Room">The room the message was sent to.</param>
/// <param name="Message">The message text as the sender sent it.</param>
/// <param name="SentAt">When the server accepted the message.</param>
public sealed record RoomMessage(string Id, string Room, string Message, DateTimeOffset SentAt);
