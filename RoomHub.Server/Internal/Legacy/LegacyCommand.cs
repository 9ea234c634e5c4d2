namespace RoomHub.Server.Internal.Legacy;

internal enum LegacyCommandKind
{
    Invalid,
    Subscribe,
    Unsubscribe,
    SendMessage,
    History,
    Resume,
    Presence,
}

/// <summary>
/// One legacy client frame, parsed: a command to run through the hub, or the error to answer with
/// (<see cref="ErrorCode"/> set, <see cref="Kind"/> <see cref="LegacyCommandKind.Invalid"/>).
/// </summary>
internal readonly record struct LegacyCommand(LegacyCommandKind Kind, string? Room, string? Message, string? ErrorCode, string? ErrorText)
{
    /// <summary>HISTORY: how many messages (default <see cref="LegacyFrameCodec.DefaultHistoryLimit"/>).</summary>
    public int Limit { get; init; }

    /// <summary>RESUME: the last id the client has (empty: everything history keeps).</summary>
    public string? LastId { get; init; }

    /// <summary>A SEND_MESSAGE refused as it was read: counted with the sends refused by the room rules.</summary>
    public bool RefusedSend { get; init; }

    public static LegacyCommand Error(string code, string text) => new(LegacyCommandKind.Invalid, null, null, code, text);

    public bool IsError => ErrorCode is not null;
}

/// <summary>The codes of legacy error frames; codes shared with SignalR clients come from <c>RoomErrorCodes</c>.</summary>
internal static class LegacyErrorCodes
{
    /// <summary>The frame is not valid JSON (or not valid UTF-8 JSON).</summary>
    public const string InvalidJson = "INVALID_JSON";

    /// <summary>The frame is JSON, but not a JSON object.</summary>
    public const string InvalidFrame = "INVALID_FRAME";

    /// <summary>The frame has no <c>type</c>, a <c>type</c> that is not a string, or a type the server does not know.</summary>
    public const string UnknownType = "UNKNOWN_TYPE";

    /// <summary>The server failed unexpectedly while handling the frame.</summary>
    public const string ServerError = "SERVER_ERROR";
}
