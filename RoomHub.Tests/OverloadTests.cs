using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using RoomHub.Contracts;
using RoomHub.Tests.Infrastructure;

namespace RoomHub.Tests;

/// <summary>
/// An instance works on at most <c>RoomHub:MaxSendsInFlight</c> sends at once. One more is refused at once with
/// OVERLOADED, on either transport, while the sends under way finish and land; and the refusals do not flood the log.
/// The sends under way are held in the history append, so the instance is full every time, not by timing luck.
/// </summary>
public sealed class OverloadTests
{
    private static async Task<(RoomHubInstance Server, HeldHistory History, LogCapture Log)> StartAsync()
    {
        var log = new LogCapture();
        var server = await RoomHubInstance.StartAsync(
            new Dictionary<string, string?> { ["RoomHub:MaxSendsInFlight"] = "1" },
            configure: builder => builder.Logging.AddProvider(log),
            replace: HeldHistory.Wrap);
        return (server, server.Services.GetRequiredService<HeldHistory>(), log);
    }

    [Fact]
    public async Task ASendBeyondTheLimitIsRefusedAtOnceWithOverloadedAndTheSendUnderWayStillLands()
    {
        var (server, history, log) = await StartAsync();
        await using var _ = server;
        var room = Rooms.Unique("overload");
        await using var member = await TestClient.ConnectAsync(server);
        await member.SubscribeAsync(room);
        await using var other = await TestClient.ConnectAsync(server);
        await using var legacy = await LegacyClient.ConnectAsync(server);

        history.HoldAppends();
        var underWay = member.SendAsync(room, "under way");
        await history.AppendReached.Task.WaitAsync(TimeSpan.FromSeconds(10));

        var refused = await Assert.ThrowsAsync<HubException>(() => other.SendAsync(room, "one too many"));
        Assert.Contains(RoomErrorCodes.Overloaded + ": ", refused.Message, StringComparison.Ordinal);
        await legacy.SendMessageAsync(room, "one too many, legacy");
        var frame = await legacy.WaitForErrorAsync(RoomErrorCodes.Overloaded);
        Assert.Contains("retry", (string?)frame["message"], StringComparison.OrdinalIgnoreCase);
        Assert.False(underWay.IsCompleted);

        history.Release();
        var id = await underWay.WaitAsync(TimeSpan.FromSeconds(10));
        await member.WaitForAsync(m => m.Id == id, "the send that was under way");

        // The slot is free again: a retry is accepted.
        var retried = await other.SendAsync(room, "retried");
        await member.WaitForAsync(m => m.Id == retried && m.Message == "retried", "the retried send");
        Assert.DoesNotContain(member.Received, m => m.Message.StartsWith("one too many", StringComparison.Ordinal));

        // Refusals are answers, not faults: nothing about them is logged as an error.
        Assert.DoesNotContain(log.Entries, e => e.Level >= LogLevel.Error);
    }
    [Fact]
    public async Task SendsWaitingBehindAnotherCommandOfTheirConnectionDoNotTakeTheInstancesSlots()
    {
        // One connection's sends queued behind its own slow command are not under way: they must not leave every other
        // client of the instance refused with OVERLOADED (a few clients that stall their own commands could otherwise
        // take all the slots). They are limited apart.
        var log = new LogCapture();
        var server = await RoomHubInstance.StartAsync(
            new Dictionary<string, string?> { ["RoomHub:MaxSendsInFlight"] = "2" },
            configure: builder => builder.Logging.AddProvider(log),
            replace: HeldHistory.Wrap);
        await using var _ = server;
        var history = server.Services.GetRequiredService<HeldHistory>();
        var room = Rooms.Unique("overload");
        await using var stalled = await TestClient.ConnectAsync(server);
        await using var other = await TestClient.ConnectAsync(server);
        await other.SubscribeAsync(room);
        var first = await other.SendAsync(room, "before");

        history.Hold();
        var resuming = stalled.Connection.InvokeAsync<ResumeResult>(nameof(IRoomHub.Resume), room, first);
        await history.Reached.Task.WaitAsync(TimeSpan.FromSeconds(10));
        var queued = new[] { stalled.SendAsync(room, "queued 1"), stalled.SendAsync(room, "queued 2") };

        // The sends waiting so are limited apart, to as many as may be under way: one more is refused at once.
        var oneTooMany = await Assert.ThrowsAsync<HubException>(() => stalled.SendAsync(room, "one too many waiting"));
        Assert.Contains(RoomErrorCodes.Overloaded + ": ", oneTooMany.Message, StringComparison.Ordinal);

        // A call refused before its turn comes back only after the calls sent before it were taken up: the queued sends
        // are now waiting behind the resume.
        await Assert.ThrowsAsync<HubException>(() => stalled.SendAsync("", "refused at once"));
        var accepted = await other.SendAsync(room, "not refused");
        Assert.False(resuming.IsCompleted);
        Assert.All(queued, send => Assert.False(send.IsCompleted));

        history.Release();
        await resuming.WaitAsync(TimeSpan.FromSeconds(10));
        var ids = await Task.WhenAll(queued).WaitAsync(TimeSpan.FromSeconds(10));
        await other.WaitForAsync(m => m.Id == ids[^1], "the last queued send");
        Assert.Equal(["queued 1", "queued 2"], other.Received.Where(m => m.Message.StartsWith("queued", StringComparison.Ordinal)).Select(m => m.Message));
        Assert.Contains(other.Received, m => m.Id == accepted);
        Assert.DoesNotContain(log.Entries, e => e.Level >= LogLevel.Error);
    }

    [Fact]
    public async Task OneAddressThatStallsItsOwnCommandsCannotTakeTheWaitingSendsOfOthers()
    {
        // Two connections from one address (as a proxy forwards it) stall their own commands and queue sends behind
        // them: they may hold only their address's share of the waiting sends (here a whole pipeline, 4), so a client
        // from another address can still queue a send behind a command of its own.
        var server = await RoomHubInstance.StartAsync(
            new Dictionary<string, string?>
            {
                ["RoomHub:MaxSendsInFlight"] = "6",
                ["RoomHub:SendPipelineDepth"] = "4",
                ["FORWARDEDHEADERS_ENABLED"] = "true",
            },
            replace: HeldHistory.Wrap);
        await using var _ = server;
        var history = server.Services.GetRequiredService<HeldHistory>();
        Task<TestClient> From(string address) => TestClient.ConnectAsync(
            new HubConnectionBuilder().WithUrl(server.HubUrl, options => options.Headers["X-Forwarded-For"] = address));
        var room = Rooms.Unique("overload-share");
        await using var first = await From("203.0.113.7");
        await using var second = await From("203.0.113.7");
        await using var elsewhere = await From("198.51.100.20");
        await using var member = await TestClient.ConnectAsync(server);
        await member.SubscribeAsync(room);
        var before = await member.SendAsync(room, "before");

        history.Hold();
        var resumes = new[] { first, second, elsewhere }
            .Select(client => client.Connection.InvokeAsync<ResumeResult>(nameof(IRoomHub.Resume), room, before)).ToArray();
        await Poll.UntilAsync(() => history.HeldReads == 3, "the three resumes to be held");

        // The first address's share: three sends behind the first connection's resume, one behind the second's.
        var queued = new List<Task<string>>();
        for (var i = 1; i <= 3; i++)
        {
            queued.Add(first.SendAsync(room, $"first {i}"));
        }

        queued.Add(second.SendAsync(room, "second 1"));
        var core = server.Services.GetRequiredService<RoomHub.Server.Internal.RoomCore>();
        await Poll.UntilAsync(() => core.SendsWaiting == 4, "the four sends to wait");

        // Beyond the share, refused at once; without the share these two would have filled the instance's six places.
        foreach (var text in new[] { "second 2", "second 3" })
        {
            var beyondShare = await Assert.ThrowsAsync<HubException>(() => second.SendAsync(room, text).WaitAsync(TimeSpan.FromSeconds(10)));
            Assert.Contains(RoomErrorCodes.Overloaded + ": ", beyondShare.Message, StringComparison.Ordinal);
        }

        // Another address still gets a place: its send waits behind its own resume, and is not refused.
        var fromElsewhere = elsewhere.SendAsync(room, "elsewhere");
        await Poll.UntilAsync(() => core.SendsWaiting == 5 || fromElsewhere.IsCompleted, "the other address's send to wait");
        Assert.False(fromElsewhere.IsCompleted);
        Assert.All(queued, send => Assert.False(send.IsCompleted));

        history.Release();
        await Task.WhenAll(resumes).WaitAsync(TimeSpan.FromSeconds(10));
        var ids = await Task.WhenAll(queued.Append(fromElsewhere)).WaitAsync(TimeSpan.FromSeconds(10));
        await Poll.UntilAsync(() => ids.All(id => member.Received.Any(m => m.Id == id)), "every accepted send to arrive");
        Assert.Equal(["first 1", "first 2", "first 3"], member.Received.Where(m => m.Message.StartsWith("first", StringComparison.Ordinal)).Select(m => m.Message));
        Assert.DoesNotContain(member.Received, m => m.Message is "second 2" or "second 3");
    }
}
