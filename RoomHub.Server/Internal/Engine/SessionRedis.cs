using System.Globalization;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace RoomHub.Server.Internal.Engine;

/// <summary>
/// Sessions in Redis: one hash per session (<see cref="RedisKeys.Session"/>) with a field <c>r:{room}</c> per room,
/// <c>seen</c> (unix ms, by Redis's clock), <c>holder</c> (the connection that claimed it last) and <c>claim</c> (when, in
/// µs by Redis's clock); every write but a removal restarts the key's TTL. Writes are scripts that do nothing when another connection holds the session.
/// </summary>
internal sealed class SessionRedis(RedisConnection redis, IOptions<RoomHubOptions> options) : ISessionStore
{
    private const string RoomField = "r:";
    private const string SeenField = "seen";

    // KEYS[1]: the session. ARGV[1]: the writing connection, ARGV[2]: when it claimed the session (µs, Redis's clock).
    // Every write script starts here. A connection other than the holder writes nothing, unless its claim is newer than
    // the holder's: only after Redis lost the record (a restart without persistence, FLUSHALL) can a connection that is
    // not the last to claim write first, and the newest claim then takes the session back at its next write. A
    // holder recorded without a claim time is never overtaken.
    private const string IfHeld = """
        local holder = redis.call('HGET', KEYS[1], 'holder')
        if holder ~= ARGV[1] then
          if holder then
            local claim = redis.call('HGET', KEYS[1], 'claim')
            if not claim or tonumber(claim) >= tonumber(ARGV[2]) then return 0 end
          end
          redis.call('HSET', KEYS[1], 'holder', ARGV[1], 'claim', ARGV[2])
        end
        """;

    // ARGV: holder, TTL (ms). Returns { claim time (µs, Redis's clock), the session's fields }.
    private const string ClaimScript = """
        local t = redis.call('TIME')
        local claim = t[1] .. string.rep('0', 6 - string.len(t[2])) .. t[2]
        redis.call('HSET', KEYS[1], 'holder', ARGV[1], 'claim', claim)
        redis.call('PEXPIRE', KEYS[1], ARGV[2])
        return { claim, redis.call('HGETALL', KEYS[1]) }
        """;

    // ARGV: holder, claim, TTL (ms), room field.
    private const string AddScript = IfHeld + "\n" + """
        redis.call('HSET', KEYS[1], ARGV[4], 1)
        redis.call('PEXPIRE', KEYS[1], ARGV[3])
        return 1
        """;

    // ARGV: holder, claim, room field. A record that is gone is left gone: a removal must not make one without a TTL.
    private const string RemoveScript = """
        if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
        """ + "\n" + IfHeld + "\n" + """
        redis.call('HDEL', KEYS[1], ARGV[3])
        return 1
        """;

    // ARGV: holder, claim, TTL (ms), room fields... The session is seen now by Redis's clock (see RedisClock), in exactly
    // these rooms: a room field not among them is one the connection has left (a removal that failed while Redis was
    // away, or the rooms of an older connection written before this one took the record back).
    private const string TouchScript = IfHeld + "\n" + RedisClock.NowLua + "\n" + """
        redis.call('HSET', KEYS[1], 'seen', tostring(now))
        local keep = {}
        for i = 4, #ARGV do keep[ARGV[i]] = true end
        for _, field in ipairs(redis.call('HKEYS', KEYS[1])) do
          if string.sub(field, 1, 2) == 'r:' and not keep[field] then redis.call('HDEL', KEYS[1], field) end
        end
        for i = 4, #ARGV do redis.call('HSET', KEYS[1], ARGV[i], 1) end
        redis.call('PEXPIRE', KEYS[1], ARGV[3])
        return 1
        """;

    private readonly RedisKeys _keys = new(redis.Prefix);
    private readonly TimeSpan _ttl = options.Value.Sessions.Ttl;

    private long TtlMs => (long)_ttl.TotalMilliseconds;

    public async Task<SessionState?> GetAsync(string owner, string session, CancellationToken cancellationToken)
    {
        var db = await redis.DatabaseAsync().ConfigureAwait(false);
        return Read(await db.HashGetAllAsync(_keys.Session(owner, session)).ConfigureAwait(false));
    }

    public async Task<SessionClaim> ClaimAsync(SessionRef session, CancellationToken cancellationToken)
    {
        var db = await redis.DatabaseAsync().ConfigureAwait(false);
        var result = (RedisResult[])(await db.ScriptEvaluateAsync(ClaimScript, [Key(session)], [session.Holder, TtlMs]).ConfigureAwait(false))!;
        var values = (RedisValue[])result[1]!;
        var fields = new HashEntry[values.Length / 2];
        for (var i = 0; i < fields.Length; i++)
        {
            fields[i] = new HashEntry(values[2 * i], values[(2 * i) + 1]);
        }

        return new SessionClaim(Read(fields), (long)result[0]);
    }

    public async Task AddRoomAsync(SessionRef session, string room, CancellationToken cancellationToken)
    {
        var db = await redis.DatabaseAsync().ConfigureAwait(false);
        await db.ScriptEvaluateAsync(AddScript, [Key(session)], [session.Holder, session.Claim, TtlMs, RoomField + room]).ConfigureAwait(false);
    }

    public async Task RemoveRoomAsync(SessionRef session, string room, CancellationToken cancellationToken)
    {
        var db = await redis.DatabaseAsync().ConfigureAwait(false);
        await db.ScriptEvaluateAsync(RemoveScript, [Key(session)], [session.Holder, session.Claim, RoomField + room]).ConfigureAwait(false);
    }

    public async Task TouchAsync(IReadOnlyCollection<(SessionRef Session, IReadOnlyCollection<string> Rooms)> sessions, CancellationToken cancellationToken)
    {
        if (sessions.Count == 0)
        {
            return;
        }

        var db = await redis.DatabaseAsync().ConfigureAwait(false);
        var batch = db.CreateBatch();
        var pending = new List<Task>(sessions.Count);
        foreach (var (session, rooms) in sessions)
        {
            RedisValue[] values = [session.Holder, session.Claim, TtlMs, .. rooms.Select(room => (RedisValue)(RoomField + room))];
            pending.Add(batch.ScriptEvaluateAsync(TouchScript, [Key(session)], values));
        }

        batch.Execute();
        await Task.WhenAll(pending).ConfigureAwait(false);
    }

    private RedisKey Key(SessionRef session) => _keys.Session(session.Owner, session.Session);

    /// <summary>The session's rooms and last-seen time; null when nothing but a claim is there.</summary>
    private static SessionState? Read(HashEntry[] fields)
    {
        var rooms = new List<string>(fields.Length);
        var seen = DateTimeOffset.UnixEpoch;
        var remembered = false;
        foreach (var field in fields)
        {
            var name = (string)field.Name!;
            if (name.StartsWith(RoomField, StringComparison.Ordinal))
            {
                rooms.Add(name[RoomField.Length..]);
                remembered = true;
            }
            else if (name == SeenField)
            {
                seen = DateTimeOffset.FromUnixTimeMilliseconds(long.Parse((string)field.Value!, CultureInfo.InvariantCulture));
                remembered = true;
            }
        }

        return remembered ? new SessionState(rooms, seen) : null;
    }
}
