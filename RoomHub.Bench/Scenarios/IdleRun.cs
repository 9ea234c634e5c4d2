using System.Diagnostics;
using System.Globalization;
using RoomHub.Bench.Clients;
using RoomHub.Bench.Measurement;
using RoomHub.Bench.Reporting;
using RoomHub.Bench.Targets;

namespace RoomHub.Bench.Scenarios;

/// <summary>
/// <c>idle</c>: opens N connections that join rooms of <see cref="BenchOptions.EffectiveRoomSize"/> members (by default
/// each its own room, the most a room costs per connection) and then do nothing; reports the connect rate
/// and the servers' RSS growth per connection (RSS after holding them for the duration, minus RSS before connecting).
/// </summary>
internal sealed class IdleRun(BenchOptions options, TargetSet targets, Action<string> log)
{
    public async Task<RunResult> RunAsync(CancellationToken cancellationToken)
    {
        var count = options.EffectiveConnections;
        var stats = new RunStats(0);
        var notes = new List<string>();
        var startedAt = DateTimeOffset.UtcNow;
        var runId = Guid.NewGuid().ToString("N")[..8];
        using var sources = new SourceAddresses(options.SourceAddresses > 0 ? options.SourceAddresses : SourceAddresses.NeededFor(count));
        var connections = new IBenchConnection?[count];

        // One connection first, so the servers' first-connection costs (JIT, pools) are in the baseline.
        var warm = await BenchClient.ConnectAsync(options, targets.Urls[0], sources.For(0), null, stats, cancellationToken).ConfigureAwait(false);
        await warm.SubscribeAsync($"bench-{runId}-warm", cancellationToken).ConfigureAwait(false);
        var before = targets.Servers.Select(s => s.Sample()).ToArray();
        var clientBefore = Process.GetCurrentProcess().WorkingSet64;
        var opened = 0;
        var watch = Stopwatch.StartNew();
        var connecting = Parallel.ForEachAsync(Enumerable.Range(0, count), new ParallelOptions { MaxDegreeOfParallelism = options.ConnectConcurrency, CancellationToken = cancellationToken }, async (i, token) =>
        {
            var connection = await BenchClient.ConnectAsync(options, targets.Urls[i % targets.Urls.Count], sources.For(i), new Receiver(stats, i % targets.Urls.Count), stats, token).ConfigureAwait(false);
            connections[i] = connection;
            await connection.SubscribeAsync($"bench-{runId}-idle{i / options.EffectiveRoomSize}", token).ConfigureAwait(false);
            Interlocked.Increment(ref opened);
        });
        try
        {
            while (!connecting.IsCompleted)
            {
                await Task.WhenAny(connecting, Task.Delay(1000, cancellationToken)).ConfigureAwait(false);
                log(string.Create(CultureInfo.InvariantCulture, $"[{watch.Elapsed.TotalSeconds,5:0.0}s connect] {Volatile.Read(ref opened),7:N0} of {count:N0} open  servers RSS {Rss():N0} MB"));
            }

            try
            {
                await connecting.ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                notes.Add($"connecting stopped after {Volatile.Read(ref opened):N0} of {count:N0} connections: {ex.Message}");
                notes.AddRange(targets.ExitReports());
                count = Volatile.Read(ref opened);
            }

            var connectSeconds = watch.Elapsed.TotalSeconds;
            var start = targets.Servers.Select(s => s.Sample()).ToArray();
            var hold = Stopwatch.StartNew();
            while (hold.Elapsed.TotalSeconds < options.Duration)
            {
                await Task.Delay(TimeSpan.FromSeconds(Math.Min(1, options.Duration - hold.Elapsed.TotalSeconds + 0.01)), cancellationToken).ConfigureAwait(false);
                if (connections.OfType<IBenchConnection>().FirstOrDefault(c => c.Completion.IsCompleted) is { } closed)
                {
                    notes.Add("a connection closed while idle: " + (closed.Completion.Exception?.InnerException?.Message ?? "closed by the server"));
                    break;
                }

                log(string.Create(CultureInfo.InvariantCulture, $"[{hold.Elapsed.TotalSeconds,5:0.0}s idle   ] {count:N0} open  servers RSS {Rss():N0} MB"));
            }

            notes.AddRange(targets.ExitReports());
            var end = targets.Servers.Select(s => s.Sample()).ToArray();
            var measured = hold.Elapsed.TotalSeconds;
            var servers = targets.Servers.Select((s, i) => ProcessResult.From(s.Name, s.Id, start[i], end[i], measured, before[i])).ToList();
            var self = Process.GetCurrentProcess();
            if (targets.Servers.Count == 0)
            {
                notes.Add("servers not started by the bench: no server RSS (pass --pid to sample them)");
            }

            return new RunResult
            {
                Label = options.Label ?? $"idle-{options.Client.ToString().ToLowerInvariant()}",
                Scenario = "idle",
                Client = options.Client.ToString().ToLowerInvariant(),
                Targets = targets.Description,
                StartedAt = startedAt,
                Connections = count,
                RoomSize = options.EffectiveRoomSize,
                MeasuredSeconds = measured,
                ConnectSeconds = connectSeconds,
                ConnectsPerSecond = count / connectSeconds,
                Servers = servers,
                ClientProcess = new ProcessResult { Name = "bench client", Pid = self.Id, RssMegabytes = self.WorkingSet64 / 1048576.0, RssMegabytesBefore = clientBefore / 1048576.0 },
                ServerRssBytesPerConnection = targets.Servers.Count > 0 ? PerConnection(before, end, count) : null,
                ClientRssBytesPerConnection = (self.WorkingSet64 - clientBefore) / (double)count,
                ForeignFrames = stats.ForeignFrames,
                Notes = notes,
            };
        }
        finally
        {
            try
            {
                await connecting.ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // Reported above.
            }

            await Parallel.ForEachAsync(connections.OfType<IBenchConnection>().Append(warm), new ParallelOptions { MaxDegreeOfParallelism = 64 }, async (c, _) => await c.DisposeAsync().ConfigureAwait(false)).ConfigureAwait(false);
        }
    }

    /// <summary>RSS growth of all servers together, per connection.</summary>
    internal static double PerConnection(IReadOnlyList<ProcSample> before, IReadOnlyList<ProcSample> after, int connections) =>
        (after.Sum(s => s.RssBytes) - before.Sum(s => s.RssBytes)) / (double)connections;

    private long Rss() => targets.Servers.Sum(s => s.Sample().RssBytes) / 1048576;
}
