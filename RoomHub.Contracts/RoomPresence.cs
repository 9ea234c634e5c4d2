namespace RoomHub.Contracts;

/// <summary>Who is in a room, across every server instance.</summary>
/// <param name="Room">The room.</param>
/// <param name="Connections">How many connections are members.</param>
/// <param name="Users">The distinct authenticated users among them (anonymous connections count only as connections).</param>
public sealed record RoomPresence(string Room, int Connections, IReadOnlyList<string> Users);

/// <summary>A member joining or leaving a room.</summary>
/// <param name="Room">The room.</param>
/// <param name="ConnectionId">An opaque id of the member's connection.</param>
/// <param name="User">The member's user id, or <see langword="null"/> for an anonymous connection.</param>
public sealed record RoomMember(string Room, string ConnectionId, string? User);
