using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using RoomHub.Bench;
using RoomHub.Bench.Measurement;
using RoomHub.Bench.Reporting;
using RoomHub.Bench.Scenarios;
using RoomHub.Bench.Targets;
using RoomHub.Tests.Infrastructure;
using Xunit.Abstractions;

namespace RoomHub.Tests.Bench;

/// <summary>Tiny paced runs of the bench against real servers: every message must arrive once and in order.</summary>
public sealed class BenchEndToEndTests(BenchEndToEndTests.BenchCluster fixture, ITestOutputHelper output) : IClassFixture<BenchEndToEndTests.BenchCluster>
{
    /// <summary>
    /// A load generator sends from few connections far beyond a real client's per-connection limits; the servers it
    /// measures lift them, as the instances the bench starts itself do.
    /// </summary>
    internal static readonly Dictionary<string, string?> BenchLimits = new()
    {
        ["RoomHub:Security:SendsPerSecond"] = "1000000",
        ["RoomHub:Security:SendBurst"] = "1000000",
        ["RoomHub:Security:SubscriptionsPerSecond"] = "1000000",
        ["RoomHub:Security:SubscriptionBurst"] = "1000000",
        ["RoomHub:Security:MaxConnectionsPerAddress"] = "100000",
    };

    public sealed class BenchCluster : IAsyncLifetime
    {
        private RoomHubCluster? _cluster;

        public RoomHubCluster Cluster => _cluster ?? throw new InvalidOperationException("The cluster has not started.");

        public async Task InitializeAsync() => _cluster = await RoomHubCluster.StartAsync(instances: 2, settings: BenchLimits);

        public async Task DisposeAsync()
        {
            if (_cluster is not null)
            {
                await _cluster.DisposeAsync();
            }
        }
    }

    [Theory]
    [InlineData("lean")]
    [InlineData("hub")]
    public async Task TinyFanoutOnOneInstanceLosesNothingAndKeepsOrder(string client)
    {
        await using var instance = await RoomHubInstance.StartAsync(BenchLimits);

        var result = await RunAsync("fanout", "--url", instance.BaseAddress.ToString(), "--client", client, "--subscribers", "5", "--publishers", "1", "--rate", "1000", "--duration", "1", "--warmup", "0");

        AssertAllDeliveredInOrder(result, minimumMessages: 100);
    }

    [Fact]
    public async Task TinyCrossInstanceFanoutLosesNothingAndMeasuresBothPaths()
    {
        var urls = string.Join(',', fixture.Cluster.Instances.Select(i => i.BaseAddress));

        var result = await RunAsync("cross", "--url", urls, "--subscribers", "6", "--publishers", "2", "--rate", "2400", "--duration", "1", "--warmup", "0");

        AssertAllDeliveredInOrder(result, minimumMessages: 100);
        Assert.True(result.LatencySameInstance!.Count > 0);
        Assert.True(result.LatencyOtherInstance!.Count > 0);
    }

    [Fact]
    public async Task LegacyClientAgainstTheBareServerLosesNothing()
    {
        var port = FreePort.Next();
        using var stop = new CancellationTokenSource();
        var server = BareServer.RunAsync(port, stop.Token);
        try
        {
            await Poll.UntilAsync(async () => await AcceptsAsync(port), "the bare server to listen");

            var result = await RunAsync("fanout", "--url", $"ws://127.0.0.1:{port}/", "--client", "legacy", "--subscribers", "5", "--publishers", "1", "--rate", "1000", "--duration", "1", "--warmup", "0");

            AssertAllDeliveredInOrder(result, minimumMessages: 100);
        }
        finally
        {
            await stop.CancelAsync();
            await server;
        }
    }

    [Theory]
    [InlineData("lean")]
    [InlineData("hub")]
    public async Task SignalRClientsAgainstTheStockServerLoseNothing(string client)
    {
        var port = FreePort.Next();
        using var stop = new CancellationTokenSource();
        var server = StockServer.RunAsync(port, stop.Token);
        try
        {
            await Poll.UntilAsync(async () => await AcceptsAsync(port), "the stock server to listen");

            var result = await RunAsync("fanout", "--url", $"http://127.0.0.1:{port}/", "--client", client, "--subscribers", "5", "--publishers", "1", "--rate", "1000", "--duration", "1", "--warmup", "0");

            AssertAllDeliveredInOrder(result, minimumMessages: 100);
        }
        finally
        {
            await stop.CancelAsync();
            await server;
        }
    }

    [Fact]
    public async Task TinyRoomsRunDeliversEveryMessageToEveryMember()
    {
        await using var instance = await RoomHubInstance.StartAsync(BenchLimits);

        var result = await RunAsync("rooms", "--url", instance.BaseAddress.ToString(), "--connections", "20", "--room-size", "5", "--msg-rate", "20", "--duration", "1", "--warmup", "0");

        AssertAllDeliveredInOrder(result, minimumMessages: 200);
        Assert.Equal(5, result.RoomSize);
    }

    [Theory]
    [InlineData("legacy")]
    [InlineData("lean")]
    [InlineData("hub")]
    public async Task SendsTheServerRefusesAreCountedAsRefusedNotLost(string client)
    {
        // Each connection may send 20 messages a second and sends 100: most sends are refused with RATE_LIMITED.
        var limited = new Dictionary<string, string?>(BenchLimits)
        {
            ["RoomHub:Security:SendsPerSecond"] = "20",
            ["RoomHub:Security:SendBurst"] = "5",
        };
        await using var instance = await RoomHubInstance.StartAsync(limited);

        var result = await RunAsync("rooms", "--url", instance.BaseAddress.ToString(), "--client", client, "--connections", "10", "--room-size", "5", "--msg-rate", "100", "--duration", "1", "--warmup", "0");

        Assert.InRange(result.Refused, result.MessagesSent / 2, result.MessagesSent);
        Assert.Equal(result.ExpectedDeliveries, result.Delivered);
        Assert.InRange(result.Delivered, 5 * 20, long.MaxValue);
        Assert.Equal(0, result.Lost);
        Assert.Equal(0, result.OrderViolations);
        Assert.Equal(0, result.SendErrors);
    }

    [Theory]
    [InlineData("legacy")]
    [InlineData("lean")]
    public async Task SendsThatFailAreCountedAsSendErrorsAndTheirDeliveriesAsMissing(string client)
    {
        // Every fourth measured send fails with SEND_FAILED before anything is stored: its deliveries never come.
        await using var instance = await RoomHubInstance.StartAsync(BenchLimits, replace: HeldHistory.Wrap);
        var history = instance.Services.GetRequiredService<HeldHistory>();
        history.FailEveryAppend(4, of: text => !text.StartsWith(Receiver.ProbePrefix, StringComparison.Ordinal));

        var result = await RunAsync("rooms", "--url", instance.BaseAddress.ToString(), "--client", client, "--connections", "10", "--room-size", "5", "--msg-rate", "4", "--duration", "2", "--warmup", "0");

        // About 80 sends, a fourth of them failing; on a machine busy with other tests the client may get far fewer out.
        Assert.InRange(history.FailedAppends, 1, long.MaxValue);
        Assert.Equal(history.FailedAppends, result.SendErrors);
        Assert.Equal(0, result.ForeignFrames);
        Assert.Equal(0, result.Refused);
        Assert.Equal(result.SendErrors * 5, result.Lost);
        Assert.Equal(result.ExpectedDeliveries - result.Lost, result.Delivered);
        Assert.Equal(0, result.OrderViolations);
        Assert.Contains(result.Notes, n => n.StartsWith($"{result.SendErrors} sends failed", StringComparison.Ordinal));
    }

    private async Task<RunResult> RunAsync(params string[] args)
    {
        var options = BenchOptions.Parse(args);
        await using var targets = await TargetSet.StartAsync(options, output.WriteLine, CancellationToken.None);
        var result = await new LoadRun(options, targets, output.WriteLine).RunAsync(CancellationToken.None);
        output.WriteLine(ResultTable.Format(result));
        return result;
    }

    private static void AssertAllDeliveredInOrder(RunResult result, int minimumMessages)
    {
        Assert.DoesNotContain(result.Notes, n => !n.StartsWith("servers not started", StringComparison.Ordinal));
        Assert.InRange(result.MessagesSent, minimumMessages, long.MaxValue);
        Assert.Equal(result.ExpectedDeliveries, result.Delivered);
        Assert.Equal(0, result.Lost);
        Assert.Equal(0, result.OrderViolations);
        Assert.Equal(0, result.Duplicates);
        Assert.Equal(0, result.SendErrors);
        Assert.True(result.Latency.Count > 0);
    }

    private static async Task<bool> AcceptsAsync(int port)
    {
        try
        {
            using var client = new TcpClient();
            await client.ConnectAsync("127.0.0.1", port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
