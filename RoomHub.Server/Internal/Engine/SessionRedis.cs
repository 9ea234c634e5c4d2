using System.Globalization;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace RoomHub.Server.Internal.Engine;

/// <summary>
/// Sessions in Redis: one hash per session (<see cref="RedisKeys.Session"/>) with a field <c>r:{room}</c> per room and
/// <c>seen</c> (unix ms); every write restarts the key's TTL.
/// </summary>
internal sealed class SessionRedis(RedisConnection redis, IOptions<RoomHubOptions> options) : ISessionStore
{
    private const string RoomField = "r:";
    private const string SeenField = "seen";

    private readonly RedisKeys _keys = new(redis.Prefix);
    private readonly TimeSpan _ttl = options.Value.Sessions.Ttl;

    public async Task<SessionState?> GetAsync(string owner, string session, CancellationToken cancellationToken)
    {
        var db = await DatabaseAsync().ConfigureAwait(false);
        var fields = await db.HashGetAllAsync(_keys.Session(owner, session)).ConfigureAwait(false);
        if (fields.Length == 0)
        {
            return null;
        }

        var rooms = new List<string>(fields.Length);
        var seen = DateTimeOffset.UnixEpoch;
        foreach (var field in fields)
        {
            var name = (string)field.Name!;
            if (name.StartsWith(RoomField, StringComparison.Ordinal))
            {
                rooms.Add(name[RoomField.Length..]);
            }
            else if (name == SeenField)
            {
                seen = DateTimeOffset.FromUnixTimeMilliseconds(long.Parse((string)field.Value!, CultureInfo.InvariantCulture));
            }
        }

        return new SessionState(rooms, seen);
    }

    public async Task AddRoomAsync(string owner, string session, string room, CancellationToken cancellationToken)
    {
        var db = await DatabaseAsync().ConfigureAwait(false);
        var key = _keys.Session(owner, session);
        await Task.WhenAll(db.HashSetAsync(key, RoomField + room, 1), db.KeyExpireAsync(key, _ttl)).ConfigureAwait(false);
    }

    public async Task RemoveRoomAsync(string owner, string session, string room, CancellationToken cancellationToken)
    {
        var db = await DatabaseAsync().ConfigureAwait(false);
        await db.HashDeleteAsync(_keys.Session(owner, session), RoomField + room).ConfigureAwait(false);
    }

    public async Task TouchAsync(IReadOnlyCollection<(string Owner, string Session, IReadOnlyCollection<string> Rooms)> sessions, DateTimeOffset seen, CancellationToken cancellationToken)
    {
        if (sessions.Count == 0)
        {
            return;
        }

        var db = await DatabaseAsync().ConfigureAwait(false);
        var batch = db.CreateBatch();
        var pending = new List<Task>(sessions.Count * 2);
        var seenValue = seen.ToUnixTimeMilliseconds();
        foreach (var (owner, session, rooms) in sessions)
        {
            var key = _keys.Session(owner, session);
            var fields = rooms.Select(room => new HashEntry(RoomField + room, 1)).Append(new HashEntry(SeenField, seenValue)).ToArray();
            pending.Add(batch.HashSetAsync(key, fields));
            pending.Add(batch.KeyExpireAsync(key, _ttl));
        }

        batch.Execute();
        await Task.WhenAll(pending).ConfigureAwait(false);
    }

    private async Task<IDatabase> DatabaseAsync() => (await redis.GetAsync().ConfigureAwait(false)).GetDatabase();
}
