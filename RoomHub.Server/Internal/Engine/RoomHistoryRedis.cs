using System.Globalization;
using Microsoft.Extensions.Options;
using RoomHub.Contracts;
using StackExchange.Redis;

namespace RoomHub.Server.Internal.Engine;

/// <summary>
/// Room history in Redis Streams, one stream per room (<see cref="RedisKeys.History"/>), shared by every instance.
/// Each append is one short script: XADD, PEXPIRE so that an idle room's key disappears, XLEN; once the stream has
/// grown <see cref="TrimSlack"/> entries past <see cref="HistoryOptions.MaxLength"/>, a second script XDELs what the
/// count and age bounds drop. Every read applies both bounds exactly before it reads, so no answer ever shows more than the bounds
/// allow and every resume learns of what they dropped. Ids are the stream ids Redis assigns, so they increase within a
/// room across instances. Entry fields: <c>m</c> = message text, <c>t</c> = accepted at (unix ms).
/// </summary>
/// <remarks>
/// Trimming in batches is what keeps an append cheap for Redis, which all instances share and which runs scripts one
/// at a time: with an XRANGE and an XDEL of one entry on every append, the script took about 24 µs of Redis time per
/// message; trimmed in batches, about 10 µs, the XDEL of a batch of 126 ids costing about 1.5 µs per id (RoomHub.Bench
/// at saturation, see its README).
/// </remarks>
internal sealed class RoomHistoryRedis(RedisConnection redis, IOptions<RoomHubOptions> options) : IRoomHistory
{
    // Entries are dropped with XDEL, not XTRIM: only XDEL advances the stream's max-deleted-entry-id, which is how a
    // resume learns whether anything after the client's last id was dropped.
    // Entries go a hundred at a time, until none is left past the bound: XRANGE hands the script whole entries, texts
    // included, to learn their ids, so a pass holds at most a hundred texts in the script's memory (6.4 MB at the
    // default MaxMessageBytes); and Lua's unpack takes a few thousand values at most, while a stream may hold more than
    // that past a bound (the slack between two trims, or a MaxLength lowered since it grew).
    private const string DropAged = """
        local pass = 100
        local function drop(entries)
          local ids = {}
          for i, e in ipairs(entries) do ids[i] = e[1] end
          if #ids > 0 then redis.call('XDEL', KEYS[1], unpack(ids)) end
          return #ids
        end
        """ + "\n" + RedisClock.NowLua + "\n" + """
        local cutoff = now - tonumber(ARGV[1]) - 1
        if cutoff >= 0 then
          while drop(redis.call('XRANGE', KEYS[1], '-', tostring(cutoff), 'COUNT', pass)) == pass do end
        end
        """;

    // Drops the oldest entries past the count bound (ARGV[2]); needs DropAged's drop() and pass.
    private const string DropExcess = """
        local excess = redis.call('XLEN', KEYS[1]) - tonumber(ARGV[2])
        while excess > 0 do
          local dropped = drop(redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', math.min(excess, pass)))
          if dropped == 0 then break end
          excess = excess - dropped
        end
        """;

    // ARGV: max age (ms), text, accepted at (unix ms). Returns { id, the stream's length }. Sent whole every time (EVAL,
    // never EVALSHA), so Redis cannot answer it with NOSCRIPT: a script Redis has forgotten (SCRIPT FLUSH, a restart, a
    // failover to a replica that never loaded it) would otherwise be re-sent behind the appends issued after it, and take
    // an id above theirs, while members get a room's messages in the order its appends were issued (RoomOrder). Kept
    // short, since Redis hashes the text of each EVAL.
    private const string AppendScript = """
        local id = redis.call('XADD', KEYS[1], '*', 'm', ARGV[2], 't', ARGV[3])
        redis.call('PEXPIRE', KEYS[1], ARGV[1])
        return { id, redis.call('XLEN', KEYS[1]) }
        """;

    // ARGV: max age (ms), max length. Run after an append that took the stream past its slack; its order does not matter.
    private const string TrimScript = DropAged + "\n" + DropExcess;

    // ARGV: max age (ms), max length, lower bound (an XREVRANGE end: '-', an id, or '(' and an id), count (0: no limit),
    // byte budget. Drops what the bounds drop first, then reads from the newest entry down, a page at a time, and stops
    // after the entry whose text takes the bytes read past the budget, so a large history is not read whole to answer
    // with its end. Returns { exists, max-deleted-entry-id, entries (newest first), the id of the newest entry in the
    // range that was left out ('' when none was), the id of the stream's first entry ('' when it has none) }, or, for a
    // room with no stream, { 0 }.
    private const string ReadScript = """
        if redis.call('EXISTS', KEYS[1]) == 0 then
          return { 0 }
        end
        """ + "\n" + DropAged + "\n" + DropExcess + "\n" + """
        local info = redis.call('XINFO', 'STREAM', KEYS[1])
        local deleted = '0-0'
        local first = ''
        for i = 1, #info, 2 do
          if info[i] == 'max-deleted-entry-id' then deleted = info[i + 1] end
          if info[i] == 'first-entry' and type(info[i + 1]) == 'table' then first = info[i + 1][1] end
        end
        local entries = {}
        local remaining = tonumber(ARGV[4])
        if remaining == 0 then remaining = math.huge end
        local budget = tonumber(ARGV[5])
        local bytes = 0
        local cut = 0
        local upper = '+'
        while remaining > 0 and cut == 0 do
          local size = math.min(100, remaining)
          local page = redis.call('XREVRANGE', KEYS[1], upper, ARGV[3], 'COUNT', size)
          for _, entry in ipairs(page) do
            entries[#entries + 1] = entry
            remaining = remaining - 1
            local fields = entry[2]
            for f = 1, #fields, 2 do
              if fields[f] == 'm' then bytes = bytes + string.len(fields[f + 1]) end
            end
            if bytes > budget then
              cut = 1
              break
            end
          end
          if #page < size then break end
          upper = '(' .. page[#page][1]
        end
        local left = ''
        if cut == 1 and #entries > 0 then
          -- Whether anything older is left in the range: the entry that crossed the budget may have been the last one.
          local older = redis.call('XREVRANGE', KEYS[1], '(' .. entries[#entries][1], ARGV[3], 'COUNT', 1)
          if #older > 0 then left = older[1][1] end
        end
        return { 1, deleted, entries, left, first }
        """;

    private readonly RedisKeys _keys = new(redis.Prefix);
    private readonly HistoryOptions _options = options.Value.History;

    private long MaxAgeMs => (long)_options.MaxAge.TotalMilliseconds;

    /// <summary>How far past its count bound a stream may grow before an append trims it: an eighth, 1 to 256 entries.</summary>
    internal static int TrimSlack(int maxLength) => Math.Clamp(maxLength / 8, 1, 256);

    /// <summary>
    /// Whether the append that left the stream <paramref name="length"/> entries long trims it: the one that takes it
    /// past its slack, and, while it stays past, every slack-th append after that one. Appends are pipelined, so the
    /// appends issued before a trim runs all find the stream past its slack; were each of them to trim, a busy room
    /// would send a trim every few appends (every 7th at saturation in RoomHub.Bench), nearly all finding nothing left
    /// to drop. A trim that fails or is late is followed by another a slack later. Each length is seen by one append
    /// only, over every instance (the script's XADD and XLEN are atomic), unless a read trimmed the stream between two.
    /// </summary>
    internal static bool TrimsAfter(long length, int maxLength)
    {
        var slack = TrimSlack(maxLength);
        var past = length - maxLength - slack;
        return past > 0 && (past - 1) % slack == 0;
    }

    public async Task<RoomMessage> AppendAsync(string room, string text, DateTimeOffset sentAt, CancellationToken cancellationToken)
    {
        var db = await redis.DatabaseAsync().ConfigureAwait(false);
        var key = _keys.History(room);
        var result = (RedisResult[])(await db.ScriptEvaluateAsync(AppendScript, [key], [MaxAgeMs, text, sentAt.ToUnixTimeMilliseconds()],
            CommandFlags.NoScriptCache).ConfigureAwait(false))!;
        var id = (string?)result[0] ?? throw new RedisException("XADD returned no id.");
        if (TrimsAfter((long)result[1], _options.MaxLength))
        {
            try
            {
                await db.ScriptEvaluateAsync(TrimScript, [key], [MaxAgeMs, _options.MaxLength]).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException)
            {
                // The message is stored and must still be published: the next append past the slack trims, and every
                // read applies the bounds before it reads.
            }
        }

        return new RoomMessage(id, room, text, sentAt);
    }

    public async Task<IReadOnlyList<RoomMessage>> GetLatestAsync(string room, int limit, long maxBytes, CancellationToken cancellationToken)
    {
        var (exists, _, entries, _, _) = await ReadAsync(room, "-", limit, maxBytes).ConfigureAwait(false);
        if (!exists)
        {
            return [];
        }

        var messages = ToMessages(room, entries);
        Array.Reverse(messages);
        return messages;
    }

    public async Task<ResumeResult> GetAfterAsync(string room, StreamId? after, TimeSpan lookBack, long maxBytes, CancellationToken cancellationToken)
    {
        // Redis has no exclusive start past its largest id; the inclusive "+" holds nothing after it either.
        var start = after switch
        {
            null => "-",
            { } id when lookBack > TimeSpan.Zero => StreamId.FromTime(id.Time - lookBack).ToString(),
            { } id => id == StreamId.Max ? "+" : "(" + id,
        };
        var (exists, deleted, entries, leftOut, first) = await ReadAsync(room, start, 0, maxBytes).ConfigureAwait(false);
        if (!exists)
        {
            return new ResumeResult(HistoryRecovery.RecoveredWithoutHistory(after), []);
        }

        var messages = ToMessages(room, entries);
        Array.Reverse(messages);
        return new ResumeResult(HistoryRecovery.Recovered(after, leftOut, deleted, first), messages);
    }

    /// <summary>
    /// The read script's answer: <c>LeftOut</c> is the newest message in the range that the byte budget left out, if
    /// any; <c>First</c> the stream's first entry (<see cref="StreamId.Zero"/> when it has none).
    /// </summary>
    private async Task<(bool Exists, StreamId Deleted, RedisResult[] Entries, StreamId? LeftOut, StreamId First)> ReadAsync(string room, string lowerBound, int count, long maxBytes)
    {
        var db = await redis.DatabaseAsync().ConfigureAwait(false);
        var result = (RedisResult[])(await db.ScriptEvaluateAsync(ReadScript, [_keys.History(room)], [MaxAgeMs, _options.MaxLength, lowerBound, count, maxBytes]).ConfigureAwait(false))!;
        if ((long)result[0] == 0)
        {
            return (false, StreamId.Zero, [], null, StreamId.Zero);
        }

        var leftOut = (string?)result[3];
        var first = (string?)result[4];
        return (true, StreamId.Parse((string)result[1]!), (RedisResult[])result[2]!, string.IsNullOrEmpty(leftOut) ? null : StreamId.Parse(leftOut),
            string.IsNullOrEmpty(first) ? StreamId.Zero : StreamId.Parse(first));
    }

    private static RoomMessage[] ToMessages(string room, RedisResult[] entries)
    {
        var messages = new RoomMessage[entries.Length];
        for (var i = 0; i < entries.Length; i++)
        {
            var entry = (RedisResult[])entries[i]!;
            var fields = (RedisResult[])entry[1]!;
            string text = "";
            long sentAt = 0;
            for (var f = 0; f + 1 < fields.Length; f += 2)
            {
                switch ((string?)fields[f])
                {
                    case "m":
                        text = (string?)fields[f + 1] ?? "";
                        break;
                    case "t":
                        sentAt = long.Parse((string)fields[f + 1]!, CultureInfo.InvariantCulture);
                        break;
                }
            }

            messages[i] = new RoomMessage((string)entry[0]!, room, text, DateTimeOffset.FromUnixTimeMilliseconds(sentAt));
        }

        return messages;
    }
}
