using RoomHub.Contracts;

namespace RoomHub.Server.Internal.Engine;

/// <summary>
/// The history of every room: the messages accepted, bounded by count and by age.
/// Guarantees: <see cref="AppendAsync"/> returns only once the message is stored, with an id greater than every id
/// given before in that room by any instance sharing the store; a read sees every append that completed before the
/// read began; a room whose messages have all aged out leaves nothing behind in the store.
/// </summary>
internal interface IRoomHistory
{
    /// <summary>Stores a message and gives it its id.</summary>
    Task<RoomMessage> AppendAsync(string room, string text, DateTimeOffset sentAt, CancellationToken cancellationToken);

    /// <summary>
    /// The latest <paramref name="limit"/> messages, oldest first; read from the newest, and no further back than the
    /// first message whose text takes the UTF-8 bytes read past <paramref name="maxBytes"/> (that one included).
    /// </summary>
    Task<IReadOnlyList<RoomMessage>> GetLatestAsync(string room, int limit, long maxBytes, CancellationToken cancellationToken);

    /// <summary>
    /// The messages after <paramref name="after"/> (all of history when <see langword="null"/>), oldest first, and
    /// whether they are all of them: <c>Recovered</c> is false when a message after that id was dropped by the bounds,
    /// or was not read because the read, from the newest, stopped at the first message whose text took the UTF-8 bytes
    /// read past <paramref name="maxBytes"/> (that one included). With a <paramref name="lookBack"/>, the messages
    /// accepted that long before <paramref name="after"/> (that one included) come too, read last, as far as the bytes
    /// allow; <c>Recovered</c> still concerns only the messages after it.
    /// </summary>
    Task<ResumeResult> GetAfterAsync(string room, StreamId? after, TimeSpan lookBack, long maxBytes, CancellationToken cancellationToken);
}
