using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using RoomHub.Server;
using RoomHub.Server.Internal;
using RoomHub.Server.Internal.Engine;
using RoomHub.Tests.Infrastructure;
using StackExchange.Redis;

namespace RoomHub.Tests.Engine;

/// <summary>The contract of <see cref="IRoomHistory"/>, held against every implementation.</summary>
public abstract class RoomHistoryConformance
{
    private protected abstract Task<IRoomHistory> CreateAsync(HistoryOptions options);

    /// <summary>Whether the store still holds anything for the room.</summary>
    private protected abstract Task<bool> HoldsAnythingAsync(IRoomHistory history, string room);

    private protected static readonly CancellationToken None = CancellationToken.None;

    [Fact]
    public async Task AppendedMessagesGetStrictlyIncreasingIdsAndKeepTheirText()
    {
        var history = await CreateAsync(new HistoryOptions());
        var room = Rooms.Unique();
        var texts = new[] { "first", "", "ünïcødé ✓ 😀", new string('x', 5000) };

        var stored = new List<Contracts.RoomMessage>();
        foreach (var text in texts)
        {
            stored.Add(await history.AppendAsync(room, text, DateTimeOffset.UtcNow, None));
        }

        var ids = stored.Select(m => StreamId.Parse(m.Id)).ToArray();
        Assert.True(ids.Zip(ids.Skip(1)).All(pair => pair.First < pair.Second));
        Assert.Equal(texts, (await history.GetLatestAsync(room, 10, long.MaxValue, None)).Select(m => m.Message));
        Assert.Equal(stored.Select(m => m.Id), (await history.GetLatestAsync(room, 10, long.MaxValue, None)).Select(m => m.Id));
    }

    [Fact]
    public async Task ConcurrentAppendsGetDistinctIncreasingIds()
    {
        var history = await CreateAsync(new HistoryOptions());
        var room = Rooms.Unique();

        var stored = await Task.WhenAll(Enumerable.Range(0, 200).Select(i => history.AppendAsync(room, i.ToString(System.Globalization.CultureInfo.InvariantCulture), DateTimeOffset.UtcNow, None)));

        Assert.Equal(200, stored.Select(m => m.Id).Distinct().Count());
        var read = await history.GetLatestAsync(room, 1000, long.MaxValue, None);
        Assert.Equal(read.Select(m => StreamId.Parse(m.Id)).Order(), read.Select(m => StreamId.Parse(m.Id)));
    }

    [Fact]
    public async Task LatestReturnsTheNewestOldestFirst()
    {
        var history = await CreateAsync(new HistoryOptions());
        var room = Rooms.Unique();
        for (var i = 1; i <= 10; i++)
        {
            await history.AppendAsync(room, $"m{i}", DateTimeOffset.UtcNow, None);
        }

        Assert.Equal(["m8", "m9", "m10"], (await history.GetLatestAsync(room, 3, long.MaxValue, None)).Select(m => m.Message));
        Assert.Empty(await history.GetLatestAsync(Rooms.Unique("empty"), 3, long.MaxValue, None));
    }

    [Fact]
    public async Task RoomsAreKeptApart()
    {
        var history = await CreateAsync(new HistoryOptions());
        var (a, b) = (Rooms.Unique("a"), Rooms.Unique("b"));
        await history.AppendAsync(a, "to a", DateTimeOffset.UtcNow, None);
        await history.AppendAsync(b, "to b", DateTimeOffset.UtcNow, None);

        Assert.Equal(["to a"], (await history.GetLatestAsync(a, 10, long.MaxValue, None)).Select(m => m.Message));
        Assert.All(await history.GetLatestAsync(b, 10, long.MaxValue, None), m => Assert.Equal(b, m.Room));
    }

    [Fact]
    public async Task ResumeReturnsEverythingAfterTheLastIdAndIsRecovered()
    {
        var history = await CreateAsync(new HistoryOptions());
        var room = Rooms.Unique();
        var stored = await AppendAsync(history, room, 6, i => $"m{i}");

        var resumed = await history.GetAfterAsync(room, StreamId.Parse(stored[2].Id), TimeSpan.Zero, long.MaxValue, None);
        Assert.True(resumed.Recovered);
        Assert.Equal(stored.Skip(3).Select(m => m.Id), resumed.Messages.Select(m => m.Id));

        var upToDate = await history.GetAfterAsync(room, StreamId.Parse(stored[^1].Id), TimeSpan.Zero, long.MaxValue, None);
        Assert.True(upToDate.Recovered);
        Assert.Empty(upToDate.Messages);

        var everything = await history.GetAfterAsync(room, null, TimeSpan.Zero, long.MaxValue, None);
        Assert.True(everything.Recovered);
        Assert.Equal(6, everything.Messages.Count);
    }

    [Fact]
    public async Task ResumeAfterTheLargestPossibleIdIsRecoveredAndEmpty()
    {
        var history = await CreateAsync(new HistoryOptions());
        var room = Rooms.Unique();
        await history.AppendAsync(room, "m", DateTimeOffset.UtcNow, None);

        var resumed = await history.GetAfterAsync(room, StreamId.Max, TimeSpan.Zero, long.MaxValue, None);

        Assert.True(resumed.Recovered);
        Assert.Empty(resumed.Messages);
    }

    [Fact]
    public async Task CountBoundDropsTheOldestAndAResumeFromBeforeItIsNotRecovered()
    {
        var history = await CreateAsync(new HistoryOptions { MaxLength = 5 });
        var room = Rooms.Unique();
        var stored = new List<Contracts.RoomMessage>();
        for (var i = 0; i < 12; i++)
        {
            stored.Add(await history.AppendAsync(room, $"m{i}", DateTimeOffset.UtcNow, None));
        }

        Assert.Equal(stored.Skip(7).Select(m => m.Id), (await history.GetLatestAsync(room, 100, long.MaxValue, None)).Select(m => m.Id));

        var tooOld = await history.GetAfterAsync(room, StreamId.Parse(stored[2].Id), TimeSpan.Zero, long.MaxValue, None);
        Assert.False(tooOld.Recovered);
        Assert.Equal(stored.Skip(7).Select(m => m.Id), tooOld.Messages.Select(m => m.Id));

        var justInTime = await history.GetAfterAsync(room, StreamId.Parse(stored[6].Id), TimeSpan.Zero, long.MaxValue, None);
        Assert.True(justInTime.Recovered);
        Assert.Equal(5, justInTime.Messages.Count);

        Assert.False((await history.GetAfterAsync(room, null, TimeSpan.Zero, long.MaxValue, None)).Recovered);
    }

    [Fact]
    public async Task TheCountBoundHoldsExactlyAtEveryReadHoweverAppendsAndReadsInterleave()
    {
        // Runs of appends of several lengths between reads, so that a store which trims in batches is read both just
        // before and just after a batch.
        const int maxLength = 24;
        var history = await CreateAsync(new HistoryOptions { MaxLength = maxLength });
        var room = Rooms.Unique();
        var stored = new List<Contracts.RoomMessage>();
        foreach (var run in new[] { 30, 1, 2, 3, 5, 7, 1, 1, 40, 4, 6 })
        {
            stored.AddRange(await AppendAsync(history, room, run, i => $"m{stored.Count + i}"));

            var window = stored.TakeLast(maxLength).Select(m => m.Id).ToArray();
            Assert.Equal(window, (await history.GetLatestAsync(room, 1000, long.MaxValue, None)).Select(m => m.Id));
            Assert.Equal(window[^3..], (await history.GetLatestAsync(room, 3, long.MaxValue, None)).Select(m => m.Id));

            // After the newest message dropped, nothing is missing; after the one before it, that one is.
            var afterLastDropped = await history.GetAfterAsync(room, StreamId.Parse(stored[^(maxLength + 1)].Id), TimeSpan.Zero, long.MaxValue, None);
            Assert.True(afterLastDropped.Recovered);
            Assert.Equal(window, afterLastDropped.Messages.Select(m => m.Id));

            var afterTheOneBefore = await history.GetAfterAsync(room, StreamId.Parse(stored[^(maxLength + 2)].Id), TimeSpan.Zero, long.MaxValue, None);
            Assert.False(afterTheOneBefore.Recovered);
            Assert.Equal(window, afterTheOneBefore.Messages.Select(m => m.Id));
        }
    }

    [Fact]
    public async Task AgeBoundDropsOldMessagesAndAnIdleRoomLeavesNoTrace()
    {
        var history = await CreateAsync(new HistoryOptions { MaxAge = TimeSpan.FromSeconds(1) });
        var room = Rooms.Unique();
        var first = await history.AppendAsync(room, "old", DateTimeOffset.UtcNow, None);

        await Poll.UntilAsync(async () => (await history.GetLatestAsync(room, 10, long.MaxValue, None)).Count == 0, "the message to age out");
        var beforeFirst = StreamId.Parse(first.Id) with { Sequence = 0, Milliseconds = StreamId.Parse(first.Id).Milliseconds - 1 };
        Assert.False((await history.GetAfterAsync(room, beforeFirst, TimeSpan.Zero, long.MaxValue, None)).Recovered);
        await Poll.UntilAsync(async () => !await HoldsAnythingAsync(history, room), "the idle room to leave no trace");

        var next = await history.AppendAsync(room, "new", DateTimeOffset.UtcNow, None);
        Assert.True(StreamId.Parse(next.Id) > StreamId.Parse(first.Id));
    }

    [Fact]
    public async Task MessagesPastTheAgeBoundNeverShowEvenWhenMoreThanAThousandAgeOutTogether()
    {
        // 1,100 messages at once (more than one trim takes, fewer than a store trimming in batches lets pile up), then one
        // more half an age later; read first once the burst, and only it, is past the age bound. The test waits on the
        // clock: what it checks is what time does to the messages.
        var maxAge = TimeSpan.FromSeconds(4);
        var history = await CreateAsync(new HistoryOptions { MaxAge = maxAge });
        var room = Rooms.Unique();
        var burst = await AppendInWavesAsync(history, room, 1100, i => $"old{i}");

        var burstEnd = DateTimeOffset.UtcNow;
        await Task.Delay(maxAge / 2);
        var kept = await history.AppendAsync(room, "kept", DateTimeOffset.UtcNow, None);
        var aged = burstEnd + maxAge + TimeSpan.FromMilliseconds(400) - DateTimeOffset.UtcNow;
        if (aged > TimeSpan.Zero)
        {
            await Task.Delay(aged);
        }

        var burstIds = burst.Select(m => m.Id).ToHashSet();
        var resume = await history.GetAfterAsync(room, burst.Select(m => StreamId.Parse(m.Id)).Order().ElementAt(1050), TimeSpan.Zero, long.MaxValue, None);
        Assert.False(resume.Recovered);
        Assert.DoesNotContain(resume.Messages, m => burstIds.Contains(m.Id));
        Assert.DoesNotContain(await history.GetLatestAsync(room, 1000, long.MaxValue, None), m => burstIds.Contains(m.Id));
        Assert.Contains(kept.Id, (await history.GetLatestAsync(room, 1000, long.MaxValue, None)).Select(m => m.Id));
    }

    [Fact]
    public async Task ResumeFromAnIdInARoomWithNoHistoryIsNotRecoveredWhateverItsAge()
    {
        // The room would still hold the message the id names, and what came after it, had its history not been lost.
        var history = await CreateAsync(new HistoryOptions { MaxAge = TimeSpan.FromMinutes(10) });
        var room = Rooms.Unique("never");

        Assert.False((await history.GetAfterAsync(room, StreamId.FromTime(DateTimeOffset.UtcNow.AddMinutes(-1)), TimeSpan.Zero, long.MaxValue, None)).Recovered);
        Assert.False((await history.GetAfterAsync(room, StreamId.FromTime(DateTimeOffset.UtcNow.AddHours(-1)), TimeSpan.Zero, long.MaxValue, None)).Recovered);
        Assert.True((await history.GetAfterAsync(room, null, TimeSpan.Zero, long.MaxValue, None)).Recovered);
    }

    [Fact]
    public async Task ResumeFromAnIdOlderThanEverythingARoomThatDroppedNothingHoldsIsNotRecovered()
    {
        // A room that never dropped a message still holds its first one; an id before it is from history since lost.
        var history = await CreateAsync(new HistoryOptions());
        var room = Rooms.Unique();
        var first = await history.AppendAsync(room, "first", DateTimeOffset.UtcNow, None);
        var before = StreamId.FromTime(StreamId.Parse(first.Id).Time - TimeSpan.FromSeconds(30));

        Assert.False((await history.GetAfterAsync(room, before, TimeSpan.Zero, long.MaxValue, None)).Recovered);
        Assert.True((await history.GetAfterAsync(room, StreamId.Parse(first.Id), TimeSpan.Zero, long.MaxValue, None)).Recovered);
    }

    [Fact]
    public async Task AReadWithAByteBudgetStopsAtTheMessageThatCrossesItReadingFromTheNewest()
    {
        // Ten messages of 100 bytes, and 250 bytes to read: the newest three (the third crosses the budget).
        var history = await CreateAsync(new HistoryOptions());
        var room = Rooms.Unique();
        var ids = (await AppendAsync(history, room, 10, i => $"{i}{new string('x', 99)}")).Select(m => m.Id).ToArray();
        Assert.Equal(ids[^3..], (await history.GetLatestAsync(room, 10, 250, None)).Select(m => m.Id));
        Assert.Equal(ids[^2..], (await history.GetLatestAsync(room, 2, 250, None)).Select(m => m.Id));

        var cut = await history.GetAfterAsync(room, StreamId.Parse(ids[2]), TimeSpan.Zero, 250, None);
        Assert.False(cut.Recovered);
        Assert.Equal(ids[^3..], cut.Messages.Select(m => m.Id));

        // The message that crosses the budget is the oldest one asked for: nothing is left out.
        var whole = await history.GetAfterAsync(room, StreamId.Parse(ids[6]), TimeSpan.Zero, 250, None);
        Assert.True(whole.Recovered);
        Assert.Equal(ids[^3..], whole.Messages.Select(m => m.Id));
        var within = await history.GetAfterAsync(room, StreamId.Parse(ids[7]), TimeSpan.Zero, 250, None);
        Assert.True(within.Recovered);
        Assert.Equal(ids[^2..], within.Messages.Select(m => m.Id));
    }

    /// <summary>
    /// A look-back brings the messages accepted shortly before the id too (a member may hold a message without those
    /// before it), and whether the answer is recovered still depends only on what came after the id: not on a bound
    /// that dropped messages before it, nor on bytes that ran out among the look-back's messages.
    /// </summary>
    [Fact]
    public async Task ALookBackBringsTheMessagesJustBeforeTheIdAndRecoveredStillConcernsOnlyThoseAfterIt()
    {
        var lookBack = TimeSpan.FromMinutes(1);
        var history = await CreateAsync(new HistoryOptions { MaxLength = 4 });
        var room = Rooms.Unique();
        var ids = (await AppendAsync(history, room, 6, i => $"{i}{new string('x', 99)}")).Select(m => m.Id).ToArray();

        var all = await history.GetAfterAsync(room, StreamId.Parse(ids[4]), lookBack, long.MaxValue, None);
        Assert.True(all.Recovered); // ids[0] and ids[1] were dropped by the count bound, before the id.
        Assert.Equal(ids[2..], all.Messages.Select(m => m.Id));

        var cutInLookBack = await history.GetAfterAsync(room, StreamId.Parse(ids[3]), lookBack, 250, None);
        Assert.True(cutInLookBack.Recovered);
        Assert.Equal(ids[3..], cutInLookBack.Messages.Select(m => m.Id));

        var cutAtTheId = await history.GetAfterAsync(room, StreamId.Parse(ids[3]), lookBack, 150, None);
        Assert.True(cutAtTheId.Recovered); // The newest message left out is the one at the id.
        Assert.Equal(ids[4..], cutAtTheId.Messages.Select(m => m.Id));

        var cutAfter = await history.GetAfterAsync(room, StreamId.Parse(ids[2]), lookBack, 150, None);
        Assert.False(cutAfter.Recovered);
        Assert.Equal(ids[4..], cutAfter.Messages.Select(m => m.Id));

        var none = await history.GetAfterAsync(room, StreamId.Parse(ids[5]), TimeSpan.Zero, long.MaxValue, None);
        Assert.Empty(none.Messages);
    }

    /// <summary>Appends in waves of a hundred at once: quicker for a long history, in no set order within a wave.</summary>
    private protected static async Task<List<Contracts.RoomMessage>> AppendInWavesAsync(IRoomHistory history, string room, int count, Func<int, string> text)
    {
        var stored = new List<Contracts.RoomMessage>();
        for (var wave = 0; wave < count; wave += 100)
        {
            stored.AddRange(await Task.WhenAll(Enumerable.Range(wave, Math.Min(100, count - wave)).Select(i => history.AppendAsync(room, text(i), DateTimeOffset.UtcNow, None))));
        }

        return stored;
    }

    private static async Task<List<Contracts.RoomMessage>> AppendAsync(IRoomHistory history, string room, int count, Func<int, string> text)
    {
        var stored = new List<Contracts.RoomMessage>();
        for (var i = 0; i < count; i++)
        {
            stored.Add(await history.AppendAsync(room, text(i), DateTimeOffset.UtcNow, None));
        }

        return stored;
    }

    private protected static IOptions<RoomHubOptions> OptionsWith(HistoryOptions history) => Options.Create(new RoomHubOptions { History = history });
}

public sealed class RoomHistoryMemoryConformance : RoomHistoryConformance
{
    private protected override Task<IRoomHistory> CreateAsync(HistoryOptions options) =>
        Task.FromResult<IRoomHistory>(new RoomHistoryMemory(OptionsWith(options), TimeProvider.System));

    private protected override Task<bool> HoldsAnythingAsync(IRoomHistory history, string room) =>
        Task.FromResult(((RoomHistoryMemory)history).HoldsRoom(room));
}

public sealed class RoomHistoryRedisConformance : RoomHistoryConformance
{
    private readonly Dictionary<IRoomHistory, RedisConnection> _connections = [];

    private protected override async Task<IRoomHistory> CreateAsync(HistoryOptions options)
    {
        var settings = new RoomHubOptions { History = options };
        var connection = await RedisStores.ConnectAsync(settings);
        var history = new RoomHistoryRedis(connection, Options.Create(settings));
        _connections[history] = connection;
        return history;
    }

    [Fact]
    public async Task AppendsAloneKeepTheStreamWithinItsSlackPastTheCountBound()
    {
        const int maxLength = 40;
        var slack = RoomHistoryRedis.TrimSlack(maxLength);
        var history = await CreateAsync(new HistoryOptions { MaxLength = maxLength });
        var room = Rooms.Unique();
        var (db, key) = await StreamOfAsync(history, room);

        var lengths = new List<long>();
        for (var i = 0; i < 3 * (maxLength + slack); i++)
        {
            await history.AppendAsync(room, $"m{i}", DateTimeOffset.UtcNow, CancellationToken.None);
            lengths.Add(await db.StreamLengthAsync(key));
        }

        Assert.Equal(maxLength + slack, lengths.Max());
        Assert.Contains((long)maxLength, lengths.Skip(maxLength + slack));
    }

    [Fact]
    public async Task PipelinedAppendsTrimOncePerSlackNotOncePerAppendPastIt()
    {
        // Appends issued together all find the stream past its slack before the first trim they cause has run. A Redis
        // of its own, to count the trims: each reads Redis's clock (TIME), which no append does.
        await using var redis = new RedisServer();
        await redis.StartAsync();
        const int maxLength = 40, appends = 400;
        var slack = RoomHistoryRedis.TrimSlack(maxLength);
        var settings = new RoomHubOptions { Redis = redis.Url, History = new HistoryOptions { MaxLength = maxLength } };
        await using var connection = new RedisConnection(Options.Create(settings), NullLogger<RedisConnection>.Instance);
        var history = new RoomHistoryRedis(connection, Options.Create(settings));
        var room = Rooms.Unique();

        await Task.WhenAll(Enumerable.Range(0, appends).Select(i => history.AppendAsync(room, $"m{i}", DateTimeOffset.UtcNow, CancellationToken.None)));

        var db = await connection.DatabaseAsync();
        var stats = (string?)await db.ExecuteAsync("INFO", "commandstats") ?? "";
        var time = stats.Split('\n').Single(line => line.StartsWith("cmdstat_time:", StringComparison.Ordinal));
        var trims = int.Parse(time.Split(',')[0]["cmdstat_time:calls=".Length..], System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(trims, 1, appends / slack + 1);
        Assert.InRange(await db.StreamLengthAsync(new RedisKeys(connection.Prefix).History(room)), maxLength, maxLength + slack);
    }

    [Fact]
    public async Task AppendsGetIdsInTheOrderTheyWereIssuedWhileRedisForgetsItsScripts()
    {
        // A room's stores are issued one after another (RoomOrder), and members get the messages in that order, so the
        // ids must follow it. Redis forgets its cached scripts on SCRIPT FLUSH, a restart or a failover to a replica
        // that never loaded them; an append then must not be re-sent behind appends issued after it.
        // A Redis of its own: the flushes would make other tests' scripts meet NOSCRIPT too.
        await using var redis = new RedisServer();
        await redis.StartAsync();
        var settings = new RoomHubOptions { Redis = redis.Url, History = new HistoryOptions { MaxLength = 50 } };
        await using var connection = new RedisConnection(Options.Create(settings), NullLogger<RedisConnection>.Instance);
        var history = new RoomHistoryRedis(connection, Options.Create(settings));
        var room = Rooms.Unique();
        var db = await connection.DatabaseAsync();
        using var stop = new CancellationTokenSource();
        var flushes = 0;
        var flusher = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                await db.ExecuteAsync("SCRIPT", "FLUSH");
                Interlocked.Increment(ref flushes);
                await Task.Delay(2);
            }
        });

        var appends = new List<Task<Contracts.RoomMessage>>();
        try
        {
            for (var wave = 0; wave < 150; wave++)
            {
                for (var i = 0; i < 20; i++)
                {
                    appends.Add(history.AppendAsync(room, $"m{wave}-{i}", DateTimeOffset.UtcNow, CancellationToken.None));
                }

                await Task.Delay(1);
            }

            await Task.WhenAll(appends);
        }
        finally
        {
            await stop.CancelAsync();
            await flusher;
        }

        Assert.True(flushes >= 10, $"only {flushes} flushes ran among the appends");
        var ids = appends.Select(a => StreamId.Parse(a.Result.Id)).ToArray();
        var overtaken = ids.Zip(ids.Skip(1)).Count(pair => pair.First >= pair.Second);
        Assert.True(overtaken == 0, $"{overtaken} of {ids.Length} appends got an id below that of an append issued before them");
    }

    [Fact]
    public async Task AResumeAfterRedisLostTheRoomsHistoryIsNotRecovered()
    {
        var history = await CreateAsync(new HistoryOptions());
        var room = Rooms.Unique();
        var held = await history.AppendAsync(room, "held by the client", DateTimeOffset.UtcNow, None);
        await history.AppendAsync(room, "missed, then lost", DateTimeOffset.UtcNow, None);
        var (db, key) = await StreamOfAsync(history, room);

        // Lost (a restart without persistence, FLUSHALL), and the room goes on.
        await db.KeyDeleteAsync(key);
        Assert.False((await history.GetAfterAsync(room, StreamId.Parse(held.Id), TimeSpan.Zero, long.MaxValue, None)).Recovered);
        await history.AppendAsync(room, "after the loss", DateTimeOffset.UtcNow, None);

        var resumed = await history.GetAfterAsync(room, StreamId.Parse(held.Id), TimeSpan.Zero, long.MaxValue, None);
        Assert.False(resumed.Recovered);
        Assert.Equal(["after the loss"], resumed.Messages.Select(m => m.Message));
    }

    [Fact]
    public async Task AReadAfterMaxLengthWasLoweredFarBelowWhatAStreamHoldsAnswersWithinTheNewBound()
    {
        // More entries past the new bound than one Lua unpack takes.
        var history = await CreateAsync(new HistoryOptions { MaxLength = 8300 });
        var room = Rooms.Unique();
        await AppendInWavesAsync(history, room, 8300, i => $"m{i}");

        var lowered = new RoomHistoryRedis(_connections[history], OptionsWith(new HistoryOptions { MaxLength = 10 }));
        var latest = await lowered.GetLatestAsync(room, 100, long.MaxValue, CancellationToken.None);

        Assert.Equal(10, latest.Count);
        var (db, key) = await StreamOfAsync(history, room);
        Assert.Equal(10, await db.StreamLengthAsync(key));
        var next = await lowered.AppendAsync(room, "next", DateTimeOffset.UtcNow, CancellationToken.None);
        Assert.Equal(next.Id, (await lowered.GetLatestAsync(room, 1, long.MaxValue, CancellationToken.None)).Single().Id);
    }

    private protected override async Task<bool> HoldsAnythingAsync(IRoomHistory history, string room)
    {
        var (db, key) = await StreamOfAsync(history, room);
        return await db.KeyExistsAsync(key);
    }

    /// <summary>The Redis database and key of a room's stream in the store.</summary>
    private async Task<(IDatabase Db, RedisKey Key)> StreamOfAsync(IRoomHistory history, string room)
    {
        var connection = _connections[history];
        return ((await connection.GetAsync()).GetDatabase(), new RedisKeys(connection.Prefix).History(room));
    }
}
