using Microsoft.Extensions.Options;
using RoomHub.Server;
using RoomHub.Server.Internal.Engine;
using RoomHub.Tests.Infrastructure;

namespace RoomHub.Tests.Engine;

/// <summary>The contract of <see cref="IPresenceStore"/>, held against every implementation.</summary>
public abstract class PresenceConformance
{
    private static readonly CancellationToken None = CancellationToken.None;

    private protected abstract Task<IPresenceStore> CreateAsync(PresenceOptions options);

    [Fact]
    public async Task MembersAreCountedWithTheirDistinctUsers()
    {
        var presence = await CreateAsync(new PresenceOptions());
        var room = Rooms.Unique();
        await presence.AddAsync(room, new PresenceMember("c1", "alice"), None);
        await presence.AddAsync(room, new PresenceMember("c2", "alice"), None);
        await presence.AddAsync(room, new PresenceMember("c3", "bob"), None);
        await presence.AddAsync(room, new PresenceMember("c4", null), None);
        await presence.AddAsync(room, new PresenceMember("c4", null), None);

        var counted = await presence.GetAsync(room, None);

        Assert.Equal(room, counted.Room);
        Assert.Equal(4, counted.Connections);
        Assert.Equal(["alice", "bob"], counted.Users);
        Assert.Equal(0, (await presence.GetAsync(Rooms.Unique("empty"), None)).Connections);
    }

    [Fact]
    public async Task RemovedMemberIsNoLongerCounted()
    {
        var presence = await CreateAsync(new PresenceOptions());
        var room = Rooms.Unique();
        await presence.AddAsync(room, new PresenceMember("c1", "alice"), None);
        await presence.AddAsync(room, new PresenceMember("c2", "bob"), None);

        await presence.RemoveAsync(room, new PresenceMember("c1", "alice"), None);
        await presence.RemoveAsync(room, new PresenceMember("never-there", null), None);

        var counted = await presence.GetAsync(room, None);
        Assert.Equal(1, counted.Connections);
        Assert.Equal(["bob"], counted.Users);
    }

    [Fact]
    public async Task MemberThatIsNoLongerRefreshedExpires()
    {
        var presence = await CreateAsync(new PresenceOptions { Ttl = TimeSpan.FromSeconds(1) });
        var room = Rooms.Unique();
        await presence.AddAsync(room, new PresenceMember("crashed", "carol"), None);
        Assert.Equal(1, (await presence.GetAsync(room, None)).Connections);

        await Poll.UntilAsync(async () => (await presence.GetAsync(room, None)).Connections == 0, "the unrefreshed member to expire");
    }

    [Fact]
    public async Task RefreshKeepsMembersAndRestoresForgottenOnes()
    {
        var presence = await CreateAsync(new PresenceOptions { Ttl = TimeSpan.FromSeconds(1) });
        var room = Rooms.Unique();
        var member = new PresenceMember("c1", "alice");
        await presence.AddAsync(room, member, None);
        await presence.RemoveAsync(room, member, None);

        var deadline = DateTime.UtcNow.AddSeconds(2.5);
        while (DateTime.UtcNow < deadline)
        {
            await presence.RefreshAsync([(room, member)], None);
            Assert.Equal(1, (await presence.GetAsync(room, None)).Connections);
            await Task.Delay(200);
        }
    }

    [Fact]
    public async Task ARefreshOfMoreMembersOfOneRoomThanOneWriteTakesCountsThemAll()
    {
        var presence = await CreateAsync(new PresenceOptions());
        var room = Rooms.Unique();
        var members = Enumerable.Range(0, 1234).Select(i => (room, new PresenceMember($"c{i}", $"user{i % 100}"))).ToArray();

        await presence.RefreshAsync(members, None);

        var counted = await presence.GetAsync(room, None);
        Assert.Equal(1234, counted.Connections);
        Assert.Equal(100, counted.Users.Count);
    }

    private protected static IOptions<RoomHubOptions> OptionsWith(PresenceOptions presence) => Options.Create(new RoomHubOptions { Presence = presence });
}

public sealed class PresenceMemoryConformance : PresenceConformance
{
    private protected override Task<IPresenceStore> CreateAsync(PresenceOptions options) =>
        Task.FromResult<IPresenceStore>(new PresenceMemory(OptionsWith(options), TimeProvider.System));
}

public sealed class PresenceRedisConformance : PresenceConformance
{
    private protected override async Task<IPresenceStore> CreateAsync(PresenceOptions options)
    {
        var settings = new RoomHubOptions { Presence = options };
        return new PresenceRedis(await RedisStores.ConnectAsync(settings), Options.Create(settings));
    }
}
