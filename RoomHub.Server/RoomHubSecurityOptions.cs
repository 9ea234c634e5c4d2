namespace RoomHub.Server;

/// <summary>
/// Who may connect, to which rooms, and how much one connection may do. Bound from <c>RoomHub:Security</c> and
/// validated at start. Every default keeps the embedded quick start open (anonymous, any non-browser client) while
/// bounding what one client can cost the others.
/// </summary>
public sealed class RoomHubSecurityOptions
{
    /// <summary>The configuration section the options are bound from.</summary>
    public const string SectionName = "RoomHub:Security";

    /// <summary>JWT bearer authentication. Off unless an authority or a signing key is set.</summary>
    public RoomHubAuthenticationOptions Authentication { get; set; } = new();

    /// <summary>
    /// Browser origins (<c>https://app.example.com</c>) allowed to open a hub or legacy connection. Empty (the default):
    /// only pages served by this server itself (same host and port). <c>*</c> allows every origin.
    /// </summary>
    public List<string> AllowedOrigins { get; set; } = [];

    /// <summary>Whether requests without an <c>Origin</c> header (non-browser clients) may connect. Default <see langword="true"/>.</summary>
    public bool AllowRequestsWithoutOrigin { get; set; } = true;

    /// <summary>
    /// Room rules, tried in order; the first whose pattern matches the room and whose actions include the call decides.
    /// A room no rule matches is open to everyone who may connect. Default: none.
    /// </summary>
    public List<RoomAccessRule> Rooms { get; set; } = [];

    /// <summary>Messages a connection may send per second, on average. Default 100.</summary>
    public int SendsPerSecond { get; set; } = 100;

    /// <summary>Messages a connection may send in a burst, above the average. Default 200.</summary>
    public int SendBurst { get; set; } = 200;

    /// <summary>
    /// Room operations a connection may make per second, on average: subscribe, unsubscribe, resume, history and presence
    /// (each of them reads or writes the room's stores). Default 10.
    /// </summary>
    public int SubscriptionsPerSecond { get; set; } = 10;

    /// <summary>Room operations (see <see cref="SubscriptionsPerSecond"/>) a connection may make in a burst. Default 50.</summary>
    public int SubscriptionBurst { get; set; } = 50;

    /// <summary>Rooms one connection may be in at once. Default 100.</summary>
    public int MaxRoomsPerConnection { get; set; } = 100;

    /// <summary>
    /// Connections this instance accepts in total: WebSockets of both endpoints, and the hub's Server-Sent Events streams
    /// and long polls. Default 10,000.
    /// </summary>
    public int MaxConnections { get; set; } = 10_000;

    /// <summary>Connections (counted as for <see cref="MaxConnections"/>) this instance accepts from one client IP address. Default 100.</summary>
    public int MaxConnectionsPerAddress { get; set; } = 100;

    /// <summary>
    /// Bytes the server may hold for one connection that are written but not yet sent. A write that finds room is queued
    /// even when it fills the queue; a client that lets as many bytes again pile up behind a full queue does not read, and
    /// is dropped. Default 1 MiB.
    /// </summary>
    public int MaxOutboundBufferBytes { get; set; } = 1024 * 1024;

    /// <summary>
    /// Time a connection's outbound queue may stay full (from the write that filled it until the client has read it down
    /// to half) before its client counts as not reading and is dropped. Default 30 s.
    /// </summary>
    public TimeSpan SlowConsumerTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Time a client has to send its HTTP request headers (both endpoints) and the SignalR handshake (hub). Default 10 s.
    /// </summary>
    public TimeSpan HandshakeTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Time a SignalR client may stay silent (its client pings every 15 s by default) before it is dropped, whether or not
    /// it has ever pinged. Default 30 s.
    /// Legacy clients are held to <c>RoomHub:Legacy:KeepAliveTimeout</c> instead.
    /// </summary>
    public TimeSpan ClientTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Time one legacy frame may take from its first to its last byte. Default 30 s.</summary>
    public TimeSpan FrameTimeout { get; set; } = TimeSpan.FromSeconds(30);
}

/// <summary>JWT bearer settings (<c>RoomHub:Security:Authentication</c>).</summary>
public sealed class RoomHubAuthenticationOptions
{
    /// <summary>Every hub and legacy connection must carry a valid token (else 401 at the upgrade). Default <see langword="false"/>.</summary>
    public bool RequireAuthenticatedUser { get; set; }

    /// <summary>OpenID Connect authority whose published keys sign the tokens (<c>https://login.example.com/realm</c>).</summary>
    public string? Authority { get; set; }

    /// <summary>The audience tokens must be issued for. Required with <see cref="Authority"/>; optional with a signing key.</summary>
    public string? Audience { get; set; }

    /// <summary>The issuer tokens must come from, when a signing key is used. Empty: any issuer.</summary>
    public string? Issuer { get; set; }

    /// <summary>A symmetric HMAC-SHA256 key (at least 32 bytes of UTF-8), instead of an authority.</summary>
    public string? SigningKey { get; set; }

    /// <summary>Let an authority be reached over plain HTTP (development only). Default <see langword="false"/>.</summary>
    public bool AllowHttpMetadata { get; set; }

    /// <summary>Close a connection when its token expires. Default <see langword="true"/>.</summary>
    public bool CloseOnAuthenticationExpiration { get; set; } = true;

    /// <summary>Tolerated clock difference when checking token lifetimes. Default 30 s.</summary>
    public TimeSpan ClockSkew { get; set; } = TimeSpan.FromSeconds(30);

    internal bool Enabled => !string.IsNullOrWhiteSpace(Authority) || !string.IsNullOrWhiteSpace(SigningKey);
}

/// <summary>
/// One room rule. <see cref="Pattern"/> is a room name in which <c>*</c> stands for any text and <c>{claim}</c> for the
/// value of that claim of the caller (<c>user:{sub}:*</c>: only the user whose <c>sub</c> is in the name).
/// </summary>
public sealed class RoomAccessRule
{
    /// <summary>The room names the rule covers, e.g. <c>private:*</c> or <c>user:{sub}:*</c>.</summary>
    public string Pattern { get; set; } = "";

    /// <summary>The calls the rule covers. Default both.</summary>
    public RoomActions Actions { get; set; } = RoomActions.Subscribe | RoomActions.Publish;

    /// <summary>Callers must be authenticated. Implied by <see cref="RequireClaim"/> and by a <c>{claim}</c> in the pattern.</summary>
    public bool RequireAuthenticatedUser { get; set; }

    /// <summary>A claim the caller must have: <c>type</c>, or <c>type=value</c> for a given value.</summary>
    public string? RequireClaim { get; set; }

    /// <summary>Refuse everyone: the room exists for server-side use only.</summary>
    public bool Deny { get; set; }
}

/// <summary>The room calls a rule covers.</summary>
[Flags]
public enum RoomActions
{
    /// <summary>None.</summary>
    None = 0,

    /// <summary>Joining the room.</summary>
    Subscribe = 1,

    /// <summary>Sending a message to the room.</summary>
    Publish = 2,
}
