using System.Diagnostics;

namespace RoomHub.Server.Internal.WebSockets;

/// <summary>
/// The frame writers a thread has written to and not flushed yet, flushed together by one work item that the first of
/// them queued on that thread's own queue. It runs once the thread is done with what it is doing, most often SignalR's
/// backplane delivering a published message, or several that arrived together, to every member here: each connection's
/// frames of them leave in one send, and the round costs one work item, not one per connection. An idle core steals it
/// sooner, so frames wait for a busy thread only.
/// </summary>
/// <remarks>
/// <para>
/// A round that comes up while other work waits in the thread pool goes once to the back of the pool's shared queue
/// before it flushes: what that work writes meanwhile (most often more of what the backplane is delivering) joins the
/// round and leaves in the same sends. A busy instance thus makes fewer, larger sends, which is cheaper for it and for
/// its clients, who read more per read; an instance with nothing else to do flushes at once.
/// </para>
/// <para>
/// A round that comes up while the instance is behind (<see cref="LateRounds"/>: many recent rounds came up late) stays
/// open <see cref="HoldWhenBehind"/> more, once, so the frames of the next messages join it (and when it runs again, it
/// may still go behind waiting work, if it has not yet). On a saturated machine that is where the time goes: each send,
/// and each of its clients' reads, then carries several times more frames. An instance with a core to spare holds no
/// round: its rounds come up late only now and then, and the verdict needs many of them. Nor is a round held that carries
/// a connection's first output (<see cref="WebSocketFrameWriter.Opening"/>).
/// </para>
/// </remarks>
internal sealed class FlushRound : IThreadPoolWorkItem
{
    /// <summary>A thread that keeps writing flushes its round itself after this many writes, so frames never wait long for it.</summary>
    internal const int MaxWrites = 2048;

    /// <summary>How long a round that comes up while the instance is behind stays open before it runs again.</summary>
    internal static readonly TimeSpan HoldWhenBehind = TimeSpan.FromMilliseconds(4);

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
    private bool _heldOpen;
    private bool _opening;
    private long _queuedAt;

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
    /// chooses, and so are those held open (null: queued again); <paramref name="busy"/> stands for the pool's queues when
    /// such a round runs (none: nothing waits), and <paramref name="behind"/> for <see cref="LateRounds.IsBehind"/> (none:
    /// not behind). Either way the thread starts a new round at its next write.
    /// </summary>
    internal static void HoldOnThisThread(List<FlushRound>? held, Func<bool>? busy = null, Func<bool>? behind = null)
    {
        t_holder = held is null ? null : new Holder(held, busy, behind);
        t_round = null;
        t_writes = 0;
    }

    private void Queue(bool preferLocal)
    {
        _queuedAt = Stopwatch.GetTimestamp();
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

    private bool Behind() => _holder is null ? LateRounds.IsBehind : _holder.Behind?.Invoke() == true;

    private bool TryJoin(WebSocketFrameWriter writer)
    {
        lock (_lock)
        {
            if (_started)
            {
                return false;
            }

            _writers.Add(writer);
            _opening |= writer.Opening;
            return true;
        }
    }

    /// <summary>
    /// The work item: flushes the round; or, the first time it runs while other work waits, goes behind that work; or,
    /// the first time it runs while the instance is behind, stays open a while (see the remarks).
    /// </summary>
    public void Execute()
    {
        if (!_deferred && !_heldOpen && _holder is null)
        {
            LateRounds.Ran(Stopwatch.GetElapsedTime(_queuedAt));
        }

        if (!_deferred && OtherWorkWaits())
        {
            _deferred = true;
            Queue(preferLocal: false);
            return;
        }

        if (!_heldOpen && !_opening && Behind())
        {
            _heldOpen = true;
            HoldOpen();
            return;
        }

        Flush();
    }

    private void HoldOpen()
    {
        if (_holder is not null)
        {
            _holder.Rounds.Add(this);
            return;
        }

        _ = Task.Delay(HoldWhenBehind).ContinueWith(static (_, round) => ((FlushRound)round!).Execute(), this, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
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

    /// <summary>
    /// A test's hold on a thread's rounds: where they go (queued, or held open), and what stands for the pool's queues and
    /// for <see cref="LateRounds.IsBehind"/> when one runs.
    /// </summary>
    private sealed record Holder(List<FlushRound> Rounds, Func<bool>? Busy, Func<bool>? Behind);
}
