namespace RoomHub.Server.Internal.WebSockets;

/// <summary>
/// The frame writers a thread has written to and not flushed yet, flushed together by one work item that the first of
/// them queued on that thread's own queue. It runs once the thread is done with what it is doing, most often SignalR's
/// backplane delivering a published message, or several that arrived together, to every member here: each connection's
/// frames of them leave in one send, and the round costs one work item, not one per connection. An idle core steals it
/// sooner, so frames wait for a busy thread only.
/// </summary>
/// <remarks>
/// A round that comes up while other work waits in the thread pool goes once to the back of the pool's shared queue
/// before it flushes: what that work writes meanwhile (most often more of what the backplane is delivering) joins the
/// round and leaves in the same sends. A busy instance thus makes fewer, larger sends, which is cheaper for it and for
/// its clients, who read more per read; an instance with nothing else to do flushes at once.
/// </remarks>
internal sealed class FlushRound : IThreadPoolWorkItem
{
    /// <summary>A thread that keeps writing flushes its round itself after this many writes, so frames never wait long for it.</summary>
    internal const int MaxWrites = 2048;

    [ThreadStatic]
    private static FlushRound? t_round;

    [ThreadStatic]
    private static int t_writes;

    /// <summary>Where this thread's rounds go in place of the pool's queues, if anywhere (see <see cref="HoldOnThisThread"/>).</summary>
    [ThreadStatic]
    private static Holder? t_holder;

    private readonly Lock _lock = new();
    private readonly List<WebSocketFrameWriter> _writers = [];
    private readonly Holder? _holder = t_holder;
    private bool _started;
    private bool _deferred;

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
                round.Queue(preferLocal: true);
            }
        }

        if (++t_writes >= MaxWrites && t_round is { } busy)
        {
            t_round = null;
            t_writes = 0;
            busy.Flush();
        }
    }

    /// <summary>
    /// From now on this thread's rounds are added to <paramref name="held"/>, not queued, for a test to run them when it
    /// chooses (null: queued again); <paramref name="busy"/> stands for the pool's queues when such a round runs (none:
    /// nothing waits). Either way the thread starts a new round at its next write.
    /// </summary>
    internal static void HoldOnThisThread(List<FlushRound>? held, Func<bool>? busy = null)
    {
        t_holder = held is null ? null : new Holder(held, busy);
        t_round = null;
        t_writes = 0;
    }

    private void Queue(bool preferLocal)
    {
        if (_holder is not null)
        {
            _holder.Rounds.Add(this);
        }
        else
        {
            ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal);
        }
    }

    private bool OtherWorkWaits() => _holder is null ? ThreadPool.PendingWorkItemCount > 0 : _holder.Busy?.Invoke() == true;

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

    /// <summary>The work item: flushes the round, or, the first time it runs while other work waits, goes behind that work.</summary>
    public void Execute()
    {
        if (!_deferred && OtherWorkWaits())
        {
            _deferred = true;
            Queue(preferLocal: false);
            return;
        }

        Flush();
    }

    /// <summary>Flushes every writer of the round, once (the work item, or the thread itself after many writes).</summary>
    public void Flush()
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

    /// <summary>A test's hold on a thread's rounds: where they go, and what stands for the pool's queues when one runs.</summary>
    private sealed record Holder(List<FlushRound> Rounds, Func<bool>? Busy);
}
