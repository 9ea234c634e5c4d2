namespace RoomHub.Tests.Infrastructure;

/// <summary>
/// Two or more real RoomHub instances sharing the run's real Redis under a channel prefix of their own, so that
/// clusters of different tests never hear each other.
/// </summary>
public sealed class RoomHubCluster : IAsyncDisposable
{
    private RoomHubCluster(RedisServer redis, string prefix, IReadOnlyList<RoomHubInstance> instances)
    {
        Redis = redis;
        Prefix = prefix;
        Instances = instances;
    }

    public RedisServer Redis { get; }

    public string Prefix { get; }

    public IReadOnlyList<RoomHubInstance> Instances { get; }

    public RoomHubInstance this[int index] => Instances[index];

    public static async Task<RoomHubCluster> StartAsync(int instances = 2, IDictionary<string, string?>? settings = null, RedisServer? redis = null)
    {
        redis ??= await RedisServer.Shared;
        var prefix = "test-" + Guid.NewGuid().ToString("N")[..12];
        var all = new Dictionary<string, string?>(settings ?? new Dictionary<string, string?>())
        {
            ["RoomHub:Redis"] = redis.Url,
            ["RoomHub:ChannelPrefix"] = prefix,
        };

        var started = await Task.WhenAll(Enumerable.Range(0, instances).Select(_ => RoomHubInstance.StartAsync(all)));
        return new RoomHubCluster(redis, prefix, started);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var instance in Instances)
        {
            await instance.DisposeAsync();
        }
    }
}
