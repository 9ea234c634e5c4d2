using System.Globalization;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace RoomHub.Server.Internal.Engine;

/// <summary>
/// Sessions in Redis: one hash per session (<see cref="RedisKeys.Session"/>) with a field <c>r:{room}</c> per room,
/// <c>seen</c> (unix ms), <c>holder</c> (the connection that claimed it last) and <c>claimed</c> (when, unix ms); every
/// write but a removal restarts the key's TTL. Writes are scripts that do nothing when another connection holds the
/// session, unless it claimed the session before the writer did.
/// </summary>
internal sealed class SessionRedis(RedisConnection redis, IOptions<RoomHubOptions> options) : ISessionStore
{
    private const string RoomField = "r:";
    private const string SeenField = "seen";

    // KEYS[1]: the session. ARGV[1]: the writing connection, ARGV[2]: when it claimed the session (unix ms). Every
    // write script starts here: a record without a holder (lost, then written again) is taken by its first writer; one
    // held by another connection is written only by a connection that claimed the session later (newer is true).
    private const string Holding = """
        local holder = redis.call('HGET', KEYS[1], 'holder')
        local newer = false
        if holder and holder ~= ARGV[1] then
          newer = tonumber(ARGV[2]) > tonumber(redis.call('HGET', KEYS[1], 'claimed') or '0')
          if not newer then return 0 end
        elseif not holder then
          redis.call('HSET', KEYS[1], 'holder', ARGV[1], 'claimed', ARGV[2])
        end
        """;

    // ARGV: holder, claimed, TTL (ms).
    private const string ClaimScript = """
        redis.call('HSET', KEYS[1], 'holder', ARGV[1], 'claimed', ARGV[2])
        redis.call('PEXPIRE', KEYS[1], ARGV[3])
        return redis.call('HGETALL', KEYS[1])
        """;

    // ARGV: holder, claimed, TTL (ms), room field.
    private const string AddScript = Holding + "\n" + """
        redis.call('HSET', KEYS[1], ARGV[4], 1)
        redis.call('PEXPIRE', KEYS[1], ARGV[3])
        return 1
        """;

    // ARGV: holder, claimed, room field.
    private const string RemoveScript = Holding + "\n" + """
        redis.call('HDEL', KEYS[1], ARGV[3])
        return 1
        """;

    // ARGV: holder, claimed, TTL (ms), seen (unix ms), room fields... A newer connection takes the session back with
    // its own rooms only.
    private const string TouchScript = Holding + "\n" + """
        if newer then
          local fields = redis.call('HKEYS', KEYS[1])
          for _, field in ipairs(fields) do
            if string.sub(field, 1, 2) == 'r:' then redis.call('HDEL', KEYS[1], field) end
          end
          redis.call('HSET', KEYS[1], 'holder', ARGV[1], 'claimed', ARGV[2])
        end
        redis.call('HSET', KEYS[1], 'seen', ARGV[4])
        for i = 5, #ARGV do redis.call('HSET', KEYS[1], ARGV[i], 1) end
        redis.call('PEXPIRE', KEYS[1], ARGV[3])
        return 1
        """;

    private readonly RedisKeys _keys = new(redis.Prefix);
    private readonly TimeSpan _ttl = options.Value.Sessions.Ttl;

    private long TtlMs => (long)_ttl.TotalMilliseconds;

    public async Task<SessionState?> GetAsync(string owner, string session, CancellationToken cancellationToken)
    {
        var db = await DatabaseAsync().ConfigureAwait(false);
        return Read(await db.HashGetAllAsync(_keys.Session(owner, session)).ConfigureAwait(false));
    }

    public async Task<SessionState?> ClaimAsync(SessionRef session, CancellationToken cancellationToken)
    {
        var db = await DatabaseAsync().ConfigureAwait(false);
        var result = (RedisValue[])(await db.ScriptEvaluateAsync(ClaimScript, [Key(session)], [session.Holder, session.Claimed, TtlMs]).ConfigureAwait(false))!;
        var fields = new HashEntry[result.Length / 2];
        for (var i = 0; i < fields.Length; i++)
        {
            fields[i] = new HashEntry(result[2 * i], result[(2 * i) + 1]);
        }

        return Read(fields);
    }

    public async Task AddRoomAsync(SessionRef session, string room, CancellationToken cancellationToken)
    {
        var db = await DatabaseAsync().ConfigureAwait(false);
        await db.ScriptEvaluateAsync(AddScript, [Key(session)], [session.Holder, session.Claimed, TtlMs, RoomField + room]).ConfigureAwait(false);
    }

    public async Task RemoveRoomAsync(SessionRef session, string room, CancellationToken cancellationToken)
    {
        var db = await DatabaseAsync().ConfigureAwait(false);
        await db.ScriptEvaluateAsync(RemoveScript, [Key(session)], [session.Holder, session.Claimed, RoomField + room]).ConfigureAwait(false);
    }

    public async Task TouchAsync(IReadOnlyCollection<(SessionRef Session, IReadOnlyCollection<string> Rooms)> sessions, DateTimeOffset seen, CancellationToken cancellationToken)
    {
        if (sessions.Count == 0)
        {
            return;
        }

        var db = await DatabaseAsync().ConfigureAwait(false);
        var batch = db.CreateBatch();
        var pending = new List<Task>(sessions.Count);
        var seenValue = seen.ToUnixTimeMilliseconds();
        foreach (var (session, rooms) in sessions)
        {
            RedisValue[] values = [session.Holder, session.Claimed, TtlMs, seenValue, .. rooms.Select(room => (RedisValue)(RoomField + room))];
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

    private async Task<IDatabase> DatabaseAsync() => (await redis.GetAsync().ConfigureAwait(false)).GetDatabase();
}
