using System.Security.Claims;
using Microsoft.AspNetCore.SignalR;
using Microsoft.Extensions.Options;
using RoomHub.Contracts;
using RoomHub.Server.Internal.Engine;
using RoomHub.Server.Internal.Security;

namespace RoomHub.Server.Internal;

/// <summary>
/// The semantic core: what it means to join, leave, send to, read and resume a room. The SignalR hub calls it, and
/// the legacy raw-WebSocket endpoint reaches it through that same hub, so both transports follow one set of rules.
/// Delivery goes through the hub lifetime manager (in memory on one instance, over the Redis backplane otherwise);
/// history, presence and sessions through the engine's stores.
/// </summary>
internal sealed partial class RoomCore(
    IHubContext<RoomsHub, IRoomClient> hub,
    RoomRules rules,
    IRoomHistory history,
    IPresenceStore presence,
    ISessionStore sessions,
    ConnectionRegistry connections,
    IOptions<RoomHubOptions> options,
    TimeProvider time,
    RoomHubTelemetry telemetry,
    RoomAuthorizer authorizer,
    IOptions<RoomHubSecurityOptions> security,
    ILogger<RoomCore> logger)
{
    private readonly RoomHubOptions _options = options.Value;
    private readonly int _maxRooms = security.Value.MaxRoomsPerConnection;
    private readonly RoomPatterns _eventRooms = new(options.Value.Presence.EventRooms);
    private readonly LogThrottle _publishFailures = new(time, TimeSpan.FromSeconds(1));
    private readonly LogThrottle _storeFailures = new(time, TimeSpan.FromSeconds(1));
    private readonly CountsByAddress _sendsWaitingByAddress = new();
    private readonly RoomOrder _roomOrder = new();
    private int _sendsInFlight;
    private int _sendsWaiting;

    /// <summary>How many sends wait for an earlier command of their connection now.</summary>
    internal int SendsWaiting => Volatile.Read(ref _sendsWaiting);

    /// <summary>
    /// How many of the waiting sends one client address may hold: a tenth of them, and at least a whole pipeline, so
    /// that a few addresses that stall their own commands cannot leave everyone else's waiting sends refused.
    /// </summary>
    private int WaitingSendsPerAddress => Math.Max(_options.SendPipelineDepth, _options.MaxSendsInFlight / 10);

    public async Task SubscribeAsync(string connectionId, string? room, CancellationToken cancellationToken)
    {
        var name = RoomRules.ValidateRoom(room);
        await InTurnAsync(connectionId, () => JoinAsync(connectionId, name, cancellationToken)).ConfigureAwait(false);
    }

    public async Task UnsubscribeAsync(string connectionId, string? room, CancellationToken cancellationToken)
    {
        var name = RoomRules.ValidateRoom(room);
        await InTurnAsync(connectionId, () => LeaveAsync(connectionId, name, cancellationToken)).ConfigureAwait(false);
    }

    private async Task LeaveAsync(string connectionId, string name, CancellationToken cancellationToken)
    {
        await Unavailable(() => hub.Groups.RemoveFromGroupAsync(connectionId, name, cancellationToken), "leave the room").ConfigureAwait(false);
        if (connections.Get(connectionId) is { } state && state.RemoveRoom(name))
        {
            await BestEffortAsync(() => telemetry.TimeAsync("presence", "remove", () => presence.RemoveAsync(name, state.Member, cancellationToken)), "presence").ConfigureAwait(false);
            if (state.SessionRef is { } session)
            {
                await BestEffortAsync(() => telemetry.TimeAsync("session", "remove", () => sessions.RemoveRoomAsync(session, name, cancellationToken)), "session").ConfigureAwait(false);
            }

            await AnnounceAsync(name, state, joined: false).ConfigureAwait(false);
        }
    }

    public async Task<string> PublishAsync(string connectionId, ClaimsPrincipal? user, string? room, string? message, CancellationToken cancellationToken)
    {
        string name, text;
        try
        {
            name = RoomRules.ValidateRoom(room);
            text = rules.ValidateMessage(message);
            authorizer.Authorize(user, name, RoomActions.Publish);
        }
        catch (HubException ex)
        {
            telemetry.Rejected((ex as RoomHubException)?.Code ?? "UNKNOWN");
            throw;
        }

        // A connection's sends overlap (see CommandSequencer): this one is stored while earlier ones are still on their
        // way, and published only after the one before it, so the room gets them in the order they were sent.
        var sender = connections.Get(connectionId);
        var turn = sender?.Commands.BeginSend();
        RoomOrder.Turn? inRoom = null;
        var counted = false;
        RoomMessage stored;
        try
        {
            if (turn is not null)
            {
                if (!turn.Barrier.IsCompleted)
                {
                    await WaitForEarlierCommandAsync(turn.Barrier, sender!.Address).ConfigureAwait(false);
                }

                await turn.PreviousStored.ConfigureAwait(false);
            }

            // Counted once the send before it has been let in (or refused), so a connection's sends are let in the order
            // they were sent, and not while they wait for an earlier command: a connection that stalls its own commands
            // must not hold the instance's slots. Refused at once rather than queued: a send that waited for a slot would
            // be stored out of its connection's order.
            if (Interlocked.Increment(ref _sendsInFlight) > _options.MaxSendsInFlight)
            {
                Interlocked.Decrement(ref _sendsInFlight);
                throw Overloaded();
            }

            counted = true;

            // Stored first, then published: what a sender is told was accepted is in history even if delivery fails.
            // Published after the connection's previous message, and after the room's previous one (RoomOrder).
            (var storing, inRoom) = _roomOrder.Store(name, () => telemetry.TimeAsync("history", "append", () => history.AppendAsync(name, text, time.GetUtcNow(), cancellationToken)));
            turn?.Stored();
            stored = await storing.ConfigureAwait(false);
            if (turn is not null)
            {
                await turn.PreviousPublished.ConfigureAwait(false);
            }

            await inRoom.Previous.ConfigureAwait(false);
            var publishing = hub.Clients.Group(name).ReceiveMessage(stored);
            turn?.Published();
            inRoom.Published();
            await publishing.ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not HubException && !Cancellation.Requested(ex))
        {
            telemetry.Rejected(RoomErrorCodes.SendFailed);
            ReportPublishFailed(name, ex);
            throw RoomRules.Error(RoomErrorCodes.SendFailed, "The message could not be stored and published; retry later.");
        }
        finally
        {
            turn?.Finish();
            inRoom?.Published();
            if (counted)
            {
                Interlocked.Decrement(ref _sendsInFlight);
            }
        }

        telemetry.MessagesPublished.Add(1);
        return stored.Id;
    }

    /// <summary>
    /// Waits for the last command before a send. The sends waiting so, over the instance, are limited apart from those
    /// under way, to as many: they hold their text while they wait, and a connection may stall its own commands. One
    /// client address may hold only its share of them (<see cref="WaitingSendsPerAddress"/>).
    /// </summary>
    private async Task WaitForEarlierCommandAsync(Task barrier, System.Net.IPAddress? address)
    {
        if (Interlocked.Increment(ref _sendsWaiting) > _options.MaxSendsInFlight)
        {
            Interlocked.Decrement(ref _sendsWaiting);
            throw Overloaded();
        }

        try
        {
            if (address is not null && _sendsWaitingByAddress.Increment(address) > WaitingSendsPerAddress)
            {
                throw Overloaded();
            }

            await barrier.ConfigureAwait(false);
        }
        finally
        {
            if (address is not null)
            {
                _sendsWaitingByAddress.Decrement(address);
            }

            Interlocked.Decrement(ref _sendsWaiting);
        }
    }

    private RoomHubException Overloaded()
    {
        telemetry.Rejected(RoomErrorCodes.Overloaded);
        return RoomRules.Error(RoomErrorCodes.Overloaded, "The server is busy; nothing was sent. Retry after a short pause.");
    }

    public async Task<IReadOnlyList<RoomMessage>> GetHistoryAsync(string connectionId, ClaimsPrincipal? user, string? room, int limit, CancellationToken cancellationToken)
    {
        // Reading a room's history or presence is held to the same rule as joining it.
        var name = RoomRules.ValidateRoom(room);
        authorizer.Authorize(user, name, RoomActions.Subscribe);
        if (limit < 1)
        {
            throw RoomRules.Error(RoomErrorCodes.InvalidArgument, "The history limit must be at least 1.");
        }

        return await InTurnAsync(connectionId, async () =>
        {
            // What was read is trimmed at once: only the answer is held while it waits for room.
            var state = connections.Get(connectionId);
            var answer = Trimmed(state, await Unavailable(() => telemetry.TimeAsync("history", "latest", () => history.GetLatestAsync(name, Math.Min(limit, _options.History.MaxLength), _options.History.MaxAnswerBytes, cancellationToken)), "read history").ConfigureAwait(false), out var bytes, out _);
            await RoomForAnswerAsync(state, bytes, cancellationToken).ConfigureAwait(false);
            return answer;
        }).ConfigureAwait(false);
    }

    public async Task<ResumeResult> ResumeAsync(string connectionId, string? room, string? lastId, CancellationToken cancellationToken)
    {
        var name = RoomRules.ValidateRoom(room);
        StreamId? after = null;
        if (!string.IsNullOrEmpty(lastId))
        {
            after = StreamId.TryParse(lastId, out var id) ? id : throw RoomRules.Error(RoomErrorCodes.InvalidArgument, "lastId is not a message id.");
        }

        return await InTurnAsync(connectionId, async () =>
        {
            // Join first, then read: a message stored after the read is published after the join, so it arrives live.
            var state = connections.Get(connectionId);
            var joined = state?.InRoom(name) != true;
            await JoinAsync(connectionId, name, cancellationToken).ConfigureAwait(false);
            ResumeResult missed;
            try
            {
                missed = await Unavailable(() => telemetry.TimeAsync("history", "resume", () => history.GetAfterAsync(name, after, ResumeLookBack, _options.History.MaxAnswerBytes, cancellationToken)), "read history").ConfigureAwait(false);
            }
            catch (RoomHubException) when (joined)
            {
                // Refused as UNAVAILABLE, which says nothing changed: the join this call made is undone (a leave needs no Redis).
                await LeaveAsync(connectionId, name, CancellationToken.None).ConfigureAwait(false);
                throw;
            }

            var answer = Trimmed(state, missed, after, out var bytes);
            await RoomForAnswerAsync(state, bytes, cancellationToken).ConfigureAwait(false);
            return answer;
        }).ConfigureAwait(false);
    }

    /// <summary>
    /// The newest of <paramref name="messages"/> that fit in <see cref="HistoryOptions.MaxAnswerBytes"/> as the
    /// connection's protocol writes them (<paramref name="whole"/>: all of them did), and their size.
    /// </summary>
    private IReadOnlyList<RoomMessage> Trimmed(ConnectionState? state, IReadOnlyList<RoomMessage> messages, out long bytes, out bool whole)
    {
        var encoding = state?.AnswerEncoding ?? TextEncoding.Json;
        var start = AnswerSize.NewestWithin(messages, encoding, _options.History.MaxAnswerBytes, out bytes);
        whole = start == 0;
        return whole ? messages : messages.Skip(start).ToArray(); // An array: MessagePack cannot write every list type.
    }

    /// <summary>
    /// Messages of a room do not always reach its members in the order of their ids: each is stored (and given its id)
    /// first and published second, and a message stored later by another instance can be published first (one
    /// instance's own keep their order: <see cref="RoomOrder"/>). A client that holds a message need not hold every
    /// message with a smaller id, so a resume also brings the
    /// messages accepted up to <see cref="RoomHubOptions.PublishLag"/> before its last id (the client drops those it
    /// has, by id).
    /// </summary>
    private TimeSpan ResumeLookBack => _options.PublishLag;

    /// <summary>A resume's answer: not recovered when what came after <paramref name="after"/> does not all fit in one answer.</summary>
    private ResumeResult Trimmed(ConnectionState? state, ResumeResult missed, StreamId? after, out long bytes)
    {
        var answer = Trimmed(state, missed.Messages, out bytes, out var whole);
        if (whole)
        {
            return missed;
        }

        // Cut short: still recovered if what is left out is at or before the last id (the look-back's messages).
        var leftOut = missed.Messages[missed.Messages.Count - answer.Count - 1];
        return new ResumeResult(missed.Recovered && HistoryRecovery.Recovered(after, StreamId.Parse(leftOut.Id), StreamId.Zero, StreamId.Zero), answer);
    }

    /// <summary>
    /// An answer may be larger than the connection's whole outbound queue. One such answer is queued at once; the next
    /// waits until the client has read the one before down, and is announced to the slow-consumer guard (SignalR writes
    /// it after this returns, when an earlier answer may just have filled the queue), so a client asking for several
    /// large answers in a row gets them at its own pace instead of being taken for one that does not read.
    /// </summary>
    private static async Task RoomForAnswerAsync(ConnectionState? state, long bytes, CancellationToken cancellationToken)
    {
        if (state is not { Outbound: { } queue })
        {
            return;
        }

        await state.WaitForRoomAsync(cancellationToken).ConfigureAwait(false);

        // Announced as the connection's protocol writes it: less would count the rest against a full queue's allowance,
        // more would let the surplus pass for answers later on.
        queue.ExpectAnswer(bytes);
    }

    public async Task<RoomPresence> GetPresenceAsync(string connectionId, ClaimsPrincipal? user, string? room, CancellationToken cancellationToken)
    {
        var name = RoomRules.ValidateRoom(room);
        authorizer.Authorize(user, name, RoomActions.Subscribe);
        return await InTurnAsync(connectionId, () => Unavailable(() => telemetry.TimeAsync("presence", "read", () => presence.GetAsync(name, cancellationToken)), "read presence")).ConfigureAwait(false);
    }

    /// <summary>Runs a command that is not a send after every earlier command of its connection, and before every later one.</summary>
    private async Task<T> InTurnAsync<T>(string connectionId, Func<Task<T>> command)
    {
        if (connections.Get(connectionId) is not { } state)
        {
            return await command().ConfigureAwait(false);
        }

        var turn = state.Commands.BeginCommand();
        try
        {
            await turn.Previous.ConfigureAwait(false);
            return await command().ConfigureAwait(false);
        }
        finally
        {
            turn.Finish();
        }
    }

    private Task InTurnAsync(string connectionId, Func<Task> command) => InTurnAsync(connectionId, command.WithResult());

    /// <summary>Every way into a room (Subscribe, Resume, a restored session) comes through here, and so past the room rules.</summary>
    private async Task JoinAsync(string connectionId, string room, CancellationToken cancellationToken)
    {
        var connection = connections.Get(connectionId);
        authorizer.Authorize(connection?.Principal, room, RoomActions.Subscribe);
        if (connection is not null && !connection.InRoom(room) && connection.RoomCount >= _maxRooms)
        {
            throw RoomRules.Error(RoomErrorCodes.TooManyRooms, $"A connection may be in at most {_maxRooms} rooms; leave one first.");
        }

        await Unavailable(() => hub.Groups.AddToGroupAsync(connectionId, room, cancellationToken), "join the room").ConfigureAwait(false);
        if (connections.Get(connectionId) is { } state && state.AddRoom(room))
        {
            // A store outage must not undo a join: the heartbeat re-asserts presence and session rooms from local state.
            await BestEffortAsync(() => telemetry.TimeAsync("presence", "add", () => presence.AddAsync(room, state.Member, cancellationToken)), "presence").ConfigureAwait(false);
            if (state.SessionRef is { } session)
            {
                await BestEffortAsync(() => telemetry.TimeAsync("session", "add", () => sessions.AddRoomAsync(session, room, cancellationToken)), "session").ConfigureAwait(false);
            }

            await AnnounceAsync(room, state, joined: true).ConfigureAwait(false);
        }
    }

    private async Task AnnounceAsync(string room, ConnectionState state, bool joined)
    {
        if (!_eventRooms.Matches(room))
        {
            return;
        }

        var member = new RoomMember(room, state.ConnectionId, state.User);
        var group = hub.Clients.Group(room);
        await BestEffortAsync(() => joined ? group.MemberJoined(member) : group.MemberLeft(member), "member event").ConfigureAwait(false);
    }

    private async Task<T> Unavailable<T>(Func<Task<T>> operation, string what)
    {
        try
        {
            return await operation().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not HubException && !Cancellation.Requested(ex))
        {
            ReportStoreFailed(what, ex);
            throw RoomRules.Error(RoomErrorCodes.Unavailable, $"The server could not {what} right now; retry later.");
        }
    }

    private Task Unavailable(Func<Task> operation, string what) => Unavailable(operation.WithResult(), what);

    private async Task BestEffortAsync(Func<Task> operation, string what)
    {
        try
        {
            await operation().ConfigureAwait(false);
        }
        catch (Exception ex) when (!Cancellation.Requested(ex))
        {
            ReportStoreFailed(what, ex);
        }
    }

    private void ReportPublishFailed(string room, Exception exception)
    {
        if (_publishFailures.ShouldLog(out var suppressed))
        {
            LogPublishFailed(logger, room, suppressed, exception);
        }
    }

    private void ReportStoreFailed(string what, Exception exception)
    {
        if (_storeFailures.ShouldLog(out var suppressed))
        {
            LogStoreFailed(logger, what, suppressed, exception);
        }
    }

    [LoggerMessage(2001, LogLevel.Warning, "Publishing to room {Room} failed ({Suppressed} more failed sends since the last report).")]
    private static partial void LogPublishFailed(ILogger logger, string room, int suppressed, Exception exception);

    [LoggerMessage(2002, LogLevel.Warning, "Could not update or read {What}; it is retried or repaired by the heartbeat ({Suppressed} more store failures since the last report).")]
    private static partial void LogStoreFailed(ILogger logger, string what, int suppressed, Exception exception);
}
