using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace RoomHub.Server.Internal;

/// <summary>
/// The one Redis connection of an instance, shared by the SignalR backplane, the health check and the stores,
/// so that an instance holds a single multiplexer (one interactive and one subscriber socket).
/// </summary>
internal sealed class RedisConnection : IAsyncDisposable
{
    private readonly Lazy<Task<IConnectionMultiplexer>> _connection;
    private readonly ILogger<RedisConnection> _logger;

    public RedisConnection(IOptions<RoomHubOptions> options, ILogger<RedisConnection> logger)
    {
        _logger = logger;
        var settings = options.Value;
        Prefix = settings.ChannelPrefix;
        Configuration = RedisUrl.Parse(settings.Redis ?? throw new InvalidOperationException("Redis is not configured."));
        Configuration.ChannelPrefix = RedisChannel.Literal(settings.ChannelPrefix + ":");

        // Honest failure: while Redis is unreachable, commands fail at once instead of queueing; a slow Redis fails them
        // after the operation timeout; reconnection is attempted often, so service resumes soon after Redis returns.
        var timeout = (int)settings.RedisOperationTimeout.TotalMilliseconds;
        Configuration.BacklogPolicy = BacklogPolicy.FailFast;
        Configuration.AsyncTimeout = timeout;
        Configuration.SyncTimeout = timeout;
        Configuration.ConnectTimeout = Math.Max(timeout, 1000);
        Configuration.ConnectRetry = 1;
        Configuration.ReconnectRetryPolicy = new LinearRetry(250);
        Configuration.HeartbeatInterval = TimeSpan.FromMilliseconds(250);

        // The .NET thread pool, not the library's dedicated worker threads: those spin while they wait for work, and on
        // a small machine that spinning costs more CPU than the Redis traffic itself.
        Configuration.SocketManager = SocketManager.ThreadPool;
        _connection = new Lazy<Task<IConnectionMultiplexer>>(ConnectAsync);
    }

    /// <summary>Raised when the interactive or the subscription connection to Redis is lost.</summary>
    public event Action<ConnectionType>? Failed;

    /// <summary>Raised when it is back.</summary>
    public event Action<ConnectionType>? Restored;

    public ConfigurationOptions Configuration { get; }

    /// <summary>The prefix of every key and channel this instance uses.</summary>
    public string Prefix { get; }

    public Task<IConnectionMultiplexer> GetAsync() => _connection.Value;

    /// <summary>
    /// The database every store and script uses, once the connection is made: at once (no allocation, nothing awaited)
    /// when it is, so a caller issues its command in the same step.
    /// </summary>
    public ValueTask<IDatabase> DatabaseAsync()
    {
        var connecting = _connection.Value;
        return connecting.IsCompletedSuccessfully ? new(connecting.Result.GetDatabase()) : AwaitAsync(connecting);

        static async ValueTask<IDatabase> AwaitAsync(Task<IConnectionMultiplexer> connecting) => (await connecting.ConfigureAwait(false)).GetDatabase();
    }

    /// <summary>The connection if it has been made, without making it.</summary>
    public IConnectionMultiplexer? Made => _connection.IsValueCreated && _connection.Value.IsCompletedSuccessfully ? _connection.Value.Result : null;

    /// <summary>Whether Redis can be reached right now (false until the first connection is made).</summary>
    public bool IsConnected => Made?.IsConnected == true;

    private async Task<IConnectionMultiplexer> ConnectAsync()
    {
        var endpoints = string.Join(",", Configuration.EndPoints);
        RedisLog.Connecting(_logger, endpoints);
        var multiplexer = await ConnectionMultiplexer.ConnectAsync(Configuration).ConfigureAwait(false);
        multiplexer.ConnectionFailed += (_, e) =>
        {
            RedisLog.ConnectionFailed(_logger, e.EndPoint?.ToString(), e.FailureType, e.Exception);
            Failed?.Invoke(e.ConnectionType);
        };
        multiplexer.ConnectionRestored += (_, e) =>
        {
            RedisLog.ConnectionRestored(_logger, e.EndPoint?.ToString());
            Restored?.Invoke(e.ConnectionType);
        };
        if (!multiplexer.IsConnected)
        {
            RedisLog.NotYetConnected(_logger, endpoints);
        }

        return multiplexer;
    }

    public async ValueTask DisposeAsync()
    {
        if (_connection.IsValueCreated)
        {
            try
            {
                var multiplexer = await _connection.Value.ConfigureAwait(false);
                await multiplexer.DisposeAsync().ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is RedisException or ObjectDisposedException)
            {
                // Shutting down: a connection that never came up has nothing to release.
            }
        }
    }
}

internal static partial class RedisLog
{
    [LoggerMessage(1001, LogLevel.Information, "Connecting to Redis at {Endpoints}.")]
    public static partial void Connecting(ILogger logger, string endpoints);

    [LoggerMessage(1002, LogLevel.Warning, "Redis at {Endpoints} is not reachable yet; retrying in the background.")]
    public static partial void NotYetConnected(ILogger logger, string endpoints);

    [LoggerMessage(1003, LogLevel.Warning, "Lost the Redis connection to {Endpoint} ({FailureType}).")]
    public static partial void ConnectionFailed(ILogger logger, string? endpoint, ConnectionFailureType failureType, Exception? exception);

    [LoggerMessage(1004, LogLevel.Information, "Redis connection to {Endpoint} restored.")]
    public static partial void ConnectionRestored(ILogger logger, string? endpoint);
}
