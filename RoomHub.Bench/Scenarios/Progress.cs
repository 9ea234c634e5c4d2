using System.Diagnostics;
using System.Globalization;
using RoomHub.Bench.Measurement;
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

    public void Print(double elapsed, string phase)
    {
        var now = Stopwatch.GetTimestamp();
        var seconds = Stopwatch.GetElapsedTime(_lastTimestamp, now).TotalSeconds;
        var sent = stats.Sent;
        var delivered = stats.Delivered;
        var clientCpu = Process.GetCurrentProcess().TotalProcessorTime;
        var serverCpu = targets.Servers.Select(s => s.Sample().CpuTime).ToArray();
        var serverPercent = serverCpu.Zip(_lastServerCpu, (a, b) => (a - b).TotalSeconds).Sum() / seconds * 100;
        log(string.Create(CultureInfo.InvariantCulture,
            $"[{elapsed,5:0.0}s {phase,-7}] sent {(sent - _lastSent) / seconds,9:N0} msg/s  delivered {(delivered - _lastDelivered) / seconds,11:N0}/s  order violations {stats.OrderViolations}  servers CPU {serverPercent,4:0}%  client CPU {(clientCpu - _lastClientCpu).TotalSeconds / seconds * 100,4:0}%"));
        (_lastSent, _lastDelivered, _lastTimestamp, _lastClientCpu, _lastServerCpu) = (sent, delivered, now, clientCpu, serverCpu);
    }
}
