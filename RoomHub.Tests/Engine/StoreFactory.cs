using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using RoomHub.Server;
using RoomHub.Server.Internal;
using RoomHub.Tests.Infrastructure;

namespace RoomHub.Tests.Engine;

/// <summary>Builds a store's Redis connection on the run's real Redis, under a key prefix of its own.</summary>
internal static class RedisStores
{
    public static async Task<RedisConnection> ConnectAsync(RoomHubOptions options)
    {
        var redis = await RedisServer.Shared;
        options.Redis = redis.Url;
        options.ChannelPrefix = "conformance-" + Guid.NewGuid().ToString("N")[..12];
        return new RedisConnection(Options.Create(options), NullLogger<RedisConnection>.Instance);
    }
}
