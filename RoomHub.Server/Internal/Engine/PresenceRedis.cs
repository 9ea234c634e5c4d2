using Microsoft.Extensions.Options;
using RoomHub.Contracts;
using StackExchange.Redis;

namespace RoomHub.Server.Internal.Engine;

/// <summary>
/// Presence in Redis: one sorted set per room (<see cref="RedisKeys.Presence"/>) whose members are
/// <c>{connectionId}\n{user}</c> scored by their expiry (unix ms, by Redis's clock, so that instances whose clocks
/// disagree still agree on who is present: see <see cref="RedisClock"/>). Reads drop expired members first, so a
/// crashed instance's members vanish one TTL after its last heartbeat; the key itself expires when nobody refreshes it.
/// </summary>
internal sealed class PresenceRedis(RedisConnection redis, IOptions<RoomHubOptions> options) : IPresenceStore
{
    // KEYS[1]: the room's set. ARGV: TTL (ms), members... Each gets the expiry one TTL from now; the key lives two.
    // Members go in ZADDs of 500 (a ZADD per member costs Redis several times more; unpack takes a few thousand values).
    private const string AddScript = RedisClock.NowLua + "\n" + """
        local ttl = tonumber(ARGV[1])
        local expiry = tostring(now + ttl)
        local batch = {}
        for i = 2, #ARGV do
          batch[#batch + 1] = expiry
          batch[#batch + 1] = ARGV[i]
          if #batch == 1000 then
            redis.call('ZADD', KEYS[1], unpack(batch))
            batch = {}
          end
        end
        if #batch > 0 then redis.call('ZADD', KEYS[1], unpack(batch)) end
        redis.call('PEXPIRE', KEYS[1], 2 * ttl)
        return 1
        """;

    // KEYS[1]: the room's set. Drops the members whose expiry has passed and returns the others.
    private const string ReadScript = RedisClock.NowLua + "\n" + """
        redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
        return redis.call('ZRANGE', KEYS[1], 0, -1)
        """;

    private readonly RedisKeys _keys = new(redis.Prefix);
    private readonly long _ttlMs = (long)options.Value.Presence.Ttl.TotalMilliseconds;

    public async Task AddAsync(string room, PresenceMember member, CancellationToken cancellationToken)
    {
        var db = await redis.DatabaseAsync().ConfigureAwait(false);
        await db.ScriptEvaluateAsync(AddScript, [_keys.Presence(room)], [_ttlMs, Encode(member)]).ConfigureAwait(false);
    }

    public async Task RemoveAsync(string room, PresenceMember member, CancellationToken cancellationToken)
    {
        var db = await redis.DatabaseAsync().ConfigureAwait(false);
        await db.SortedSetRemoveAsync(_keys.Presence(room), Encode(member)).ConfigureAwait(false);
    }

    public async Task RefreshAsync(IReadOnlyCollection<(string Room, PresenceMember Member)> members, CancellationToken cancellationToken)
    {
        if (members.Count == 0)
        {
            return;
        }

        var db = await redis.DatabaseAsync().ConfigureAwait(false);
        var batch = db.CreateBatch();
        var pending = new List<Task>();
        foreach (var group in members.GroupBy(m => m.Room, StringComparer.Ordinal))
        {
            RedisValue[] values = [_ttlMs, .. group.Select(m => Encode(m.Member))];
            pending.Add(batch.ScriptEvaluateAsync(AddScript, [_keys.Presence(group.Key)], values));
        }

        batch.Execute();
        await Task.WhenAll(pending).ConfigureAwait(false);
    }

    public async Task<RoomPresence> GetAsync(string room, CancellationToken cancellationToken)
    {
        var db = await redis.DatabaseAsync().ConfigureAwait(false);
        var members = (RedisValue[])(await db.ScriptEvaluateAsync(ReadScript, [_keys.Presence(room)]).ConfigureAwait(false))!;
        var users = members.Select(m => Decode(m).User).OfType<string>().Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToArray();
        return new RoomPresence(room, members.Length, users);
    }

    private static RedisValue Encode(PresenceMember member) => member.ConnectionId + "\n" + member.User;

    private static PresenceMember Decode(RedisValue value)
    {
        var text = (string)value!;
        var newline = text.IndexOf('\n', StringComparison.Ordinal);
        var user = text[(newline + 1)..];
        return new PresenceMember(text[..newline], user.Length == 0 ? null : user);
    }
}
