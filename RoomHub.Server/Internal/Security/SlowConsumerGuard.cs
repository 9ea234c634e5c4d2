using System.Globalization;
using System.IO.Pipelines;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http.Connections.Features;
using Microsoft.Extensions.Options;

namespace RoomHub.Server.Internal.Security;

/// <summary>
/// Bounds every connection's outbound queue without ever making a writer wait. The hub writes a connection's messages
/// into a pipe that pauses at <see cref="RoomHubSecurityOptions.MaxOutboundBufferBytes"/>. A waiting flush would hold up
/// the sender and, over the Redis backplane, every other member of the room on this instance, so no flush waits here:
/// <list type="bullet">
/// <item>A write that finds the pipe with room is queued, even when it fills the pipe (one large reply, such as a
/// history, may be larger than the whole queue); the queue is then <i>full</i> until the client has read it down to
/// half.</item>
/// <item>While it is full, writes are still queued, up to another <c>MaxOutboundBufferBytes</c> or the size of the write
/// that filled it, whichever is larger. A client that has not made room by then is not reading: it is dropped, and its
/// writes after that go nowhere.</item>
/// <item>A queue that stays full for <see cref="RoomHubSecurityOptions.SlowConsumerTimeout"/> drops its client too,
/// however little is written meanwhile: nothing the server holds for a client (a large answer, one waiting to be
/// written, a replay) is held for one that does not read.</item>
/// </list>
/// Writers that may wait, because they write a backlog of the connection's own (a session's replay) or the answer to its
/// own request, wait for room with <see cref="IOutboundQueueFeature.WaitForRoomAsync"/> before they write. An answer is
/// written by SignalR after its method returned, so it can land on a queue filled after the wait: the hub protocols mark
/// its write (<see cref="IAnswerWriter"/>), which is paid for by the bytes announced with
/// <see cref="IOutboundQueueFeature.ExpectAnswer"/> and does not count against the allowance of a full queue as far as
/// they go. What an announcement, an upper bound, leaves over goes with it, so reading answers buys no room for later
/// writes.
/// </summary>
internal sealed class SlowConsumerGuard(IOptions<RoomHubSecurityOptions> options, RoomHubTelemetry telemetry, TimeProvider time, ILogger<SlowConsumerGuard> logger)
{
    private readonly int _limit = options.Value.MaxOutboundBufferBytes;
    private readonly TimeSpan _stall = options.Value.SlowConsumerTimeout;
    private readonly TimeProvider _time = time;

    /// <summary>The outbound pipe of a legacy connection: it pauses at the limit, which is what the guard watches.</summary>
    public PipeOptions LegacyOutbound { get; } = new(
        WebSockets.SegmentPool.Instance,
        pauseWriterThreshold: options.Value.MaxOutboundBufferBytes,
        resumeWriterThreshold: options.Value.MaxOutboundBufferBytes / 2,
        useSynchronizationContext: false);

    public TimeSpan LegacyFrameTimeout { get; } = options.Value.FrameTimeout;

    /// <summary>How long a client may leave its queue full; also how long a closing WebSocket waits for its queue to be taken.</summary>
    public TimeSpan SlowConsumerTimeout => _stall;

    /// <summary>Puts the guard between the hub and <paramref name="connection"/>'s outbound pipe.</summary>
    public void Attach(ConnectionContext connection)
    {
        var transport = connection.Transport;
        var writer = new GuardedWriter(transport.Output, this, connection);
        connection.Transport = new DuplexPipe(transport.Input, writer);
        connection.Features.Set<IOutboundQueueFeature>(writer);
    }

    private void Drop(ConnectionContext connection, string why)
    {
        telemetry.SlowConsumersDropped.Add(1);
        SecurityLog.SlowConsumerDropped(logger, connection.ConnectionId, why);

        // The socket's own send is stuck behind a client that does not read: cut the TCP connection under it.
        ConnectionCut.Abort(connection, "Slow consumer", cutSocket: true);
    }

    /// <summary>
    /// Writes are serialized by the caller (SignalR's per-connection write lock); only the end of a full spell, and its
    /// timeout, run concurrently with them, hence the lock around the state they touch.
    /// </summary>
    /// <remarks>It keeps its guard and connection rather than a callback made for it: one object less per connection.</remarks>
    private sealed class GuardedWriter(PipeWriter inner, SlowConsumerGuard guard, ConnectionContext connection) : PipeWriter, IOutboundQueueFeature, IAnswerWriter
    {
        private static readonly ValueTask<FlushResult> Accepted = new(new FlushResult(isCanceled: false, isCompleted: false));
        private static readonly ValueTask<FlushResult> Dropped = new(new FlushResult(isCanceled: false, isCompleted: true));

        private readonly Lock _gate = new();
        private byte[]? _sink;
        private int _dropped;
        private const int MaxAnnouncements = 64;
        private const int AnswerSlack = 1024;

        private long _unflushed;
        private Spell? _spell;
        private List<long>? _announcements;
        private bool _answerNext;

        /// <summary>Whether the client was dropped: its writes from then on go nowhere.</summary>
        private bool IsDropped => Volatile.Read(ref _dropped) != 0;

        public override void Advance(int bytes)
        {
            if (!IsDropped)
            {
                inner.Advance(bytes);
                _unflushed += bytes;
            }
        }

        public override Memory<byte> GetMemory(int sizeHint = 0) => IsDropped ? Sink(sizeHint) : inner.GetMemory(sizeHint);

        public override Span<byte> GetSpan(int sizeHint = 0) => IsDropped ? Sink(sizeHint) : inner.GetSpan(sizeHint);

        public override void CancelPendingFlush() => inner.CancelPendingFlush();

        public override void Complete(Exception? exception = null) => inner.Complete(exception);

        public override ValueTask CompleteAsync(Exception? exception = null) => inner.CompleteAsync(exception);

        public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
        {
            if (IsDropped)
            {
                return Dropped;
            }

            var bytes = _unflushed;
            _unflushed = 0;
            return Watch(inner.FlushAsync(cancellationToken), bytes, TakeAnswerMark());
        }

        /// <summary>SignalR writes each message with one call: the pipe copies and flushes it under one lock.</summary>
        public override ValueTask<FlushResult> WriteAsync(ReadOnlyMemory<byte> source, CancellationToken cancellationToken = default) =>
            IsDropped ? Dropped : Watch(inner.WriteAsync(source, cancellationToken), source.Length, TakeAnswerMark());

        /// <summary>Marks what is written until the next flush as an answer (the hub protocols call it as they write one).</summary>
        public void WritingAnswer() => _answerNext = true;

        private bool TakeAnswerMark()
        {
            var answer = _answerNext;
            _answerNext = false;
            return answer;
        }

        public Task WaitForRoomAsync() => Volatile.Read(ref _spell)?.Room.Task ?? Task.CompletedTask;

        public void ExpectAnswer(long bytes)
        {
            lock (_gate)
            {
                var announcements = _announcements ??= [];
                if (announcements.Count == MaxAnnouncements)
                {
                    announcements.RemoveAt(0); // One whose answer never came (its call failed after announcing it).
                }

                // With room for what an estimate from the messages leaves out (the answer's own envelope: an empty
                // answer is announced as 0), so that each announcement covers its answer and is the one paired with it.
                announcements.Add(bytes + AnswerSlack);
            }
        }

        /// <summary>
        /// The announcement an answer of <paramref name="bytes"/> pays with, taken off the list: the smallest that covers
        /// it (an announcement is an upper bound of its answer), else the largest. Answers may be written in another order
        /// than they were announced; whatever the one taken does not use goes with it.
        /// </summary>
        private long TakeAnnouncement(long bytes)
        {
            if (_announcements is not { Count: > 0 } announcements)
            {
                return 0;
            }

            var best = 0;
            for (var i = 1; i < announcements.Count; i++)
            {
                long candidate = announcements[i], chosen = announcements[best];
                var better = candidate >= bytes
                    ? chosen < bytes || candidate < chosen // covers it, and more tightly
                    : chosen < bytes && candidate > chosen; // neither covers it: the larger
                if (better)
                {
                    best = i;
                }
            }

            var taken = announcements[best];
            announcements.RemoveAt(best);
            return taken;
        }

        private ValueTask<FlushResult> Watch(ValueTask<FlushResult> flush, long bytes, bool answer)
        {
            if (flush.IsCompleted && Volatile.Read(ref _spell) is null && !answer)
            {
                return flush; // The usual case, taken without the lock: the queue has room, and this is no answer.
            }

            bool withinAllowance;
            long allowance;
            lock (_gate)
            {
                // An answer the client asked for is paid for by its announcement, and does not count against a full
                // queue's allowance as far as that goes.
                var announced = answer ? Math.Min(bytes, TakeAnnouncement(bytes)) : 0;
                if (_spell is { } current && (current.Flush.IsCompleted || flush.IsCompleted))
                {
                    // The client made room (this write found the pipe below its limit, or the spell's flush is done);
                    // the watch has not seen it yet.
                    End(current);
                }

                if (_spell is null)
                {
                    if (flush.IsCompleted)
                    {
                        return flush;
                    }

                    // The pipe is full now: the caller goes on; the flush is watched until the client reads it down.
                    // Another write as large as the one that filled it may follow before the client could read.
                    var spell = _spell = new Spell(flush.AsTask(), Math.Max(guard._limit, bytes));
                    // Neither runs in the context of the write that filled the queue (often another connection's send).
                    using var noFlow = ExecutionContext.SuppressFlow();
                    spell.Deadline = guard._time.CreateTimer(
                        static state =>
                        {
                            var (writer, spell) = ((GuardedWriter, Spell))state!;
                            writer.Stalled(spell);
                        },
                        (this, spell),
                        guard._stall,
                        Timeout.InfiniteTimeSpan);
                    spell.Flush.ContinueWith(
                        static (flushed, state) =>
                        {
                            _ = flushed.Exception; // A failed transport: the writer learns of it from its next flush.
                            var (writer, spell) = ((GuardedWriter, Spell))state!;
                            writer.EndLocked(spell);
                        },
                        (this, spell),
                        CancellationToken.None,
                        TaskContinuationOptions.ExecuteSynchronously,
                        TaskScheduler.Default);
                    return Accepted;
                }

                if (flush.IsCompleted && flush.Result is { IsCompleted: true } gone)
                {
                    // The client is gone: the writer must learn it, as it would without the guard (from the result read
                    // here: a flush's result is read once).
                    return new ValueTask<FlushResult>(gone);
                }

                // Still full. This flush's task is left unobserved (the pipe allows one waiter, the spell's); the data is
                // flushed all the same.
                _spell.Queued += bytes - announced;
                allowance = _spell.Allowance;
                withinAllowance = _spell.Queued <= allowance;
            }

            if (withinAllowance)
            {
                return Accepted;
            }

            Drop(string.Create(CultureInfo.InvariantCulture, $"more than {allowance} bytes piled up behind its full outbound queue"));
            return Dropped;
        }

        /// <summary>The spell's timeout: the client has not read its queue down in all that time.</summary>
        private void Stalled(Spell spell)
        {
            lock (_gate)
            {
                if (_spell != spell || spell.Flush.IsCompleted)
                {
                    return; // Ended, or just ending: the client has read its queue down.
                }
            }

            Drop(string.Create(CultureInfo.InvariantCulture, $"its outbound queue stayed full for {guard._stall.TotalSeconds:0.###} s"));
        }

        private void Drop(string why)
        {
            if (Interlocked.Exchange(ref _dropped, 1) == 0)
            {
                guard.Drop(connection, why);
            }
        }

        /// <summary>Ends <paramref name="spell"/> when its flush completes, however: the client read the queue down, or the transport ended.</summary>
        private void EndLocked(Spell spell)
        {
            lock (_gate)
            {
                End(spell);
            }
        }

        private void End(Spell spell)
        {
            if (_spell == spell)
            {
                _spell = null;
            }

            spell.Deadline?.Dispose();
            spell.Room.TrySetResult();
        }

        private byte[] Sink(int sizeHint) => _sink is { } sink && sink.Length >= sizeHint ? sink : _sink = new byte[Math.Max(sizeHint, 4096)];

        /// <summary>One spell of a full queue: from the flush that found the pipe full until the client read it down.</summary>
        private sealed class Spell(Task flush, long allowance)
        {
            public Task Flush { get; } = flush;

            public TaskCompletionSource Room { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

            public long Allowance { get; } = allowance;

            public long Queued { get; set; }

            public ITimer? Deadline { get; set; }
        }
    }
}

/// <summary>The outbound queue of a guarded connection, for writers that may wait for the client to read.</summary>
internal interface IOutboundQueueFeature
{
    /// <summary>Completes when the queue has room (at once, unless it is full), or when the connection ends.</summary>
    Task WaitForRoomAsync();

    /// <summary>Announces an answer of at most <paramref name="bytes"/> that is about to be written, whatever the queue holds.</summary>
    void ExpectAnswer(long bytes);
}

/// <summary>
/// Told by the hub protocols that they are writing an answer (a history or a resume), so that the slow-consumer guard
/// pays for that write, and that write only, with the answer's announcement.
/// </summary>
internal interface IAnswerWriter
{
    void WritingAnswer();

    /// <summary>Marks <paramref name="message"/>'s write as an answer's when it is one and <paramref name="output"/> is guarded.</summary>
    static void MarkIfAnswer(Microsoft.AspNetCore.SignalR.Protocol.HubMessage message, System.Buffers.IBufferWriter<byte> output)
    {
        if (message is Microsoft.AspNetCore.SignalR.Protocol.CompletionMessage { Result: IReadOnlyList<Contracts.RoomMessage> or Contracts.ResumeResult }
            && output is IAnswerWriter answers)
        {
            answers.WritingAnswer();
        }
    }
}
