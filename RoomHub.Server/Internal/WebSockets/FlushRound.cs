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
/// A round whose work item came up later than <see cref="LateAfter"/> after its first write was held up by a machine
/// with no core to spare (the instance's own queues may be empty: its threads wait for a core behind other processes).
/// It then stays open <see cref="HoldWhenLate"/> more, so that the frames of the next messages join it: the sends, and
/// its clients' reads, carry several times more frames each, which is where a saturated machine's time goes. A machine
/// with a core to spare runs the round within microseconds, and never holds it.
/// </para>
/// </remarks>
internal sealed class FlushRound : IThreadPoolWorkItem
{
    /// <summary>A thread that keeps writing flushes its round itself after this many writes, so frames never wait long for it.</summary>
    internal const int MaxWrites = 2048;

    /// <summary>A round whose work item comes up later than this after its first write is held (see the remarks).</summary>
    internal static readonly TimeSpan LateAfter = TimeSpan.FromMicroseconds(300);

    /// <summary>How long a round that came up late stays open before it flushes.</summary>
    internal static readonly TimeSpan HoldWhenLate = TimeSpan.FromMilliseconds(4);

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
    private readonly long _opened = Stopwatch.GetTimestamp();
    private bool _started;
    private bool _deferred;
    private bool _heldOpen;

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
    /// such a round runs (none: nothing waits), and <paramref name="waited"/> for how long it waited to run (none: not at
    /// all). Either way the thread starts a new round at its next write.
    /// </summary>
    internal static void HoldOnThisThread(List<FlushRound>? held, Func<bool>? busy = null, Func<TimeSpan>? waited = null)
    {
        t_holder = held is null ? null : new Holder(held, busy, waited);
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

    /// <summary>
    /// The work item: flushes the round; or, the first time it runs while other work waits, goes behind that work; or,
    /// the first time it runs late, stays open a while (see the remarks).
    /// </summary>
    public void Execute()
    {
        if (!_deferred && OtherWorkWaits())
        {
            _deferred = true;
            Queue(preferLocal: false);
            return;
        }

        if (!_heldOpen && CameLate())
        {
            _heldOpen = true;
            FlushLater();
            return;
        }

        Flush();
    }

    private bool CameLate() => (_holder is null ? Stopwatch.GetElapsedTime(_opened) : _holder.Waited?.Invoke() ?? TimeSpan.Zero) > LateAfter;

    private void FlushLater()
    {
        if (_holder is not null)
        {
            _holder.Rounds.Add(this);
            return;
        }

        _ = Task.Delay(HoldWhenLate).ContinueWith(static (_, round) => ((FlushRound)round!).Flush(), this, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
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
    /// A test's hold on a thread's rounds: where they go (queued, or held open), what stands for the pool's queues when
    /// one runs, and for how long it waited to run (none: no time).
    /// </summary>
    private sealed record Holder(List<FlushRound> Rounds, Func<bool>? Busy, Func<TimeSpan>? Waited);
}
