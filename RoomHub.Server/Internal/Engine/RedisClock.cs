using StackExchange.Redis;

namespace RoomHub.Server.Internal.Engine;

/// <summary>
/// Redis's clock: the one that dates every message id (XADD with <c>*</c>). Every time that is compared with message
/// ids, or with a time another instance wrote, is read from it: a presence entry's expiry, a session's last-seen time,
/// the start of what a backplane outage may have dropped. So instances whose clocks disagree still agree on who is
/// present and on what a returning client missed.
/// </summary>
internal static class RedisClock
{
    /// <summary>Lua that sets a local <c>now</c> to Redis's time in unix milliseconds.</summary>
    public const string NowLua = """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        """;

    /// <summary>Redis's time now, to the millisecond.</summary>
    public static async Task<DateTimeOffset> NowAsync(IDatabaseAsync db)
    {
        var time = (RedisResult[])(await db.ExecuteAsync("TIME").ConfigureAwait(false))!;
        return DateTimeOffset.FromUnixTimeMilliseconds(((long)time[0] * 1000) + ((long)time[1] / 1000));
    }
}
