namespace RoomHub.Server.Internal.Security;

/// <summary>Security events (4000–4099). Never logs a token or a query string.</summary>
internal static partial class SecurityLog
{
    [LoggerMessage(4001, LogLevel.Information, "Refused a connection from {Address}: origin {Origin} is not allowed.")]
    public static partial void OriginRefused(ILogger logger, string? address, string origin);

    [LoggerMessage(4002, LogLevel.Information, "Refused a connection from {Address}: no Origin header, and RoomHub:Security:AllowRequestsWithoutOrigin is off.")]
    public static partial void MissingOriginRefused(ILogger logger, string? address);

    [LoggerMessage(4003, LogLevel.Information, "Refused an unauthenticated connection from {Address}.")]
    public static partial void Unauthenticated(ILogger logger, string? address);

    [LoggerMessage(4004, LogLevel.Warning, "Refused a connection from {Address}: {Count} connections are open, the limit is {Limit}.")]
    public static partial void TooManyConnections(ILogger logger, string? address, int count, int limit);

    [LoggerMessage(4005, LogLevel.Warning, "Refused a connection from {Address}: it has {Count} connections open, the limit per address is {Limit}.")]
    public static partial void TooManyConnectionsFromAddress(ILogger logger, string? address, int count, int limit);

    [LoggerMessage(4006, LogLevel.Warning, "Connection {ConnectionId} dropped: it does not read ({Reason}).")]
    public static partial void SlowConsumerDropped(ILogger logger, string connectionId, string reason);

    [LoggerMessage(4007, LogLevel.Information, "Connection {ConnectionId} closed: its authentication expired.")]
    public static partial void AuthenticationExpired(ILogger logger, string connectionId);

    [LoggerMessage(4008, LogLevel.Debug, "Connection {ConnectionId}: {Method} refused with {Code}.")]
    public static partial void LimitHit(ILogger logger, string connectionId, string method, string code);
}
