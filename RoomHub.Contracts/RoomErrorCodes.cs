namespace RoomHub.Contracts;

/// <summary>
/// Stable codes at the start of every error the server reports to a client: a SignalR <c>HubException</c>
/// message reads <c>"CODE: text"</c>, and a legacy error frame carries the code in its <c>code</c> field.
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

    /// <summary>The server could not accept the message (for example, its store is unavailable). Nothing was delivered; retrying is safe.</summary>
    public const string SendFailed = "SEND_FAILED";
}
