namespace RoomHub.Contracts;

/// <summary>
/// Stable codes in every error the server reports to a client: a SignalR <c>HubException</c> message contains
/// <c>"CODE: text"</c> after SignalR's own words (see <see cref="IRoomHub"/>), and a legacy error frame carries the code
/// in its <c>code</c> field.
/// </summary>
public static class RoomErrorCodes
{
    /// <summary>The room name is missing, empty, too long, or contains control characters.</summary>
    public const string InvalidRoom = "INVALID_ROOM";

    /// <summary>The message text is missing.</summary>
    public const string InvalidMessage = "INVALID_MESSAGE";

    /// <summary>The message text is longer than the server's limit.</summary>
    public const string MessageTooLarge = "MESSAGE_TOO_LARGE";

    /// <summary>An argument other than the room or message is not acceptable (for example a history limit below 1 or a malformed message id).</summary>
    public const string InvalidArgument = "INVALID_ARGUMENT";

    /// <summary>The server could not reach its store (history, presence or sessions); nothing was changed. Retrying later is safe.</summary>
    public const string Unavailable = "UNAVAILABLE";

    /// <summary>
    /// The server could not accept the message (for example, its store is unavailable). If its store or publish timed
    /// out on a stalled Redis, that may still take place when Redis wakes: the message then shows in history, or even
    /// reaches the room. Retrying is safe, and may store it twice.
    /// </summary>
    public const string SendFailed = "SEND_FAILED";

    /// <summary>The caller may not join or send to this room (room rules), or is not authenticated where the room requires it.</summary>
    public const string Forbidden = "FORBIDDEN";

    /// <summary>The connection sent or (un)subscribed faster than its rate limit allows. Nothing was done; slow down and retry.</summary>
    public const string RateLimited = "RATE_LIMITED";

    /// <summary>The connection is already in as many rooms as the server allows. Leave one first.</summary>
    public const string TooManyRooms = "TOO_MANY_ROOMS";

    /// <summary>The instance has as many sends under way as it takes at once; nothing was stored or delivered. Retry after a short pause.</summary>
    public const string Overloaded = "OVERLOADED";
}
