using System.Text;
using Microsoft.AspNetCore.SignalR;
using Microsoft.Extensions.Options;
using RoomHub.Contracts;

namespace RoomHub.Server.Internal;

/// <summary>
/// The rules every room name and message is held to. Every transport reaches them through <see cref="RoomCore"/>,
/// so a rule lives here once.
/// </summary>
internal sealed class RoomRules(IOptions<RoomHubOptions> options)
{
    private readonly int _maxMessageBytes = options.Value.MaxMessageBytes;

    public int MaxMessageBytes => _maxMessageBytes;

    public static string ValidateRoom(string? room)
    {
        if (string.IsNullOrEmpty(room))
        {
            throw Error(RoomErrorCodes.InvalidRoom, "A room name is required.");
        }

        if (room.Length > RoomLimits.MaxRoomNameLength)
        {
            throw Error(RoomErrorCodes.InvalidRoom, $"Room names are at most {RoomLimits.MaxRoomNameLength} characters; this one has {room.Length}.");
        }

        foreach (var c in room)
        {
            if (char.IsControl(c))
            {
                throw Error(RoomErrorCodes.InvalidRoom, "Room names must not contain control characters.");
            }
        }

        return room;
    }

    public string ValidateMessage(string? message)
    {
        if (message is null)
        {
            throw Error(RoomErrorCodes.InvalidMessage, "A message text is required.");
        }

        // Cheap upper bound first: most messages are far below the limit and need no exact count.
        if (message.Length * 3L > _maxMessageBytes)
        {
            var bytes = Encoding.UTF8.GetByteCount(message);
            if (bytes > _maxMessageBytes)
            {
                throw Error(RoomErrorCodes.MessageTooLarge, $"Messages are at most {_maxMessageBytes} bytes of UTF-8; this one has {bytes}.");
            }
        }

        return message;
    }

    /// <summary>A client-facing error: its message is <c>"CODE: text"</c>, which every transport understands.</summary>
    public static RoomHubException Error(string code, string text) => new(code, text);
}

/// <summary>A client-facing error that keeps its code, so that the server need not parse it back out of the text.</summary>
internal sealed class RoomHubException(string code, string text) : HubException($"{code}: {text}")
{
    public string Code { get; } = code;
}
