using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.SignalR.Protocol;
using Microsoft.AspNetCore.SignalR;
using RoomHub.Contracts;
using RoomHub.Server.Internal.Engine;

namespace RoomHub.Server.Internal;

internal sealed partial class RoomCore
{
    /// <summary>The query parameter that names a session, on the hub and on the legacy endpoint.</summary>
    public const string SessionParameter = "session";

    public const string InvalidSessionText = "A session id is 16 to 128 letters, digits, '-' or '_'; use a random UUID.";

    public async Task ConnectedAsync(string connectionId, System.Security.Claims.ClaimsPrincipal? principal, string? user, IFeatureCollection features, string? session, CancellationToken cancellationToken)
    {
        if (session is not null && !IsValidSessionId(session))
        {
            throw RoomRules.Error(RoomErrorCodes.InvalidArgument, InvalidSessionText);
        }

        var state = new ConnectionState(connectionId, ConnectionRegistry.TransportOf(features), user, session)
        {
            Principal = principal,
            Outbound = features.Get<Security.IOutboundQueueFeature>(),
            AnswerEncoding = AnswerSize.EncodingOf(features.Get<IHubProtocol>()?.Name),
            Address = features.Get<WebSockets.WebSocketConnectionContext>()?.Address
                ?? features.Get<Microsoft.AspNetCore.Http.Connections.Features.IHttpContextFeature>()?.HttpContext?.Connection.RemoteIpAddress,
        };
        connections.Add(state);
        if (session is null)
        {
            return;
        }

        SessionState? remembered;
        try
        {
            // Claimed, not just read: from now on this connection's rooms are the session's, not those of an older one.
            var claim = await telemetry.TimeAsync("session", "read", () => sessions.ClaimAsync(state.SessionRef!.Value, cancellationToken)).ConfigureAwait(false);
            state.SessionClaim = claim.Claim;
            remembered = claim.Remembered;
        }
        catch (Exception ex) when (!Cancellation.Requested(ex))
        {
            ReportStoreFailed("session", ex);
            throw RoomRules.Error(RoomErrorCodes.Unavailable, "The session could not be restored right now; reconnect later.");
        }

        if (remembered is null)
        {
            state.Restoring = false;
            return;
        }

        foreach (var room in remembered.Rooms)
        {
            try
            {
                await JoinAsync(connectionId, room, cancellationToken).ConfigureAwait(false);
            }
            catch (HubException ex) when ((ex as RoomHubException)?.Code != RoomErrorCodes.Unavailable)
            {
                // A room the user may no longer enter: the rest are restored. A room that cannot be joined because Redis
                // is away fails the whole restore instead, so that the client comes back for it rather than silently
                // staying out of it.
                LogRoomNotRestored(logger, connectionId, room, ex.Message);
            }
        }

        await ReplayAsync(state, remembered, cancellationToken).ConfigureAwait(false);
        state.Restoring = false;
        LogSessionRestored(logger, connectionId, remembered.Rooms.Count);
    }

    public async Task DisconnectedAsync(string connectionId)
    {
        if (connections.Remove(connectionId) is not { } state)
        {
            return;
        }

        foreach (var room in state.Rooms())
        {
            await BestEffortAsync(() => presence.RemoveAsync(room, state.Member, CancellationToken.None), "presence").ConfigureAwait(false);
            await AnnounceAsync(room, state, joined: false).ConfigureAwait(false);
        }

        if (state.SessionRef is { } session && !state.Restoring)
        {
            // The TTL of the session's rooms counts from now, its last close.
            await BestEffortAsync(() => sessions.TouchAsync([(session, state.Rooms())], CancellationToken.None), "session").ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Re-sends what the session's rooms received since shortly before its previous connection was last known alive:
    /// anything written to a connection that was already dead is not lost. Messages may arrive twice (same id).
    /// A room whose history cannot be read fails the restore (UNAVAILABLE), as a room that cannot be joined does: the
    /// connection is cut and the client's next connection replays again, rather than missing that room's messages.
    /// </summary>
    private async Task ReplayAsync(ConnectionState state, SessionState remembered, CancellationToken cancellationToken)
    {
        var window = _options.Sessions.ReplayWindow;
        if (window <= TimeSpan.Zero || remembered.Rooms.Count == 0)
        {
            return;
        }

        var since = StreamId.FromTime(remembered.LastSeen - window);
        foreach (var room in remembered.Rooms)
        {
            ResumeResult missed;
            try
            {
                // One answer's bytes at most, the newest: a replay is read in one Redis script, which holds up every
                // instance's commands while it runs, and a reconnecting client may ask for one again and again.
                missed = await history.GetAfterAsync(room, since, TimeSpan.Zero, _options.History.MaxAnswerBytes, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (!Cancellation.Requested(ex))
            {
                ReportStoreFailed("history", ex);
                throw RoomRules.Error(RoomErrorCodes.Unavailable, "The session's missed messages could not be read right now; reconnect later.");
            }

            // The read stops after the message whose text crosses the budget: more text than that means it was cut.
            // (Not "not recovered": the replay reads from a moment, which is before the first message of most rooms.)
            if (missed.Messages.Sum(m => (long)System.Text.Encoding.UTF8.GetByteCount(m.Message)) > _options.History.MaxAnswerBytes)
            {
                LogReplayCut(logger, state.ConnectionId, room, _options.History.MaxAnswerBytes);
            }

            await SendPacedAsync(state, missed.Messages, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Writes a backlog to one connection at the pace it reads: a burst larger than its outbound queue would otherwise
    /// have it dropped as a slow consumer while it reads as fast as it can.
    /// </summary>
    private async Task SendPacedAsync(ConnectionState state, IEnumerable<RoomMessage> messages, CancellationToken cancellationToken)
    {
        var client = hub.Clients.Client(state.ConnectionId);
        foreach (var message in messages)
        {
            await state.WaitForRoomAsync(cancellationToken).ConfigureAwait(false);
            await client.ReceiveMessage(message).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Re-sends, to this instance's members only, what each of its rooms received after <paramref name="since"/>.
    /// Returns how many messages were re-sent (per room, not per member).
    /// </summary>
    public async Task<int> ReplayToLocalMembersAsync(StreamId since, CancellationToken cancellationToken)
    {
        var members = connections.Snapshot();
        var missed = new Dictionary<string, IReadOnlyList<RoomMessage>>(StringComparer.Ordinal);
        foreach (var room in members.SelectMany(c => c.Rooms()).Distinct(StringComparer.Ordinal))
        {
            missed[room] = (await history.GetAfterAsync(room, since, TimeSpan.Zero, long.MaxValue, cancellationToken).ConfigureAwait(false)).Messages;
        }

        // Each member at its own pace: one that reads slowly delays nobody else's replay.
        await Task.WhenAll(members.Select(member =>
            SendPacedAsync(member, member.Rooms().SelectMany(room => missed.GetValueOrDefault(room, [])), cancellationToken))).ConfigureAwait(false);
        return missed.Values.Sum(messages => messages.Count);
    }

    /// <summary>The session a request asks for (<c>?session=</c>), if any; none for an empty one.</summary>
    public static string? SessionOf(HttpContext context) =>
        context.Request.Query[SessionParameter].ToString() is { Length: > 0 } session ? session : null;

    /// <summary>Whether the request names a session that cannot be one, an empty one included (no session at all is fine).</summary>
    public static bool HasMalformedSession(HttpContext context) =>
        context.Request.Query.TryGetValue(SessionParameter, out var session) && !IsValidSessionId(session.ToString());

    private static bool IsValidSessionId(string session) =>
        session.Length is >= 16 and <= 128 && session.AsSpan().IndexOfAnyExcept("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") < 0;

    [LoggerMessage(2011, LogLevel.Warning, "Connection {ConnectionId} could not rejoin {Room} from its session: {Reason}")]
    private static partial void LogRoomNotRestored(ILogger logger, string connectionId, string room, string reason);

    [LoggerMessage(2012, LogLevel.Information, "Connection {ConnectionId} replayed only the newest {MaxBytes} bytes of what {Room} received while its session was away; a Resume from its last id tells the client.")]
    private static partial void LogReplayCut(ILogger logger, string connectionId, string room, long maxBytes);

    [LoggerMessage(2010, LogLevel.Debug, "Connection {ConnectionId} restored its session with {Rooms} rooms.")]
    private static partial void LogSessionRestored(ILogger logger, string connectionId, int rooms);
}
