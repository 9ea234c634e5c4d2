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
    /// Default (unset): six times <see cref="MaxMessageBytes"/> plus 1 KiB, so that every message within the limit fits
    /// however its JSON escapes it (<c>\u0001</c> is six bytes for one, <c>\u00e9</c> six for two: encoders that escape all
    /// non-ASCII text are common), and an over-long message is answered with an error instead of a close.
    /// </summary>
    public long? MaxReceiveMessageSize { get; set; }

    /// <summary>Bounds of room history.</summary>
    public HistoryOptions History { get; set; } = new();

    /// <summary>Presence settings.</summary>
    public PresenceOptions Presence { get; set; } = new();

    /// <summary>Session settings.</summary>
    public RoomSessionOptions Sessions { get; set; } = new();

    /// <summary>
    /// How long a Redis command may take before it fails. Default 1.5 seconds, so that a send fails within 2 seconds when
    /// Redis is unreachable instead of hanging.
    /// </summary>
    public TimeSpan RedisOperationTimeout { get; set; } = TimeSpan.FromSeconds(1.5);

    /// <summary>
    /// How long after its store (which gives it its id) a message's publish may still reach Redis: one published later
    /// than messages stored after it reaches members after them. Twice the operation timeout, which a store and a
    /// publish each stay within.
    /// </summary>
    internal TimeSpan PublishLag => 2 * RedisOperationTimeout;

    /// <summary>
    /// How long a graceful drain (on SIGTERM) may take: clients are asked to reconnect elsewhere across most of it,
    /// then the process exits. Default 30 seconds. Keep the orchestrator's grace period longer.
    /// </summary>
    public TimeSpan DrainTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>In how many waves the drain closes connections. Default 10.</summary>
    public int DrainWaves { get; set; } = 10;

    /// <summary>Whether SIGTERM and Ctrl+C start a graceful drain (default) rather than an immediate stop.</summary>
    public bool DrainOnSignal { get; set; } = true;

    /// <summary>
    /// How many of one connection's calls may be under way at once. Default 16. Sends overlap their round trips to Redis
    /// up to this depth and still reach the room in the order they were sent; any other call waits for the calls before
    /// it. 1 runs a connection's calls strictly one after another.
    /// </summary>
    public int SendPipelineDepth { get; set; } = 16;

    /// <summary>
    /// How many sends one instance works on at once, across all its connections. A send beyond it fails at once with
    /// <c>OVERLOADED</c> (nothing stored, nothing delivered), so that an instance given more than it can do answers
    /// part of it quickly instead of falling behind on all of it until its Redis commands time out. Default 1,000.
    /// </summary>
    public int MaxSendsInFlight { get; set; } = 1000;

    /// <summary>
    /// Whether the instance compacts its heap once, when it falls quiet after a burst of connects (at least 1,000 since
    /// the last time, then 30 s of allocating next to nothing, at most every 10 minutes), giving back the memory the
    /// burst left between its connections' objects. The compaction pauses the process, about 0.5 s at 300 MB of heap
    /// on 2 cores. Default <see langword="true"/>.
    /// </summary>
    public bool CompactWhenIdle { get; set; } = true;

    /// <summary>Settings of the legacy raw-JSON WebSocket endpoint.</summary>
    public LegacyEndpointOptions Legacy { get; set; } = new();

    internal long EffectiveMaxReceiveMessageSize => MaxReceiveMessageSize ?? 6L * MaxMessageBytes + 1024;

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

/// <summary>The bounds of room history (<c>RoomHub:History</c>).</summary>
public sealed class HistoryOptions
{
    /// <summary>The most messages a room keeps. Default 1,000.</summary>
    public int MaxLength { get; set; } = RoomLimits.DefaultHistoryLength;

    /// <summary>How long a message is kept. Default 24 hours. A room idle for longer leaves no trace.</summary>
    public TimeSpan MaxAge { get; set; } = TimeSpan.FromHours(24);

    /// <summary>
    /// The most bytes one history or resume answer takes on the client's wire: the newest messages that fit are sent
    /// (always at least one). A resume whose missed messages do not all fit answers <c>recovered: false</c>. The store is read
    /// from the newest message back and no further than this many bytes of text. Default 1 MiB.
    /// </summary>
    public int MaxAnswerBytes { get; set; } = 1024 * 1024;
}

/// <summary>Presence settings (<c>RoomHub:Presence</c>).</summary>
public sealed class PresenceOptions
{
    /// <summary>How long a member outlives its instance's last heartbeat. Default 15 seconds; heartbeats run at a third of it.</summary>
    public TimeSpan Ttl { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>
    /// Room name patterns (<c>*</c> matches any run of characters) whose members are told of joins and leaves with
    /// <c>MemberJoined</c>/<c>MemberLeft</c>. Empty by default: in a room of N members each join costs N messages.
    /// </summary>
    public List<string> EventRooms { get; set; } = [];

    internal TimeSpan HeartbeatInterval => Ttl / 3;
}

/// <summary>Session settings (<c>RoomHub:Sessions</c>).</summary>
public sealed class RoomSessionOptions
{
    /// <summary>How long a session's rooms are kept after its last connection closed. Default 5 minutes.</summary>
    public TimeSpan Ttl { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// When a session reconnects, re-send from history the messages of its rooms since this long before its previous
    /// connection was last known alive, so that nothing sent while it was away is missed (some may arrive twice, with
    /// the same id). Default 35 seconds: the 30-second client timeout plus a margin. Zero turns replay off.
    /// </summary>
    public TimeSpan ReplayWindow { get; set; } = TimeSpan.FromSeconds(35);
}
