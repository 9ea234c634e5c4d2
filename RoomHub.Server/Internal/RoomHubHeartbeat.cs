using Microsoft.Extensions.Options;
using RoomHub.Server.Internal.Engine;

namespace RoomHub.Server.Internal;

/// <summary>
/// Re-asserts, at a third of the presence TTL, every local connection's presence and every local session: a crashed
/// instance's members then age out of presence, and its sessions' TTL counts from its last heartbeat. It also repairs
/// what a store outage made the stores forget.
/// </summary>
internal sealed partial class RoomHubHeartbeat(
    ConnectionRegistry connections,
    IPresenceStore presence,
    ISessionStore sessions,
    IOptions<RoomHubOptions> options,
    TimeProvider time,
    ILogger<RoomHubHeartbeat> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.Presence.HeartbeatInterval, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                await BeatAsync(stoppingToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Shutting down.
        }
    }

    internal async Task BeatAsync(CancellationToken cancellationToken)
    {
        var snapshot = connections.Snapshot();
        var members = new List<(string Room, PresenceMember Member)>();
        var live = new List<(string Owner, string Session, IReadOnlyCollection<string> Rooms)>();
        foreach (var connection in snapshot)
        {
            var rooms = connection.Rooms();
            members.AddRange(rooms.Select(room => (room, connection.Member)));
            if (connection.Session is { } session)
            {
                live.Add((connection.SessionOwner, session, rooms));
            }
        }

        try
        {
            await presence.RefreshAsync(members, cancellationToken).ConfigureAwait(false);
            await sessions.TouchAsync(live, time.GetUtcNow(), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            LogBeatFailed(logger, members.Count, live.Count, ex);
        }
    }

    [LoggerMessage(2020, LogLevel.Warning, "Heartbeat could not refresh {Members} presence entries and {Sessions} sessions; retrying next beat.")]
    private static partial void LogBeatFailed(ILogger logger, int members, int sessions, Exception exception);
}
