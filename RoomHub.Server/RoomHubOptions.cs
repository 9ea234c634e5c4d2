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

    internal long EffectiveMaxReceiveMessageSize => MaxReceiveMessageSize ?? 2L * MaxMessageBytes;

    internal bool UsesRedis => !string.IsNullOrWhiteSpace(Redis);
}
