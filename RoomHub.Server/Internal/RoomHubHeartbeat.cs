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
    private const int BatchSize = 1000;

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
        var refreshed = (Members: 0, Sessions: 0);
        try
        {
            // In batches: one list over every connection would be a large-object-heap array, garbage that only a full
            // collection frees, made again every beat (several MB per beat at 20k connections).
            foreach (var batch in connections.Enumerate().Chunk(BatchSize))
            {
                var members = new List<(string Room, PresenceMember Member)>(batch.Length);
                foreach (var connection in batch)
                {
                    members.AddRange(connection.Rooms().Select(room => (room, connection.Member)));
                }

                await presence.RefreshAsync(members, cancellationToken).ConfigureAwait(false);

                // A touch writes a session's rooms exactly, so they are read just before it is issued, with nothing awaited
                // in between: a join that the read misses issues its own session write later (after its presence write's
                // round trip), so Redis runs it after the touch, and the room is kept.
                var live = new List<(SessionRef Session, IReadOnlyCollection<string> Rooms)>();
                foreach (var connection in batch)
                {
                    if (connection.SessionRef is { } session && !connection.Restoring)
                    {
                        live.Add((session, connection.Rooms()));
                    }
                }

                await sessions.TouchAsync(live, cancellationToken).ConfigureAwait(false);
                refreshed = (refreshed.Members + members.Count, refreshed.Sessions + live.Count);
            }
        }
        catch (Exception ex) when (!Cancellation.Requested(ex))
        {
            LogBeatFailed(logger, refreshed.Members, refreshed.Sessions, ex);
        }
    }

    [LoggerMessage(2020, LogLevel.Warning, "Heartbeat stopped after refreshing {Members} presence entries and {Sessions} sessions; the rest is retried next beat.")]
    private static partial void LogBeatFailed(ILogger logger, int members, int sessions, Exception exception);
}
