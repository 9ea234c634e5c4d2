using RoomHub.Bench;
using RoomHub.Bench.Scenarios;

namespace RoomHub.Tests.Bench;

public sealed class BenchOptionsTests
{
    [Fact]
    public void ScenarioAndOptionsAreRead()
    {
        var options = BenchOptions.Parse(["cross", "--instances", "2", "--client=legacy", "--subscribers", "10", "--rate", "50000", "--payload", "2048", "--out", "r.json"]);

        Assert.Equal(Scenario.Cross, options.Scenario);
        Assert.Equal(2, options.Instances);
        Assert.Equal(ClientMode.Legacy, options.Client);
        Assert.Equal(10, options.Subscribers);
        Assert.Equal(50000, options.Rate);
        Assert.Equal(2048, options.Payload);
        Assert.Equal("r.json", options.Out);
    }

    [Fact]
    public void UrlsMayRepeatOrBeAList()
    {
        var options = BenchOptions.Parse(["fanout", "--url", "ws://127.0.0.1:1/,ws://127.0.0.1:2/", "--url", "ws://127.0.0.1:3/"]);

        Assert.Equal([1, 2, 3], options.Urls.Select(u => u.Port));
    }

    [Fact]
    public void IdleConnectionsTakeARoomEachUnlessToldOtherwise()
    {
        Assert.Equal(1, BenchOptions.Parse(["idle"]).EffectiveRoomSize);
        Assert.Equal(10, BenchOptions.Parse(["idle", "--room-size", "10"]).EffectiveRoomSize);
        Assert.Equal(10, BenchOptions.Parse(["rooms"]).EffectiveRoomSize);
    }

    [Fact]
    public void ServerProcessesToSampleGoWithUrls() =>
        Assert.Equal([12, 13], BenchOptions.Parse(["fanout", "--url", "ws://127.0.0.1:1/", "--pid", "12,13"]).Pids);

    [Theory]
    [InlineData("fanout", "--pid", "5")]
    [InlineData("fanout", "--subscribers", "0")]
    [InlineData("fanout", "--bogus")]
    [InlineData("nonsense")]
    [InlineData("fanout", "--bare", "--client", "lean")]
    [InlineData("cross")]
    [InlineData("fanout", "--url", "ws://127.0.0.1:1/", "--instances", "2")]
    [InlineData("bare-server")]
    [InlineData("stock-server")]
    [InlineData("fanout", "--stock", "--client", "legacy")]
    [InlineData("fanout", "--stock", "--bare", "--client", "lean")]
    [InlineData("fanout", "--url", "ws://127.0.0.1:1/", "--stock")]
    public void BadCommandLinesAreRefused(params string[] args) => Assert.Throws<ArgumentException>(() => BenchOptions.Parse(args));
}

public sealed class LoadPlanTests
{
    [Fact]
    public void FanoutSpreadsSubscribersAndPublishersOverTheTargets()
    {
        var plan = LoadPlan.Create(BenchOptions.Parse(["fanout", "--subscribers", "10", "--publishers", "2"]), targets: 2, "t");

        Assert.Single(plan.Rooms);
        Assert.Equal(10, plan.MembersOf(plan.Rooms[0]));
        Assert.Equal(5, plan.Connections.Count(c => c.Joins is not null && c.Target == 1));
        Assert.Equal([0, 1], plan.Connections.Where(c => c.SendsTo is not null).Select(c => c.Target));
        Assert.Equal([0, 1], plan.Connections.Where(c => c.SendsTo is not null).Select(c => c.SenderId));
    }

    [Fact]
    public void CrossPutsEveryPublisherOnTheFirstTarget()
    {
        var plan = LoadPlan.Create(BenchOptions.Parse(["cross", "--instances", "2", "--publishers", "3"]), targets: 2, "t");

        Assert.All(plan.Connections.Where(c => c.SendsTo is not null), c => Assert.Equal(0, c.Target));
        Assert.Equal(50, plan.Connections.Count(c => c.Joins is not null && c.Target == 1));
    }

    [Fact]
    public void RoomsMakesRoomsOfMWhoseMembersAllSendAndAlternateTargets()
    {
        var plan = LoadPlan.Create(BenchOptions.Parse(["rooms", "--connections", "25", "--room-size", "10"]), targets: 2, "t");

        Assert.Equal(3, plan.Rooms.Count);
        Assert.Equal([10, 10, 5], plan.Rooms.Select(plan.MembersOf));
        Assert.Equal(25, plan.Senders);
        Assert.All(plan.Connections, c => Assert.Equal(c.Joins, c.SendsTo));
        Assert.Equal(5, plan.Connections.Count(c => c.Joins == plan.Rooms[0] && c.Target == 1));
    }
}
