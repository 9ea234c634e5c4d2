using System.Text;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using RoomHub.Server.Internal;
using RoomHub.Tests.Infrastructure;

namespace RoomHub.Tests.Security;

/// <summary>Runs alone: a healthy reader must keep up with a flood, which a machine busy with forty other tests can prevent.</summary>
[Collection(IsolatedCollection.Name)]
public sealed class SlowConsumerTests
{
    internal static readonly Dictionary<string, string?> Settings = new()
    {
        ["RoomHub:MaxMessageBytes"] = "16384",
        // Room enough that a healthy reader on a busy test machine is never dropped by a burst of 16 KB messages.
        ["RoomHub:Security:MaxOutboundBufferBytes"] = "1048576",
        ["RoomHub:Security:SendsPerSecond"] = "100000",
        ["RoomHub:Security:SendBurst"] = "100000",
    };

    [Fact]
    public async Task ALegacyClientThatStopsReadingIsDroppedAndTheOthersGetEveryMessage()
    {
        await using var server = await RoomHubInstance.StartAsync(Settings);
        var room = Rooms.Unique();
        await using var slow = await StopReadingAsync(server, "/", room, legacy: true);
        await RunAsync(server, room, () => server.Services.GetRequiredService<ConnectionRegistry>().LegacyCount <= 1);
    }

    [Fact]
    public async Task ASignalRClientThatStopsReadingIsDroppedAndTheOthersGetEveryMessage()
    {
        await using var server = await RoomHubInstance.StartAsync(Settings);
        var room = Rooms.Unique();
        await using var slow = await StopReadingAsync(server, "/hubs/rooms", room, legacy: false);
        await RunAsync(server, room, () => server.Services.GetRequiredService<ConnectionRegistry>().SignalRCount <= 1);
    }

    /// <summary>
    /// A client that stops reading with a queue under the limit (so the guard has no spell to time), then closes and
    /// still reads nothing: the close frame waits for its queue no longer than the slow-consumer timeout, and the
    /// connection then ends and gives its place back.
    /// </summary>
    [Theory]
    [InlineData("/", true)]
    [InlineData("/hubs/rooms", false)]
    public async Task AClientThatClosesBehindItsQueueAndReadsNothingIsLetGo(string path, bool legacy)
    {
        await using var server = await RoomHubInstance.StartAsync(new Dictionary<string, string?>(Settings)
        {
            ["RoomHub:Security:MaxConnections"] = "2",
            ["RoomHub:Security:MaxOutboundBufferBytes"] = (64 * 1024 * 1024).ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["RoomHub:Security:SlowConsumerTimeout"] = "00:00:02",
        });
        var room = Rooms.Unique("closing");
        await using var slow = await StopReadingAsync(server, path, room, legacy);
        await using (var publisher = await TestClient.ConnectAsync(server))
        {
            // 4.8 MB: more than the socket's buffers hold, so frames wait in the connection's queue.
            var filler = new string('x', 16_000);
            for (var i = 0; i < 300; i++)
            {
                await publisher.SendAsync(room, $"{i}:{filler}");
            }
        }

        await slow.SendCloseAsync(1000);

        // Both places free again: the closing client's too.
        await Poll.UntilAsync(async () =>
        {
            await using var first = await RawWebSocket.ConnectAsync(server, "/");
            await using var second = await RawWebSocket.ConnectAsync(server, "/");
            return first.Status == 101 && second.Status == 101;
        }, "the closing client's place to be given back");
    }

    private static async Task RunAsync(RoomHubInstance server, string room, Func<bool> slowGone)
    {
        await using var reader = await LegacyClient.ConnectAsync(server);
        await reader.SubscribeAsync(room);
        await using var sender = await SecureClients.HubAsync(server);
        await Poll.UntilAsync(async () =>
        {
            await sender.InvokeAsync<string>("SendMessage", room, "warm-up");
            return reader.Frames.Contains("warm-up");
        }, "the reader to be in the room");

        // 1,000 × 16 KB = 16 MB: far more than the 1 MiB queue (the default) and the kernel's socket buffers.
        const int count = 1000;
        var filler = new string('x', 16_000);
        for (var i = 0; i < count; i++)
        {
            await sender.InvokeAsync<string>("SendMessage", room, $"{i}:{filler}").WaitAsync(TimeSpan.FromSeconds(10));
        }

        await Poll.UntilAsync(slowGone, "the slow consumer to be dropped");
        await Poll.UntilAsync(() => reader.Frames.Count(f => f.EndsWith(filler, StringComparison.Ordinal)) == count, "every message at the reader", TimeSpan.FromSeconds(30));
    }

    /// <summary>A client that joins <paramref name="room"/>, proves it is in it, and then never reads again.</summary>
    internal static async Task<RawWebSocket> StopReadingAsync(RoomHubInstance server, string path, string room, bool legacy)
    {
        var socket = await RawWebSocket.ConnectAsync(server, path, receiveBufferSize: 4096);
        if (legacy)
        {
            await socket.SendTextAsync($"{{\"type\":\"SUBSCRIBE\",\"room\":\"{room}\"}}");
        }
        else
        {
            await socket.SendTextAsync("{\"protocol\":\"json\",\"version\":1}\u001e");
            await socket.ReadFrameAsync();
            await socket.SendTextAsync($"{{\"type\":1,\"invocationId\":\"1\",\"target\":\"Subscribe\",\"arguments\":[\"{room}\"]}}\u001e");
            var completion = await socket.ReadFrameAsync();
            Assert.Contains("\"invocationId\":\"1\"", completion?.Text ?? "", StringComparison.Ordinal);
        }

        return socket;
    }
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task AClientThatAsksForALargeAnswerAndNeverReadsItIsDroppedAfterTheSlowConsumerTimeout(bool legacy)
    {
        // Answers that fill the queue and the socket's buffers, each written only once there is room for it, and nothing
        // else is written to the client: no byte count would ever drop it, the time its queue stays full does.
        var log = new LogCapture();
        await using var server = await RoomHubInstance.StartAsync(
            new Dictionary<string, string?>
            {
                ["RoomHub:MaxMessageBytes"] = "16384",
                ["RoomHub:Security:MaxOutboundBufferBytes"] = "33792",
                ["RoomHub:Security:SlowConsumerTimeout"] = "00:00:02",
                ["RoomHub:History:MaxAnswerBytes"] = "2097152",
            },
            configure: builder => builder.Logging.AddProvider(log));
        var room = Rooms.Unique("never-read");
        var filler = new string('x', 16_000);
        await using (var publisher = await TestClient.ConnectAsync(server))
        {
            for (var i = 0; i < 100; i++)
            {
                await publisher.SendAsync(room, $"{i}:{filler}");
            }
        }

        var connections = server.Services.GetRequiredService<ConnectionRegistry>();
        await Poll.UntilAsync(() => connections.SignalRCount + connections.LegacyCount == 0, "the publisher to be gone");
        await using var socket = await StopReadingAsync(server, legacy ? "/" : "/hubs/rooms", Rooms.Unique("elsewhere"), legacy);
        await Poll.UntilAsync(() => connections.SignalRCount + connections.LegacyCount == 1, "the client to be connected");
        for (var i = 0; i < 6; i++)
        {
            // 6 × 1.6 MB: more than the queue and the socket's buffers (the kernel lets a send buffer grow to 4 MB).
            await socket.SendTextAsync(legacy
                ? $"{{\"type\":\"HISTORY\",\"room\":\"{room}\",\"limit\":100}}"
                : $"{{\"type\":1,\"invocationId\":\"h{i}\",\"target\":\"GetHistory\",\"arguments\":[\"{room}\",100]}}\u001e");
        }

        await Poll.UntilAsync(() => connections.SignalRCount + connections.LegacyCount == 0, "the client that never reads to be dropped", TimeSpan.FromSeconds(20));
        Assert.Contains(log.Entries, e => e.EventId.Id == 4006 && e.Message.Contains("stayed full for 2 s", StringComparison.Ordinal));
    }
}
