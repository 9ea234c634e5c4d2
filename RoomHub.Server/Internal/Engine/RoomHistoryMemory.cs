using System.Collections.Concurrent;
using Microsoft.Extensions.Options;
using RoomHub.Contracts;

namespace RoomHub.Server.Internal.Engine;

/// <summary>Room history in this process's memory. Single instance only: other instances cannot see it.</summary>
internal sealed class RoomHistoryMemory : IRoomHistory, IDisposable
{
    private readonly ConcurrentDictionary<string, RoomLog> _rooms = new(StringComparer.Ordinal);
    private readonly TimeProvider _time;
    private readonly HistoryOptions _options;
    private readonly ITimer _sweeper;

    public RoomHistoryMemory(IOptions<RoomHubOptions> options, TimeProvider time)
    {
        _time = time;
        _options = options.Value.History;
        var period = TimeSpan.FromTicks(Math.Clamp(_options.MaxAge.Ticks / 4, TimeSpan.FromSeconds(1).Ticks, TimeSpan.FromMinutes(1).Ticks));
        _sweeper = time.CreateTimer(_ => Sweep(), null, period, period);
    }

    public Task<RoomMessage> AppendAsync(string room, string text, DateTimeOffset sentAt, CancellationToken cancellationToken)
    {
        while (true)
        {
            var log = _rooms.GetOrAdd(room, static _ => new RoomLog());
            lock (log)
            {
                if (log.Removed)
                {
                    continue; // swept between lookup and lock; take the fresh one
                }

                var now = _time.GetUtcNow();
                var ms = (ulong)now.ToUnixTimeMilliseconds();
                var id = ms > log.LastId.Milliseconds ? new StreamId(ms, 0) : new StreamId(log.LastId.Milliseconds, log.LastId.Sequence + 1);
                var message = new RoomMessage(id.ToString(), room, text, sentAt);
                log.LastId = id;
                log.Entries.Enqueue((id, message));
                Trim(log, now);
                return Task.FromResult(message);
            }
        }
    }

    public Task<IReadOnlyList<RoomMessage>> GetLatestAsync(string room, int limit, long maxBytes, CancellationToken cancellationToken)
    {
        if (!_rooms.TryGetValue(room, out var log))
        {
            return Task.FromResult<IReadOnlyList<RoomMessage>>([]);
        }

        lock (log)
        {
            Trim(log, _time.GetUtcNow());
            return Task.FromResult<IReadOnlyList<RoomMessage>>(Newest(log.Entries.Skip(Math.Max(0, log.Entries.Count - limit)).Select(e => e.Message).ToArray(), maxBytes, out _));
        }
    }

    public Task<ResumeResult> GetAfterAsync(string room, StreamId? after, TimeSpan lookBack, long maxBytes, CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        if (!_rooms.TryGetValue(room, out var log))
        {
            return Task.FromResult(new ResumeResult(HistoryRecovery.RecoveredWithoutHistory(after), []));
        }

        lock (log)
        {
            Trim(log, now);
            var from = after is { } id && lookBack > TimeSpan.Zero ? StreamId.FromTime(id.Time - lookBack) : (StreamId?)null;
            var messages = Newest(log.Entries.Where(e => after is null || e.Id > after.Value || e.Id >= from).Select(e => e.Message).ToArray(), maxBytes, out var leftOut);
            var first = log.Entries.Count > 0 ? log.Entries.Peek().Id : StreamId.Zero;
            return Task.FromResult(new ResumeResult(HistoryRecovery.Recovered(after, leftOut is null ? null : StreamId.Parse(leftOut.Id), log.MaxDeleted, first), messages));
        }
    }

    /// <summary>
    /// The newest of <paramref name="messages"/> (oldest first) back to the one whose text crosses
    /// <paramref name="maxBytes"/>, and the newest message left out, if any.
    /// </summary>
    private static RoomMessage[] Newest(RoomMessage[] messages, long maxBytes, out RoomMessage? leftOut)
    {
        var bytes = 0L;
        for (var i = messages.Length - 1; i > 0; i--)
        {
            bytes += System.Text.Encoding.UTF8.GetByteCount(messages[i].Message);
            if (bytes > maxBytes)
            {
                leftOut = messages[i - 1];
                return messages[i..];
            }
        }

        leftOut = null;
        return messages;
    }

    private void Trim(RoomLog log, DateTimeOffset now)
    {
        var oldest = StreamId.FromTime(now - _options.MaxAge);
        while (log.Entries.Count > 0 && (log.Entries.Count > _options.MaxLength || log.Entries.Peek().Id < oldest))
        {
            log.MaxDeleted = log.Entries.Dequeue().Id;
        }
    }

    private void Sweep()
    {
        var now = _time.GetUtcNow();
        foreach (var (room, log) in _rooms)
        {
            lock (log)
            {
                Trim(log, now);
                if (log.Entries.Count == 0)
                {
                    log.Removed = true;
                    _rooms.TryRemove(KeyValuePair.Create(room, log));
                }
            }
        }
    }

    /// <summary>Whether anything is kept for the room (an idle room is swept away).</summary>
    internal bool HoldsRoom(string room)
    {
        Sweep();
        return _rooms.ContainsKey(room);
    }

    public void Dispose() => _sweeper.Dispose();

    private sealed class RoomLog
    {
        public Queue<(StreamId Id, RoomMessage Message)> Entries { get; } = new();

        public StreamId LastId { get; set; }

        public StreamId MaxDeleted { get; set; }

        public bool Removed { get; set; }
    }
}

internal static class HistoryRecovery
{
    /// <summary>
    /// A room with no stored history: the client's <paramref name="after"/> was once in it, and its room would be there
    /// still if nothing had happened to it (every append keeps a room for <see cref="HistoryOptions.MaxAge"/>), so it
    /// aged out whole, or the store lost it (a Redis restart without persistence, FLUSHALL, a process restart): either
    /// way what came after <paramref name="after"/> cannot be vouched for.
    /// </summary>
    public static bool RecoveredWithoutHistory(StreamId? after) => after is null;

    /// <summary>
    /// Whether an answer holds every message after <paramref name="after"/>: none of them was dropped by the bounds (the
    /// largest id dropped is <paramref name="deleted"/>), nor left out by the answer's bytes (the newest it left out,
    /// <paramref name="leftOut"/>, if any, is at or before <paramref name="after"/>: one of a look-back's), nor lost with
    /// the room's history before it began again: a room that never dropped anything still holds its first message
    /// (<paramref name="first"/>), and a client's id older than that comes from history the store no longer has.
    /// </summary>
    public static bool Recovered(StreamId? after, StreamId? leftOut, StreamId deleted, StreamId first) =>
        (leftOut is null || (after is { } id && leftOut.Value <= id))
        && (after is null ? deleted == StreamId.Zero : after.Value >= deleted && (deleted != StreamId.Zero || after.Value >= first));
}
