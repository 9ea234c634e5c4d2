namespace RoomHub.Server.Internal.WebSockets;

/// <summary>
/// The frame writers a thread has written to and not flushed yet, flushed together by one work item that the first of
/// them queued on that thread's own queue. It runs once the thread is done with what it is doing, most often SignalR's
/// backplane delivering a published message, or several that arrived together, to every member here: each connection's
/// frames of them leave in one send, and the round costs one work item, not one per connection. An idle core steals it
/// sooner, so frames wait for a busy thread only.
/// </summary>
internal sealed class FlushRound : IThreadPoolWorkItem
{
    /// <summary>A thread that keeps writing flushes its round itself after this many writes, so frames never wait long for it.</summary>
    internal const int MaxWrites = 2048;

    [ThreadStatic]
    private static FlushRound? t_round;

    [ThreadStatic]
    private static int t_writes;

    /// <summary>Where this thread's rounds go in place of the pool's queue (see <see cref="HoldOnThisThread"/>).</summary>
    [ThreadStatic]
    private static List<FlushRound>? t_held;

    private readonly Lock _lock = new();
    private readonly List<WebSocketFrameWriter> _writers = [];
    private bool _started;

    /// <summary>
    /// Notes a write on this thread (called without the writer's lock). <paramref name="join"/>: the writer has frames to
    /// flush and is in no round yet; it joins this thread's.
    /// </summary>
    public static void Wrote(WebSocketFrameWriter writer, bool join)
    {
        if (join)
        {
            var round = t_round;
            if (round is null || !round.TryJoin(writer))
            {
                round = t_round = new FlushRound();
                t_writes = 0;
                round.TryJoin(writer);
                if (t_held is { } held)
                {
                    held.Add(round);
                }
                else
                {
                    ThreadPool.UnsafeQueueUserWorkItem(round, preferLocal: true);
                }
            }
        }

        if (++t_writes >= MaxWrites && t_round is { } busy)
        {
            t_round = null;
            t_writes = 0;
            busy.Execute();
        }
    }

    /// <summary>
    /// From now on this thread's rounds are added to <paramref name="held"/>, not queued, for a test to run them when it
    /// chooses (null: queued again). Either way the thread starts a new round at its next write.
    /// </summary>
    internal static void HoldOnThisThread(List<FlushRound>? held)
    {
        t_held = held;
        t_round = null;
        t_writes = 0;
    }

    private bool TryJoin(WebSocketFrameWriter writer)
    {
        lock (_lock)
        {
            if (_started)
            {
                return false;
            }

            _writers.Add(writer);
            return true;
        }
    }

    /// <summary>Flushes every writer of the round, once (the work item, or the thread itself after many writes).</summary>
    public void Execute()
    {
        lock (_lock)
        {
            if (_started)
            {
                return;
            }

            _started = true;
        }

        foreach (var writer in _writers)
        {
            writer.FlushDeferred();
        }

        _writers.Clear();
    }
}
