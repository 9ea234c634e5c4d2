using Microsoft.Extensions.Options;
using RoomHub.Server;
using RoomHub.Server.Internal;
using RoomHub.Server.Internal.Engine;
using RoomHub.Tests.Infrastructure;

namespace RoomHub.Tests.Engine;

/// <summary>The contract of <see cref="ISessionStore"/>, held against every implementation.</summary>
public abstract class SessionConformance
{
    private static readonly CancellationToken None = CancellationToken.None;

    private protected abstract Task<ISessionStore> CreateAsync(RoomSessionOptions options);

    private static string NewSession() => Guid.NewGuid().ToString("N");

    private static SessionRef Of(string session, string owner = "anonymous", string holder = "c1") => new(owner, session, holder);

    [Fact]
    public async Task UnknownSessionHasNothing()
    {
        var sessions = await CreateAsync(new RoomSessionOptions());

        Assert.Null(await sessions.GetAsync("anonymous", NewSession(), None));
    }

    [Fact]
    public async Task RoomsJoinedAndLeftAreRemembered()
    {
        var sessions = await CreateAsync(new RoomSessionOptions());
        var session = NewSession();
        await sessions.AddRoomAsync(Of(session), "a", None);
        await sessions.AddRoomAsync(Of(session), "b", None);
        await sessions.AddRoomAsync(Of(session), "c", None);
        await sessions.RemoveRoomAsync(Of(session), "b", None);

        var state = await sessions.GetAsync("anonymous", session, None);

        Assert.NotNull(state);
        Assert.Equal(["a", "c"], state.Rooms.Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task SessionsOfDifferentOwnersNeverMix()
    {
        var sessions = await CreateAsync(new RoomSessionOptions());
        var session = NewSession();
        await sessions.AddRoomAsync(Of(session, "user:alice"), "alice-room", None);

        Assert.Null(await sessions.GetAsync("user:mallory", session, None));
        Assert.Null(await sessions.GetAsync("anonymous", session, None));
    }

    /// <summary>
    /// The store's clock dates a touch: the clock that dates the room history's ids. Here the tests, the process and
    /// Redis share one machine's clock, so the touch falls between the readings taken around it.
    /// </summary>
    [Fact]
    public async Task TouchRecordsWhenTheSessionWasSeenAndItsRooms()
    {
        var sessions = await CreateAsync(new RoomSessionOptions());
        var session = NewSession();
        var before = DateTimeOffset.UtcNow.AddMilliseconds(-1);

        await sessions.TouchAsync([(Of(session), ["x", "y"])], None);

        var after = DateTimeOffset.UtcNow.AddMilliseconds(1);
        var state = await sessions.GetAsync("anonymous", session, None);
        Assert.NotNull(state);
        Assert.InRange(state.LastSeen, before, after);
        Assert.Equal(["x", "y"], state.Rooms.Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task SessionIsForgottenOneTtlAfterItWasLastTouched()
    {
        var sessions = await CreateAsync(new RoomSessionOptions { Ttl = TimeSpan.FromSeconds(1) });
        var session = NewSession();
        await sessions.AddRoomAsync(Of(session), "a", None);
        await sessions.TouchAsync([(Of(session), ["a"])], None);

        await Poll.UntilAsync(async () => await sessions.GetAsync("anonymous", session, None) is null, "the session to expire");
    }

    [Fact]
    public async Task AClaimReturnsWhatIsRememberedAndNothingForANewSession()
    {
        var sessions = await CreateAsync(new RoomSessionOptions());
        var session = NewSession();

        var first = await sessions.ClaimAsync(Of(session, holder: "c1"), None);
        Assert.Null(first.Remembered);
        await sessions.AddRoomAsync(Of(session, holder: "c1") with { Claim = first.Claim }, "a", None);

        var claimed = await sessions.ClaimAsync(Of(session, holder: "c2"), None);
        Assert.NotNull(claimed.Remembered);
        Assert.Equal(["a"], claimed.Remembered.Rooms);
        Assert.True(claimed.Claim > first.Claim, "a later claim is dated later");
    }

    [Fact]
    public async Task AConnectionTheSessionHasMovedOnFromWritesNothing()
    {
        var sessions = await CreateAsync(new RoomSessionOptions());
        var session = NewSession();
        var old = Of(session, holder: "old");
        old = old with { Claim = (await sessions.ClaimAsync(old, None)).Claim };
        await sessions.AddRoomAsync(old, "a", None);
        await sessions.AddRoomAsync(old, "b", None);
        var current = Of(session, holder: "new");
        current = current with { Claim = (await sessions.ClaimAsync(current, None)).Claim };
        await sessions.RemoveRoomAsync(current, "a", None);
        await sessions.TouchAsync([(current, ["b"])], None);
        var seen = (await sessions.GetAsync("anonymous", session, None))!.LastSeen;

        // Late enough that a touch that counted would change the last-seen time.
        await Poll.UntilAsync(() => DateTimeOffset.UtcNow > seen.AddMilliseconds(5), "the clock to move on");
        await sessions.TouchAsync([(old, ["a", "b"])], None);
        await sessions.AddRoomAsync(old, "c", None);
        await sessions.RemoveRoomAsync(old, "b", None);

        var state = await sessions.GetAsync("anonymous", session, None);
        Assert.NotNull(state);
        Assert.Equal(["b"], state.Rooms);
        Assert.Equal(seen, state.LastSeen);
    }

    [Fact]
    public async Task ATouchLeavesTheSessionInExactlyTheRoomsItNames()
    {
        // A room the connection left while its removal could not be written (Redis away) is dropped at the next touch.
        var sessions = await CreateAsync(new RoomSessionOptions());
        var session = NewSession();
        var holder = Of(session);
        holder = holder with { Claim = (await sessions.ClaimAsync(holder, None)).Claim };
        await sessions.AddRoomAsync(holder, "a", None);
        await sessions.AddRoomAsync(holder, "b", None);

        await sessions.TouchAsync([(holder, ["b", "c"])], None);

        var state = await sessions.GetAsync("anonymous", session, None);
        Assert.NotNull(state);
        Assert.Equal(["b", "c"], state.Rooms.Order(StringComparer.Ordinal));
    }

    private protected static IOptions<RoomHubOptions> OptionsWith(RoomSessionOptions sessions) => Options.Create(new RoomHubOptions { Sessions = sessions });
}

public sealed class SessionMemoryConformance : SessionConformance
{
    private protected override Task<ISessionStore> CreateAsync(RoomSessionOptions options) =>
        Task.FromResult<ISessionStore>(new SessionMemory(OptionsWith(options), TimeProvider.System));
}

public sealed class SessionRedisConformance : SessionConformance
{
    private readonly Dictionary<ISessionStore, RedisConnection> _connections = [];

    private protected override async Task<ISessionStore> CreateAsync(RoomSessionOptions options)
    {
        var settings = new RoomHubOptions { Sessions = options };
        var connection = await RedisStores.ConnectAsync(settings);
        var sessions = new SessionRedis(connection, Options.Create(settings));
        _connections[sessions] = connection;
        return sessions;
    }

    [Fact]
    public async Task ALeaveFromASessionWhoseRecordIsGoneLeavesNoRecord()
    {
        // A record made by a removal would have no TTL, and stay for good if its instance died before its next beat.
        var sessions = await CreateAsync(new RoomSessionOptions());
        var session = Guid.NewGuid().ToString("N");
        var holder = new SessionRef("anonymous", session, "c1", Claim: 1);

        await sessions.RemoveRoomAsync(holder, "a", CancellationToken.None);

        var connection = _connections[sessions];
        Assert.False(await (await connection.DatabaseAsync()).KeyExistsAsync(new RedisKeys(connection.Prefix).Session("anonymous", session)));
    }

    [Fact]
    public async Task AfterRedisLosesTheRecordTheNewestClaimTakesTheSessionBackWhoeverWritesFirst()
    {
        var sessions = await CreateAsync(new RoomSessionOptions());
        var session = Guid.NewGuid().ToString("N");
        var old = new SessionRef("anonymous", session, "old");
        old = old with { Claim = (await sessions.ClaimAsync(old, CancellationToken.None)).Claim };
        var current = new SessionRef("anonymous", session, "new");
        current = current with { Claim = (await sessions.ClaimAsync(current, CancellationToken.None)).Claim };
        await sessions.TouchAsync([(current, ["kept"])], CancellationToken.None);

        // The record is lost (a restart without persistence, FLUSHALL); the older connection's heartbeat comes first.
        var connection = _connections[sessions];
        await (await connection.DatabaseAsync()).KeyDeleteAsync(new RedisKeys(connection.Prefix).Session("anonymous", session));
        await sessions.TouchAsync([(old, ["left-by-the-new-connection"])], CancellationToken.None);
        await sessions.TouchAsync([(current, ["kept"])], CancellationToken.None);
        await sessions.TouchAsync([(old, ["left-by-the-new-connection"])], CancellationToken.None);
        await sessions.AddRoomAsync(old, "joined-by-the-old-connection", CancellationToken.None);

        var state = await sessions.GetAsync("anonymous", session, CancellationToken.None);
        Assert.NotNull(state);
        Assert.Equal(["kept"], state.Rooms);
    }
}
