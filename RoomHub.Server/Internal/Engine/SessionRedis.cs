using System.Globalization;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace RoomHub.Server.Internal.Engine;

/// <summary>
/// Sessions in Redis: one hash per session (<see cref="RedisKeys.Session"/>) with a field <c>r:{room}</c> per room,
/// <c>seen</c> (unix ms, by Redis's clock) and <c>holder</c> (the connection that claimed it last); every write but a removal restarts
/// the key's TTL. Writes are scripts that do nothing when another connection holds the session.
/// </summary>
internal sealed class SessionRedis(RedisConnection redis, IOptions<RoomHubOptions> options) : ISessionStore
{
    private const string RoomField = "r:";
    private const string SeenField = "seen";

    // KEYS[1]: the session. ARGV[1]: the writing connection. Every write script starts here.
    private const string IfHeld = """
        local holder = redis.call('HGET', KEYS[1], 'holder')
        if holder and holder ~= ARGV[1] then return 0 end
        """;

    // ARGV: holder, TTL (ms).
    private const string ClaimScript = """
        redis.call('HSET', KEYS[1], 'holder', ARGV[1])
        redis.call('PEXPIRE', KEYS[1], ARGV[2])
        return redis.call('HGETALL', KEYS[1])
        """;

    // ARGV: holder, TTL (ms), room field.
    private const string AddScript = IfHeld + "\n" + """
        redis.call('HSET', KEYS[1], ARGV[3], 1)
        redis.call('PEXPIRE', KEYS[1], ARGV[2])
        return 1
        """;

    // ARGV: holder, room field.
    private const string RemoveScript = IfHeld + "\n" + """
        redis.call('HDEL', KEYS[1], ARGV[2])
        return 1
        """;

    // ARGV: holder, TTL (ms), room fields... The session is seen now by Redis's clock (see RedisClock).
    private const string TouchScript = IfHeld + "\n" + RedisClock.NowLua + "\n" + """
        redis.call('HSET', KEYS[1], 'seen', tostring(now))
        for i = 3, #ARGV do redis.call('HSET', KEYS[1], ARGV[i], 1) end
        redis.call('PEXPIRE', KEYS[1], ARGV[2])
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

    public async Task<SessionState?> ClaimAsync(SessionRef session, CancellationToken cancellationToken)
    {
        var db = await redis.DatabaseAsync().ConfigureAwait(false);
        var result = (RedisValue[])(await db.ScriptEvaluateAsync(ClaimScript, [Key(session)], [session.Holder, TtlMs]).ConfigureAwait(false))!;
        var fields = new HashEntry[result.Length / 2];
        for (var i = 0; i < fields.Length; i++)
        {
            fields[i] = new HashEntry(result[2 * i], result[(2 * i) + 1]);
        }

        return Read(fields);
    }

    public async Task AddRoomAsync(SessionRef session, string room, CancellationToken cancellationToken)
    {
        var db = await redis.DatabaseAsync().ConfigureAwait(false);
        await db.ScriptEvaluateAsync(AddScript, [Key(session)], [session.Holder, TtlMs, RoomField + room]).ConfigureAwait(false);
    }

    public async Task RemoveRoomAsync(SessionRef session, string room, CancellationToken cancellationToken)
    {
        var db = await redis.DatabaseAsync().ConfigureAwait(false);
        await db.ScriptEvaluateAsync(RemoveScript, [Key(session)], [session.Holder, RoomField + room]).ConfigureAwait(false);
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
            RedisValue[] values = [session.Holder, TtlMs, .. rooms.Select(room => (RedisValue)(RoomField + room))];
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
