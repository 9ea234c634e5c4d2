using RoomHub.Contracts;

namespace RoomHub.Server;

/// <summary>
/// RoomHub settings, bound from the <c>RoomHub</c> configuration section and validated at start.
/// </summary>
public sealed class RoomHubOptions
{
    /// <summary>The configuration section the options are bound from.</summary>
    public const string SectionName = "RoomHub";

    /// <summary>
    /// Redis to use as the backplane: a <c>redis://[user:password@]host:port[/db]</c> or <c>rediss://</c> URL, or a
    /// StackExchange.Redis configuration string. Empty (the default) runs a single instance with everything in memory.
    /// The <c>REDIS_URL</c> environment variable is used when this is not set.
    /// </summary>
    public string? Redis { get; set; }

    /// <summary>Prefix of every Redis channel and key, so that several applications can share one Redis. Default <c>roomhub</c>.</summary>
    public string ChannelPrefix { get; set; } = "roomhub";

    /// <summary>The longest accepted message text, in UTF-8 bytes. Default 65,536 (64 KiB).</summary>
    public int MaxMessageBytes { get; set; } = RoomLimits.DefaultMaxMessageBytes;

    /// <summary>
    /// The largest single frame a connection may send, in bytes; a bigger frame closes the connection.
    /// Default (unset): twice <see cref="MaxMessageBytes"/>, so an over-long message is answered with an error instead.
    /// </summary>
    public long? MaxReceiveMessageSize { get; set; }

    /// <summary>Settings of the legacy raw-JSON WebSocket endpoint.</summary>
    public LegacyEndpointOptions Legacy { get; set; } = new();

    internal long EffectiveMaxReceiveMessageSize => MaxReceiveMessageSize ?? 2L * MaxMessageBytes;

    internal bool UsesRedis => !string.IsNullOrWhiteSpace(Redis);
}

/// <summary>Settings of the legacy raw-JSON WebSocket endpoint (<c>RoomHub:Legacy</c>).</summary>
public sealed class LegacyEndpointOptions
{
    /// <summary>Serve legacy clients at <c>/</c>, <c>/notification</c> and any other unmapped path. Default <see langword="true"/>.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>How often the server pings an idle legacy client. Default 15 seconds.</summary>
    public TimeSpan KeepAliveInterval { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>How long a ping may go unanswered before the connection is dropped as dead. Default 30 seconds.</summary>
    public TimeSpan KeepAliveTimeout { get; set; } = TimeSpan.FromSeconds(30);
}
