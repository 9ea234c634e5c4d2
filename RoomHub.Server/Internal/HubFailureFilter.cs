using Microsoft.AspNetCore.SignalR;

namespace RoomHub.Server.Internal;

/// <summary>
/// Logs the hub calls that fail for a reason other than an answer to the client. SignalR logs every failed call at
/// Error with its stack trace, including the <see cref="HubException"/>s that are RoomHub's documented answers (a bad
/// room, a rate limit, <c>OVERLOADED</c>), so under load or abuse the log would cost more than the calls; that log is
/// turned off by default (see <see cref="RoomHubExtensions"/>) and this filter keeps the part of it that means a fault.
/// </summary>
internal sealed partial class HubFailureFilter(ILogger<HubFailureFilter> logger) : IHubFilter
{
    public async ValueTask<object?> InvokeMethodAsync(HubInvocationContext context, Func<HubInvocationContext, ValueTask<object?>> next)
    {
        try
        {
            return await next(context).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not HubException && !Cancellation.Requested(ex))
        {
            LogFailed(logger, context.HubMethodName, context.Context.ConnectionId, ex);
            throw;
        }
    }

    [LoggerMessage(1020, LogLevel.Error, "Hub method {HubMethod} failed on connection {ConnectionId}.")]
    private static partial void LogFailed(ILogger logger, string hubMethod, string connectionId, Exception exception);
}
