namespace RoomHub.Contracts;

/// <summary>
/// The methods a client may invoke on the RoomHub hub at <see cref="RoomHubPaths.Hub"/>.
/// A failed call raises a <c>HubException</c> whose message contains one of the <see cref="RoomErrorCodes"/>
/// followed by <c>": "</c> and a human-readable text. SignalR puts its own words before them, e.g.
/// <c>"An unexpected error occurred invoking 'Subscribe' on the server. RoomHubException: INVALID_ROOM: A room name is
/// required."</c>: look for <c>"CODE: "</c> in the message, not at its start.
/// </summary>
public interface IRoomHub
{
    /// <summary>Joins <paramref name="room"/>. Joining a room twice is harmless: messages arrive once.</summary>
    /// <param name="room">The room name; see <see cref="RoomLimits"/> for the rules.</param>
    Task Subscribe(string room);

    /// <summary>Leaves <paramref name="room"/>. Leaving a room the connection is not in is harmless.</summary>
    /// <param name="room">The room name.</param>
    Task Unsubscribe(string room);

    /// <summary>
    /// Delivers <paramref name="message"/> to every member of <paramref name="roomId"/> on every server instance.
    /// The sender need not be a member of the room.
    /// </summary>
    /// <param name="roomId">The room name.</param>
    /// <param name="message">The message text, at most the configured limit in UTF-8 bytes (<see cref="RoomLimits.DefaultMaxMessageBytes"/> by default).</param>
    /// <returns>The id the server gave the message; it is also the <see cref="RoomMessage.Id"/> every member receives.</returns>
    Task<string> SendMessage(string roomId, string message);

    /// <summary>
    /// The latest messages of a room, oldest first, from the room's history: at most <paramref name="limit"/>, and the
    /// newest of them that fit in one answer (the server's <c>History:MaxAnswerBytes</c>, 1 MiB by default; always one).
    /// </summary>
    /// <param name="room">The room name.</param>
    /// <param name="limit">How many messages at most (1 to the configured history length; larger values are capped).</param>
    Task<IReadOnlyList<RoomMessage>> GetHistory(string room, int limit);

    /// <summary>
    /// Joins <paramref name="room"/> and returns every message sent to it after <paramref name="lastId"/>, and those
    /// accepted in the few seconds before it (<paramref name="lastId"/>'s own included): members may receive a room's
    /// messages out of id order, so a client holding <paramref name="lastId"/> may lack one just before it. Drop the
    /// ones you have, by id. Together with the live messages that follow, nothing is missing: a message may arrive both
    /// in the result and live (with the same id), never in neither. Unless <see cref="ResumeResult.Recovered"/> is
    /// false: history no longer reaches back to <paramref name="lastId"/>, or what came since is more than one answer
    /// holds (then the newest that fit are returned), and the client should reload its state.
    /// </summary>
    /// <param name="room">The room name.</param>
    /// <param name="lastId">The id of the last message the client has; empty for "everything history keeps".</param>
    Task<ResumeResult> Resume(string room, string lastId);

    /// <summary>Who is in a room right now, counted across every server instance.</summary>
    /// <param name="room">The room name.</param>
    Task<RoomPresence> GetPresence(string room);
}
