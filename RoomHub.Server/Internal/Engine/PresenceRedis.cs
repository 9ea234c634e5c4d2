using Microsoft.Extensions.Options;
using RoomHub.Contracts;
using StackExchange.Redis;

namespace RoomHub.Server.Internal.Engine;

/// <summary>
/// Presence in Redis: one sorted set per room (<see cref="RedisKeys.Presence"/>) whose members are
/// <c>{connectionId}\n{user}</c> scored by their expiry (unix ms). Reads drop expired members first, so a crashed
/// instance's members vanish one TTL after its last heartbeat; the key itself expires when nobody refreshes it.
/// </summary>
internal sealed class PresenceRedis(RedisConnection redis, IOptions<RoomHubOptions> options, TimeProvider time) : IPresenceStore
{
    private readonly RedisKeys _keys = new(redis.Prefix);
    private readonly TimeSpan _ttl = options.Value.Presence.Ttl;

    public async Task AddAsync(string room, PresenceMember member, CancellationToken cancellationToken)
    {
        var db = await DatabaseAsync().ConfigureAwait(false);
        var key = _keys.Presence(room);
        await Task.WhenAll(
            db.SortedSetAddAsync(key, Encode(member), Expiry()),
            db.KeyExpireAsync(key, 2 * _ttl)).ConfigureAwait(false);
    }

    public async Task RemoveAsync(string room, PresenceMember member, CancellationToken cancellationToken)
    {
        var db = await DatabaseAsync().ConfigureAwait(false);
        await db.SortedSetRemoveAsync(_keys.Presence(room), Encode(member)).ConfigureAwait(false);
    }

    public async Task RefreshAsync(IReadOnlyCollection<(string Room, PresenceMember Member)> members, CancellationToken cancellationToken)
    {
        if (members.Count == 0)
        {
            return;
        }

        var db = await DatabaseAsync().ConfigureAwait(false);
        var expiry = Expiry();
        var batch = db.CreateBatch();
        var pending = new List<Task>(members.Count * 2);
        foreach (var group in members.GroupBy(m => m.Room, StringComparer.Ordinal))
        {
            var key = _keys.Presence(group.Key);
            pending.Add(batch.SortedSetAddAsync(key, group.Select(m => new SortedSetEntry(Encode(m.Member), expiry)).ToArray()));
            pending.Add(batch.KeyExpireAsync(key, 2 * _ttl));
        }

        batch.Execute();
        await Task.WhenAll(pending).ConfigureAwait(false);
    }

    public async Task<RoomPresence> GetAsync(string room, CancellationToken cancellationToken)
    {
        var db = await DatabaseAsync().ConfigureAwait(false);
        var key = _keys.Presence(room);
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        var members = await db.SortedSetRangeByScoreAsync(key, start: now, stop: double.PositiveInfinity, exclude: Exclude.Start).ConfigureAwait(false);
        _ = db.SortedSetRemoveRangeByScoreAsync(key, double.NegativeInfinity, now, flags: CommandFlags.FireAndForget);

        var users = members.Select(m => Decode(m).User).OfType<string>().Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToArray();
        return new RoomPresence(room, members.Length, users);
    }

    private async Task<IDatabase> DatabaseAsync() => (await redis.GetAsync().ConfigureAwait(false)).GetDatabase();

    private double Expiry() => (time.GetUtcNow() + _ttl).ToUnixTimeMilliseconds();

    private static RedisValue Encode(PresenceMember member) => member.ConnectionId + "\n" + member.User;

    private static PresenceMember Decode(RedisValue value)
    {
        var text = (string)value!;
        var newline = text.IndexOf('\n', StringComparison.Ordinal);
        var user = text[(newline + 1)..];
        return new PresenceMember(text[..newline], user.Length == 0 ? null : user);
    }
}
