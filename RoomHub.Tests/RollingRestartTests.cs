using System.Collections.Concurrent;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http.Connections;
using Microsoft.AspNetCore.SignalR.Client;
using RoomHub.Contracts;
using RoomHub.Server.Internal.Engine;
using RoomHub.Tests.Infrastructure;

namespace RoomHub.Tests;

/// <summary>
/// Three instances behind a real haproxy are restarted one after another (SIGTERM, drain, start) while SignalR and
/// legacy clients, each with a session, keep receiving and a publisher keeps sending. Afterwards every acknowledged
/// message has reached every client, live or replayed from history by its session.
/// </summary>
[Collection(IsolatedCollection.Name)]
public sealed class RollingRestartTests(Xunit.Abstractions.ITestOutputHelper output)
{
    [Fact]
    public async Task RollingRestartLosesNoAcknowledgedMessageForClientsWithASession()
    {
        await using var cluster = await LocalCluster.UpAsync(instances: 3, new Dictionary<string, string> { ["RoomHub__DrainTimeout"] = "00:00:02" });
        var room = Rooms.Unique("rolling");
        var signalR = new List<(HubConnection Connection, ConcurrentDictionary<(string Room, string Id), bool> Ids)>();
        for (var i = 0; i < 3; i++)
        {
            var ids = new ConcurrentDictionary<(string Room, string Id), bool>();
            var connection = Connect(cluster, ids);
            await connection.StartAsync();
            await connection.InvokeAsync(nameof(IRoomHub.Subscribe), room);
            signalR.Add((connection, ids));
        }

        await using var legacyA = await ReconnectingLegacyClient.StartAsync(cluster, room);
        await using var legacyB = await ReconnectingLegacyClient.StartAsync(cluster, room);
        await using var publisher = Connect(cluster, new ConcurrentDictionary<(string Room, string Id), bool>());
        await publisher.StartAsync();

        // The publisher sends all along; a send that fails while its own connection moves is simply not acknowledged.
        var acknowledged = new ConcurrentBag<(string Room, string Id)>();
        using var stop = new CancellationTokenSource();
        var publishing = Task.Run(async () =>
        {
            for (var i = 0; !stop.IsCancellationRequested; i++)
            {
                try
                {
                    acknowledged.Add((room, await publisher.InvokeAsync<string>(nameof(IRoomHub.SendMessage), room, $"m{i}", stop.Token)));

                    // 50 messages/s: steady traffic, well inside the per-connection send limit (100/s).
                    await Task.Delay(20, stop.Token);
                }
                catch (Exception) when (!stop.IsCancellationRequested)
                {
                    await Task.Delay(50);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        });
        await Poll.UntilAsync(() => acknowledged.Count > 20 && legacyA.Ids.Count > 5 && legacyB.Ids.Count > 5, "traffic before the restarts");

        for (var k = 1; k <= 3; k++)
        {
            var restarted = await cluster.RunAsync("restart-instance", k.ToString(System.Globalization.CultureInfo.InvariantCulture));
            Assert.True(restarted.ExitCode == 0, $"restart-instance {k} failed: {restarted}");
        }

        var before = acknowledged.Count;
        await Poll.UntilAsync(() => acknowledged.Count > before + 20, "traffic after the restarts", TimeSpan.FromSeconds(30));
        await stop.CancelAsync();
        await publishing;

        // A last message, sent after every restart, then every acknowledged message must reach every client. Completeness
        // is polled for, not inferred from the last message: a client whose session is being restored is back in the room
        // before its missed messages are replayed, so the last message can reach it live while the replay is under way.
        acknowledged.Add((room, await publisher.InvokeAsync<string>(nameof(IRoomHub.SendMessage), room, "final")));
        var clients = signalR.Select((s, i) => (Name: $"SignalR client {i}", Ids: s.Ids))
            .Append((Name: "legacy client A", Ids: legacyA.Ids))
            .Append((Name: "legacy client B", Ids: legacyB.Ids))
            .ToArray();

        string Missing() => string.Join("; ", clients
            .Select(c => (c.Name, Missed: acknowledged.Where(m => !c.Ids.ContainsKey(m)).OrderBy(m => StreamId.Parse(m.Id)).ToList()))
            .Where(c => c.Missed.Count > 0)
            .Select(c => $"{c.Name} missed {c.Missed.Count} of {acknowledged.Count} ({c.Missed[0].Id} to {c.Missed[^1].Id})"));

        try
        {
            await Poll.UntilAsync(() => clients.All(c => acknowledged.All(c.Ids.ContainsKey)), "every acknowledged message at every client", TimeSpan.FromSeconds(30));
        }
        catch (TimeoutException)
        {
            Assert.Fail("Acknowledged messages never arrived: " + Missing());
        }

        output.WriteLine($"rolling restart: each of {clients.Length} clients received all {acknowledged.Count} acknowledged messages; the legacy clients reconnected {legacyA.Reconnects + legacyB.Reconnects} times");

        Assert.True(legacyA.Reconnects + legacyB.Reconnects >= 1, "the legacy clients should have been moved at least once");
        foreach (var (connection, _) in signalR)
        {
            await connection.DisposeAsync();
        }
    }

    private static HubConnection Connect(LocalCluster cluster, ConcurrentDictionary<(string Room, string Id), bool> ids)
    {
        var url = new Uri(cluster.HubUrl + "?session=" + Guid.NewGuid().ToString("N"));
        var connection = new HubConnectionBuilder()
            .WithUrl(url, options =>
            {
                options.SkipNegotiation = true;
                options.Transports = HttpTransportType.WebSockets;
            })
            .WithAutomaticReconnect(Enumerable.Repeat(TimeSpan.FromMilliseconds(200), 100).ToArray())
            .Build();
        connection.On<RoomMessage>(nameof(IRoomClient.ReceiveMessage), message => ids[(message.Room, message.Id)] = true);
        return connection;
    }

    /// <summary>A raw legacy client that does what a well-behaved one does: reconnect with its session when closed.</summary>
    private sealed class ReconnectingLegacyClient : IAsyncDisposable
    {
        private readonly Uri _url;
        private readonly CancellationTokenSource _stop = new();
        private Task _loop = Task.CompletedTask;

        private ReconnectingLegacyClient(Uri url) => _url = url;

        public ConcurrentDictionary<(string Room, string Id), bool> Ids { get; } = new();

        public int Reconnects { get; private set; }

        public static async Task<ReconnectingLegacyClient> StartAsync(LocalCluster cluster, string room)
        {
            var client = new ReconnectingLegacyClient(new Uri($"ws://127.0.0.1:{cluster.Port}/?format=envelope&session={Guid.NewGuid():N}"));
            var joined = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            client._loop = client.RunAsync(room, joined);
            await joined.Task.WaitAsync(TimeSpan.FromSeconds(15));
            return client;
        }

        private async Task RunAsync(string room, TaskCompletionSource joined)
        {
            var first = true;
            while (!_stop.IsCancellationRequested)
            {
                using var socket = new ClientWebSocket();
                try
                {
                    await socket.ConnectAsync(_url, _stop.Token);
                    if (first)
                    {
                        // The session remembers the room from here on; reconnections need no SUBSCRIBE.
                        var subscribe = new JsonObject { ["type"] = "RESUME", ["room"] = room }.ToJsonString();
                        await socket.SendAsync(Encoding.UTF8.GetBytes(subscribe), WebSocketMessageType.Text, true, _stop.Token);
                    }
                    else
                    {
                        Reconnects++;
                    }

                    var buffer = new byte[64 * 1024];
                    while (true)
                    {
                        var result = await socket.ReceiveAsync(buffer, _stop.Token);
                        if (result.MessageType == WebSocketMessageType.Close)
                        {
                            break;
                        }

                        var json = JsonNode.Parse(Encoding.UTF8.GetString(buffer, 0, result.Count))!.AsObject();
                        if ((string?)json["type"] == "RESUME" && first)
                        {
                            first = false;
                            joined.TrySetResult();
                        }
                        else if ((string?)json["type"] == "MESSAGE")
                        {
                            Ids[((string)json["room"]!, (string)json["id"]!)] = true;
                        }
                    }
                }
                catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or System.Text.Json.JsonException)
                {
                }

                if (!_stop.IsCancellationRequested)
                {
                    await Task.Delay(100);
                }
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            await _loop;
            _stop.Dispose();
        }
    }
}
