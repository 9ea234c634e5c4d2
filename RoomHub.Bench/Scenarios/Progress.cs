using System.Diagnostics;
using System.Globalization;
using RoomHub.Bench.Measurement;
using RoomHub.Bench.Reporting;
using RoomHub.Bench.Targets;

namespace RoomHub.Bench.Scenarios;

/// <summary>The line printed every second while a run goes: rates since the last line, and CPU of servers and client.</summary>
internal sealed class Progress(RunStats stats, TargetSet targets, Action<string> log)
{
    private long _lastSent;
    private long _lastDelivered;
    private long _lastTimestamp = Stopwatch.GetTimestamp();
    private TimeSpan _lastClientCpu = Process.GetCurrentProcess().TotalProcessorTime;
    private TimeSpan[] _lastServerCpu = targets.Servers.Select(s => s.Sample().CpuTime).ToArray();

    /// <summary>Deliveries per second of each interval printed, warm-up included: shows whether a run had settled.</summary>
    public List<TimelinePoint> Timeline { get; } = [];

    public void Print(double elapsed, string phase)
    {
        var now = Stopwatch.GetTimestamp();
        var seconds = Stopwatch.GetElapsedTime(_lastTimestamp, now).TotalSeconds;
        var sent = stats.Sent;
        var delivered = stats.Delivered;
        var clientCpu = Process.GetCurrentProcess().TotalProcessorTime;
        var serverCpu = targets.Servers.Select(s => s.Sample().CpuTime).ToArray();
        var deliveredPerSecond = (delivered - _lastDelivered) / seconds;
        Timeline.Add(new TimelinePoint(Math.Round(elapsed, 1), phase, Math.Round(deliveredPerSecond)));
        var serverPercent = serverCpu.Zip(_lastServerCpu, (a, b) => (a - b).TotalSeconds).Sum() / seconds * 100;
        log(string.Create(CultureInfo.InvariantCulture,
            $"[{elapsed,5:0.0}s {phase,-7}] sent {(sent - _lastSent) / seconds,9:N0} msg/s  delivered {deliveredPerSecond,11:N0}/s  order violations {stats.OrderViolations}  servers CPU {serverPercent,4:0}%  client CPU {(clientCpu - _lastClientCpu).TotalSeconds / seconds * 100,4:0}%"));
        (_lastSent, _lastDelivered, _lastTimestamp, _lastClientCpu, _lastServerCpu) = (sent, delivered, now, clientCpu, serverCpu);
    }

    /// <summary>
    /// A note when the measured window's last third delivered over 15% more per second than its first third: the
    /// servers were still speeding up (a server's JIT tiers its hot code up over the first tens of seconds under load),
    /// so the run measured part of its warm-up.
    /// </summary>
    public static string? StillRising(IReadOnlyList<TimelinePoint> timeline)
    {
        var measured = timeline.Where(p => p.Phase == "measure").Select(p => p.DeliveriesPerSecond).ToArray();
        if (measured.Length < 6)
        {
            return null;
        }

        var third = measured.Length / 3;
        var (first, last) = (measured[..third].Average(), measured[^third..].Average());
        return first > 0 && last > first * 1.15
            ? string.Create(CultureInfo.InvariantCulture, $"deliveries/s still rising through the measured window ({first:N0} in its first third, {last:N0} in its last): not yet steady; give it a longer --warmup")
            : null;
    }
}
