using Microsoft.AspNetCore.SignalR;
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
}
