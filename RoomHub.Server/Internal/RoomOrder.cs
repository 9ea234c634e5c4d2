namespace RoomHub.Server.Internal;

/// <summary>
/// Publishes each room's messages, on this instance, in the order of their ids, whichever connections sent them.
/// </summary>
/// <remarks>
/// A send stores its message (which gives it its id) and then publishes it. Stores of one room are issued here one at a
/// time, so their ids follow the order of this chain, and each publish waits until the room's previous message has been
/// published (issued, not delivered): on the one Redis connection, or into the members' queues in memory, they then
/// reach every member of the instance in id order, and every member in the same order. Messages accepted by other
/// instances may still come between them in either order (a resume's look-back covers that).
/// </remarks>
internal sealed class RoomOrder
{
    private readonly Dictionary<string, Turn> _tails = new(StringComparer.Ordinal);

    /// <summary>Issues <paramref name="store"/> in the room's line and returns it with the message's place in it.</summary>
    public (Task<T> Stored, Turn Turn) Store<T>(string room, Func<Task<T>> store)
    {
        lock (_tails)
        {
            var stored = store();
            var turn = new Turn(this, room, _tails.TryGetValue(room, out var tail) ? tail.PublishedTask : Task.CompletedTask);
            _tails[room] = turn;
            return (stored, turn);
        }
    }

    private void Release(Turn turn)
    {
        lock (_tails)
        {
            // The last message of the room in line leaves no entry behind.
            if (_tails.TryGetValue(turn.Room, out var tail) && tail == turn)
            {
                _tails.Remove(turn.Room);
            }
        }
    }

    /// <summary>One message's place in its room's line. <see cref="Published"/> must be called however the send ends.</summary>
    internal sealed class Turn(RoomOrder owner, string room, Task previous)
    {
        // Continuations run on the thread that completes it: the room's next message, waiting for this publish, is
        // published right away, not after a trip through the thread pool's queue, so a room's line does not slow to the
        // pace of that queue when the instance is busy. The runtime queues them instead when the stack runs deep.
        private readonly TaskCompletionSource _published = new();

        public string Room => room;

        /// <summary>Completes when the room's previous message has been published (or its send gave up).</summary>
        public Task Previous => previous;

        internal Task PublishedTask => _published.Task;

        /// <summary>
        /// This message has been published, or will not be: the room's next one may go, once the one before this has
        /// (a send that gives up early must not let the next one overtake an earlier one still under way).
        /// </summary>
        public void Published() => TaskChain.After(previous, static state => ((Turn)state).Complete(), this);

        private void Complete()
        {
            if (_published.TrySetResult())
            {
                owner.Release(this);
            }
        }
    }
}
