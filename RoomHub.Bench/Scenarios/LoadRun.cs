using System.Diagnostics;
using System.Globalization;
using RoomHub.Bench.Clients;
using RoomHub.Bench.Measurement;
using RoomHub.Bench.Reporting;
using RoomHub.Bench.Targets;

namespace RoomHub.Bench.Scenarios;

/// <summary>
/// Runs <c>fanout</c>, <c>cross</c> and <c>rooms</c>: connect, subscribe, confirm every subscription with probe
/// messages, send for warm-up + duration seconds (paced or windowed), stop sending, wait for the last deliveries,
/// then account for every message.
/// </summary>
internal sealed class LoadRun(BenchOptions options, TargetSet targets, Action<string> log)
{
    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(10);

    private readonly List<Node> _nodes = [];
    private long _expectedDeliveries;
    private volatile bool _stopSending;

    public async Task<RunResult> RunAsync(CancellationToken cancellationToken)
    {
        var runId = Guid.NewGuid().ToString("N")[..8];
        var plan = LoadPlan.Create(options, targets.Urls.Count, runId);
        var stats = new RunStats(plan.Senders);
        var startedAt = DateTimeOffset.UtcNow;
        var notes = new List<string>();
        using var sources = new SourceAddresses(options.SourceAddresses > 0 ? options.SourceAddresses : SourceAddresses.NeededFor(plan.Connections.Count));

        var connectWatch = Stopwatch.StartNew();
        await ConnectAllAsync(plan, stats, sources, cancellationToken).ConfigureAwait(false);
        var connectSeconds = connectWatch.Elapsed.TotalSeconds;
        log(string.Create(CultureInfo.InvariantCulture, $"{_nodes.Count} connections open and subscribed in {connectSeconds:0.0} s"));
        try
        {
            await ProbeAsync(plan, cancellationToken).ConfigureAwait(false);
            log("every subscription confirmed by a probe message");

            var fanoutOf = plan.Rooms.ToDictionary(r => r, plan.MembersOf);
            var senders = _nodes.Where(n => n.Plan.SendsTo is not null).ToList();
            foreach (var sender in senders)
            {
                stats.SetSenderTarget(sender.Plan.SenderId, sender.Plan.Target);

                // A refused message is owed to nobody: it leaves the expected deliveries (and the in-flight window).
                var fanout = fanoutOf[sender.Plan.SendsTo!];
                var node = sender;
                sender.Connection.OnRefused = () =>
                {
                    Interlocked.Increment(ref node.Refused);
                    Interlocked.Add(ref _expectedDeliveries, -fanout);
                };
            }

            var totalFanout = senders.Sum(s => fanoutOf[s.Plan.SendsTo!]);
            var perSenderRate = options.Rate > 0 ? options.Rate / totalFanout : options.Scenario == Scenario.Rooms ? options.MessageRate : 0;
            var window = (long)options.Window * totalFanout / senders.Count;

            var sendTasks = senders.Select(s => SendLoopAsync(s, fanoutOf[s.Plan.SendsTo!], perSenderRate, stats, window, cancellationToken)).ToList();
            var clientStart = default(TimeSpan);
            var clientGcStart = (Pause: TimeSpan.Zero, Collections: 0);
            var serverStart = Array.Empty<ProcSample>();
            var redisStart = default(ProcSample);
            var windowWatch = new Stopwatch();
            var total = options.Warmup + options.Duration;
            var runWatch = Stopwatch.StartNew();
            var progress = new Progress(stats, targets, log);
            while (runWatch.Elapsed.TotalSeconds < total)
            {
                if (!stats.Measuring && runWatch.Elapsed.TotalSeconds >= options.Warmup)
                {
                    serverStart = targets.Servers.Select(s => s.Sample()).ToArray();
                    redisStart = targets.Redis?.Sample() ?? default;
                    clientStart = Process.GetCurrentProcess().TotalProcessorTime;
                    clientGcStart = ClientGc();
                    stats.Measuring = true;
                    windowWatch.Start();
                }

                var faulted = _nodes.FirstOrDefault(n => n.Connection.Completion.IsCompleted);
                if (faulted is not null)
                {
                    notes.Add("a connection closed during the run: " + (faulted.Connection.Completion.Exception?.InnerException?.Message ?? "closed by the server"));
                    break;
                }

                await Task.Delay(TimeSpan.FromSeconds(Math.Min(1, Math.Max(0.05, total - runWatch.Elapsed.TotalSeconds))), cancellationToken).ConfigureAwait(false);
                progress.Print(runWatch.Elapsed.TotalSeconds, stats.Measuring ? "measure" : "warmup");
            }

            stats.Measuring = false;
            windowWatch.Stop();
            var measured = windowWatch.Elapsed.TotalSeconds;
            var serverEnd = targets.Servers.Select(s => s.Sample()).ToArray();
            var redisEnd = targets.Redis?.Sample() ?? default;
            var clientEnd = Process.GetCurrentProcess().TotalProcessorTime;
            var clientGcEnd = ClientGc();
            _stopSending = true;
            await Task.WhenAll(sendTasks).ConfigureAwait(false);

            notes.AddRange(targets.ExitReports());
            if (Progress.StillRising(progress.Timeline) is { } rising)
            {
                notes.Add(rising);
            }

            var drained = await DrainAsync(stats, cancellationToken).ConfigureAwait(false);
            if (!drained)
            {
                notes.Add($"not every delivery arrived within {DrainTimeout.TotalSeconds:0} s of the last send");
                if (stats.SendErrors > 0)
                {
                    notes.Add($"{stats.SendErrors} sends failed (not acknowledged, perhaps not stored): their deliveries are counted as lost unless they came");
                }
            }

            return Summarize(plan, stats, startedAt, measured, connectSeconds, serverStart, serverEnd, redisStart, redisEnd, clientEnd - clientStart, (clientGcEnd.Pause - clientGcStart.Pause, clientGcEnd.Collections - clientGcStart.Collections), notes) with { Timeline = progress.Timeline };
        }
        finally
        {
            await Parallel.ForEachAsync(_nodes, new ParallelOptions { MaxDegreeOfParallelism = 64 }, async (node, _) => await node.Connection.DisposeAsync().ConfigureAwait(false)).ConfigureAwait(false);
        }
    }

    private async Task ConnectAllAsync(LoadPlan plan, RunStats stats, SourceAddresses sources, CancellationToken cancellationToken)
    {
        var nodes = new Node?[plan.Connections.Count];
        await Parallel.ForEachAsync(Enumerable.Range(0, plan.Connections.Count), new ParallelOptions { MaxDegreeOfParallelism = options.ConnectConcurrency, CancellationToken = cancellationToken }, async (i, token) =>
        {
            var planned = plan.Connections[i];
            var receiver = planned.Joins is null ? null : new Receiver(stats, planned.Target);
            var connection = await BenchClient.ConnectAsync(options, targets.Urls[planned.Target], sources.For(i), receiver, stats, token).ConfigureAwait(false);
            nodes[i] = new Node(planned, connection, receiver);
            if (planned.Joins is { } room)
            {
                await connection.SubscribeAsync(room, token).ConfigureAwait(false);
            }
        }).ConfigureAwait(false);
        _nodes.AddRange(nodes.OfType<Node>());
    }

    /// <summary>
    /// The legacy protocol acknowledges no subscription, and an acknowledged one may still take a moment to reach
    /// Redis: every room gets probe messages until each of its members has heard one.
    /// </summary>
    private async Task ProbeAsync(LoadPlan plan, CancellationToken cancellationToken)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(ProbeTimeout.TotalSeconds * Stopwatch.Frequency);
        var rooms = plan.Rooms.ToDictionary(r => r, r => _nodes.Where(n => n.Plan.Joins == r).ToList());
        var probers = plan.Rooms.ToDictionary(r => r, r => _nodes.FirstOrDefault(n => n.Plan.SendsTo == r) ?? _nodes.First(n => n.Plan.Joins == r));
        var text = System.Text.Encoding.ASCII.GetBytes(Receiver.ProbePrefix + "ready");
        while (true)
        {
            var waiting = rooms.Where(r => r.Value.Any(n => !n.Receiver!.Ready)).Select(r => r.Key).ToList();
            if (waiting.Count == 0)
            {
                return;
            }

            if (Stopwatch.GetTimestamp() > deadline)
            {
                throw new TimeoutException($"{waiting.Count} room(s) still had members that heard no probe after {ProbeTimeout.TotalSeconds:0} s: subscriptions did not take effect.");
            }

            foreach (var room in waiting)
            {
                await probers[room].Connection.SendAsync(room, text, cancellationToken).ConfigureAwait(false);
            }

            await Task.Delay(200, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task SendLoopAsync(Node node, int fanout, double messagesPerSecond, RunStats stats, long window, CancellationToken cancellationToken)
    {
        await Task.Yield();
        var room = node.Plan.SendsTo!;
        var buffer = new byte[Math.Max(options.Payload, MessageText.MaxHeaderBytes)];
        var start = Stopwatch.GetTimestamp();
        long sequence = 0;

        // Paced senders start at staggered points of their interval, so that thousands of them do not fire together.
        var phase = node.Plan.SenderId * 0.6180339887 % 1;
        while (!_stopSending)
        {
            if (messagesPerSecond > 0)
            {
                var wait = (sequence + phase) / messagesPerSecond - Stopwatch.GetElapsedTime(start).TotalSeconds;
                if (wait > 0)
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(Math.Clamp(wait * 1000, 1, 1000)), cancellationToken).ConfigureAwait(false);
                    continue;
                }
            }
            else if (Interlocked.Read(ref _expectedDeliveries) - stats.Delivered > window)
            {
                await Task.Delay(1, cancellationToken).ConfigureAwait(false);
                continue;
            }

            var length = new MessageText(node.Plan.SenderId, sequence, Stopwatch.GetTimestamp()).Write(buffer, options.Payload);
            await node.Connection.SendAsync(room, buffer.AsMemory(0, length), cancellationToken).ConfigureAwait(false);
            sequence++;
            Interlocked.Add(ref _expectedDeliveries, fanout);
            stats.CountSent();
        }

        node.Sent = sequence;
    }

    private async Task<bool> DrainAsync(RunStats stats, CancellationToken cancellationToken)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(DrainTimeout.TotalSeconds * Stopwatch.Frequency);
        while (stats.Delivered < Interlocked.Read(ref _expectedDeliveries))
        {
            if (Stopwatch.GetTimestamp() > deadline)
            {
                return false;
            }

            await Task.Delay(20, cancellationToken).ConfigureAwait(false);
        }

        return true;
    }

    /// <summary>The bench's own GC pause time and collection count so far.</summary>
    private static (TimeSpan Pause, int Collections) ClientGc() => (GC.GetTotalPauseDuration(), GC.CollectionCount(0));

    private RunResult Summarize(LoadPlan plan, RunStats stats, DateTimeOffset startedAt, double measured, double connectSeconds,
        ProcSample[] serverStart, ProcSample[] serverEnd, ProcSample redisStart, ProcSample redisEnd, TimeSpan clientCpu, (TimeSpan Pause, int Collections) clientGc, List<string> notes)
    {
        var sentBy = _nodes.Where(n => n.Plan.SendsTo is not null).GroupBy(n => n.Plan.SendsTo!).ToDictionary(g => g.Key, g => g.Select(n => (n.Plan.SenderId, n.Sent - Interlocked.Read(ref n.Refused))).ToList());
        long lost = 0, duplicates = 0;
        foreach (var member in _nodes.Where(n => n.Receiver is not null))
        {
            lost += member.Receiver!.Ledger.Lost(sentBy.GetValueOrDefault(member.Plan.Joins!) ?? []);
            duplicates += member.Receiver.Ledger.Duplicates;
        }

        var inWindow = stats.DeliveredInWindow;
        var servers = targets.Servers.Select((s, i) => ProcessResult.From(s.Name, s.Id, serverStart[i], serverEnd[i], measured)).ToList();
        var redis = targets.Redis is { } r ? ProcessResult.From(r.Name, r.Id, redisStart, redisEnd, measured) : null;
        var self = Process.GetCurrentProcess();
        double PerDelivery(double seconds) => inWindow > 0 ? seconds * 1e6 / inWindow : 0;
        if (targets.Servers.Count == 0)
        {
            notes.Add("servers not started by the bench: no server CPU or RSS (pass --pid to sample them)");
        }

        return new RunResult
        {
            Label = options.Label ?? $"{options.Scenario.ToString().ToLowerInvariant()}-{options.Client.ToString().ToLowerInvariant()}",
            Scenario = options.Scenario.ToString().ToLowerInvariant(),
            Client = options.Client.ToString().ToLowerInvariant(),
            Targets = targets.Description,
            StartedAt = startedAt,
            Subscribers = plan.Connections.Count(c => c.Joins is not null),
            Publishers = plan.Senders,
            Connections = plan.Connections.Count,
            RoomSize = plan.Rooms.Count > 0 ? plan.MembersOf(plan.Rooms[0]) : 0,
            PayloadBytes = options.Payload,
            TargetDeliveriesPerSecond = options.Rate,
            MessagesPerSecondPerSender = options.Rate > 0 || options.Scenario != Scenario.Rooms ? null : options.MessageRate,
            MeasuredSeconds = measured,
            ConnectSeconds = connectSeconds,
            ConnectsPerSecond = connectSeconds > 0 ? plan.Connections.Count / connectSeconds : 0,
            MessagesSent = stats.Sent,
            MessagesPerSecond = measured > 0 ? stats.Sent / (options.Warmup + measured) : 0,
            ExpectedDeliveries = Interlocked.Read(ref _expectedDeliveries),
            Delivered = stats.Delivered,
            DeliveriesPerSecond = measured > 0 ? inWindow / measured : 0,
            Lost = lost,
            OrderViolations = stats.OrderViolations,
            Duplicates = duplicates,
            ForeignFrames = stats.ForeignFrames,
            SendErrors = stats.SendErrors,
            Refused = _nodes.Sum(n => Interlocked.Read(ref n.Refused)),
            Latency = stats.Latency.Summarize(),
            LatencySameInstance = targets.Urls.Count > 1 ? stats.SameTarget.Summarize() : null,
            LatencyOtherInstance = targets.Urls.Count > 1 ? stats.OtherTarget.Summarize() : null,
            Servers = servers,
            Redis = redis,
            ClientProcess = new ProcessResult { Name = "bench client", Pid = self.Id, CpuSeconds = clientCpu.TotalSeconds, CpuPercent = measured > 0 ? clientCpu.TotalSeconds / measured * 100 : 0, RssMegabytes = self.WorkingSet64 / 1048576.0 },
            ServerCpuMicrosecondsPerDelivery = PerDelivery(servers.Sum(s => s.CpuSeconds)),
            RedisCpuMicrosecondsPerDelivery = PerDelivery(redis?.CpuSeconds ?? 0),
            ClientCpuMicrosecondsPerDelivery = PerDelivery(clientCpu.TotalSeconds),
            ClientGcPauseMilliseconds = clientGc.Pause.TotalMilliseconds,
            ClientGcCollections = clientGc.Collections,
            Notes = notes,
        };
    }

    private sealed class Node(PlannedConnection plan, IBenchConnection connection, Receiver? receiver)
    {
        public PlannedConnection Plan { get; } = plan;
        public IBenchConnection Connection { get; } = connection;
        public Receiver? Receiver { get; } = receiver;
        public long Sent { get; set; }

        /// <summary>Sends the server refused before storing them (OVERLOADED, RATE_LIMITED).</summary>
        public long Refused;
    }
}
