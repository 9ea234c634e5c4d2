namespace RoomHub.Contracts;

/// <summary>The rules every room name and message is held to, on every transport.</summary>
public static class RoomLimits
{
    /// <summary>The longest room name, in UTF-16 code units (as JavaScript's <c>length</c> counts). Names must also be non-empty and free of control characters.</summary>
    public const int MaxRoomNameLength = 128;

    /// <summary>The default limit on a message's text, in UTF-8 bytes (64 KiB). Servers may be configured otherwise.</summary>
    public const int DefaultMaxMessageBytes = 64 * 1024;

    /// <summary>The default number of messages a room's history keeps.</summary>
    public const int DefaultHistoryLength = 1000;
}
