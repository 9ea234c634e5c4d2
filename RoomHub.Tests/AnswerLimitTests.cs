using System.Text.Json.Nodes;
using Microsoft.AspNetCore.SignalR.Client;
using RoomHub.Contracts;
using RoomHub.Tests.Infrastructure;

namespace RoomHub.Tests;

/// <summary>
/// One history or resume answer is at most <c>History:MaxAnswerBytes</c> on the client's wire: the newest messages that
/// fit, and a resume that cannot bring everything the client missed says so (<c>recovered: false</c>). Here 1,000-byte
/// messages against 5,000 bytes: four fit.
/// </summary>
public sealed class AnswerLimitTests
{
    private const int Fitting = 4;
    private static readonly string Filler = new('x', 990);

    private static async Task<(RoomHubInstance Server, string Room, List<string> Ids)> StartAsync()
    {
        var server = await RoomHubInstance.StartAsync(new Dictionary<string, string?> { ["RoomHub:History:MaxAnswerBytes"] = "5000" });
        var room = Rooms.Unique("answer-limit");
        await using var sender = await TestClient.ConnectAsync(server);
        var ids = new List<string>();
        for (var i = 0; i < 10; i++)
        {
            ids.Add(await sender.SendAsync(room, $"{i:D2}{Filler}"));
        }

        return (server, room, ids);
    }

    [Fact]
    public async Task AHistoryAnswerHoldsTheNewestMessagesThatFit()
    {
        var (server, room, ids) = await StartAsync();
        await using var _ = server;
        await using var client = await TestClient.ConnectAsync(server);
        await using var legacy = await LegacyClient.ConnectAsync(server);

        var latest = await client.Connection.InvokeAsync<IReadOnlyList<RoomMessage>>(nameof(IRoomHub.GetHistory), room, 10);
        await legacy.SendAsync(new JsonObject { ["type"] = "HISTORY", ["room"] = room, ["limit"] = 10 }.ToJsonString());
        var frame = await legacy.WaitForJsonAsync(j => (string?)j["type"] == "HISTORY", "the history answer");

        Assert.Equal(ids[^Fitting..], latest.Select(m => m.Id));
        Assert.Equal(ids[^Fitting..], frame["messages"]!.AsArray().Select(m => (string?)m!["id"]));
    }

    [Fact]
    public async Task AResumeThatCannotBringEverythingMissedSaysSoAndBringsTheNewest()
    {
        var (server, room, ids) = await StartAsync();
        await using var _ = server;
        await using var client = await TestClient.ConnectAsync(server);
        await using var legacy = await LegacyClient.ConnectAsync(server, query: "format=envelope");

        var tooMuch = await client.Connection.InvokeAsync<ResumeResult>(nameof(IRoomHub.Resume), room, ids[0]);
        var fits = await client.Connection.InvokeAsync<ResumeResult>(nameof(IRoomHub.Resume), room, ids[^(Fitting + 1)]);
        await legacy.SendAsync(new JsonObject { ["type"] = "RESUME", ["room"] = room, ["lastId"] = ids[0] }.ToJsonString());
        var frame = await legacy.WaitForJsonAsync(j => (string?)j["type"] == "RESUME", "the resume answer");

        Assert.False(tooMuch.Recovered);
        Assert.Equal(ids[^Fitting..], tooMuch.Messages.Select(m => m.Id));
        Assert.True(fits.Recovered);
        Assert.Equal(ids[^Fitting..], fits.Messages.Select(m => m.Id));
        Assert.False((bool?)frame["recovered"]);
        Assert.Equal(ids[^Fitting..], frame["messages"]!.AsArray().Select(m => (string?)m!["id"]));
    }

    [Fact]
    public async Task AMessageLargerThanTheLimitIsStillAnswered()
    {
        await using var server = await RoomHubInstance.StartAsync(new Dictionary<string, string?> { ["RoomHub:History:MaxAnswerBytes"] = "1024" });
        var room = Rooms.Unique("answer-limit");
        await using var client = await TestClient.ConnectAsync(server);
        await client.SendAsync(room, "small");
        var large = await client.SendAsync(room, new string('y', 4000));

        var latest = await client.Connection.InvokeAsync<IReadOnlyList<RoomMessage>>(nameof(IRoomHub.GetHistory), room, 10);

        Assert.Equal([large], latest.Select(m => m.Id));
    }

    [Fact]
    public async Task AnswersAreSizedAsEachConnectionsProtocolWritesThem()
    {
        // An emoji is 12 bytes in JSON (both halves escaped) and 4 in MessagePack: three of these messages fit in 5,000
        // bytes for a MessagePack client, one for a JSON client.
        await using var server = await RoomHubInstance.StartAsync(new Dictionary<string, string?> { ["RoomHub:History:MaxAnswerBytes"] = "5000" });
        var room = Rooms.Unique("answer-limit");
        var emoji = string.Concat(Enumerable.Repeat("🎉", 300));
        await using var json = await TestClient.ConnectAsync(server);
        await using var messagePack = await TestClient.ConnectAsync(server, messagePack: true);
        var ids = new List<string>();
        for (var i = 0; i < 5; i++)
        {
            ids.Add(await json.SendAsync(room, emoji));
        }

        var asJson = await json.Connection.InvokeAsync<IReadOnlyList<RoomMessage>>(nameof(IRoomHub.GetHistory), room, 10);
        var asMessagePack = await messagePack.Connection.InvokeAsync<IReadOnlyList<RoomMessage>>(nameof(IRoomHub.GetHistory), room, 10);

        Assert.Equal(ids[^1..], asJson.Select(m => m.Id));
        Assert.Equal(ids[^3..], asMessagePack.Select(m => m.Id));
    }
}
