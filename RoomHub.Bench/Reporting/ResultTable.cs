using System.Globalization;
using System.Text;
using RoomHub.Bench.Measurement;

namespace RoomHub.Bench.Reporting;

/// <summary>The readable summary printed at the end of a run.</summary>
internal static class ResultTable
{
    public static string Format(RunResult r)
    {
        var s = new StringBuilder();
        void Row(string name, string value) => s.Append(CultureInfo.InvariantCulture, $"  {name,-28} {value}\n");
        s.Append(CultureInfo.InvariantCulture, $"\n== {r.Label} — {r.Scenario}, {r.Client} client, {r.Targets}\n");
        if (r.Scenario == "idle")
        {
            Row("connections", $"{r.Connections:N0} in {r.ConnectSeconds:0.0} s ({r.ConnectsPerSecond:N0}/s), room size {r.RoomSize}");
            Row("server RSS per connection", r.ServerRssBytesPerConnection is { } b ? $"{b / 1024:0.0} KB" : "n/a");
            Row("client RSS per connection", r.ClientRssBytesPerConnection is { } c ? $"{c / 1024:0.0} KB" : "n/a");
        }
        else
        {
            Row("workload", $"{r.Subscribers} subscribers, {r.Publishers} publishers, {r.Connections} connections, room size {r.RoomSize}, {r.PayloadBytes} B");
            Row("rate", r.TargetDeliveriesPerSecond > 0 ? $"{r.TargetDeliveriesPerSecond:N0} deliveries/s requested"
                : r.MessagesPerSecondPerSender is { } perSender ? $"{perSender:0.###} msg/s per connection" : "max (windowed)");
            Row("delivered", $"{r.DeliveriesPerSecond:N0} deliveries/s ({r.MessagesPerSecond:N0} msgs/s sent) over {r.MeasuredSeconds:0.0} s");
            Row("loss / order / dup", $"{r.Lost} lost of {r.ExpectedDeliveries:N0}, {r.OrderViolations} order violations, {r.Duplicates} duplicates");
            Row("latency ms p50/p90/p99/max", Latency(r.Latency));
            if (r.LatencySameInstance is { Count: > 0 } same)
            {
                Row("  same instance", Latency(same));
            }

            if (r.LatencyOtherInstance is { Count: > 0 } other)
            {
                Row("  other instance", Latency(other));
            }

            Row("server CPU per delivery", $"{r.ServerCpuMicrosecondsPerDelivery:0.00} µs" + (r.Redis is null ? "" : $" (+ redis {r.RedisCpuMicrosecondsPerDelivery:0.00} µs)"));
            Row("client CPU per delivery", $"{r.ClientCpuMicrosecondsPerDelivery:0.00} µs");
            Row("client GC pauses", $"{r.ClientGcPauseMilliseconds:0.0} ms in {r.ClientGcCollections} collections");
        }

        foreach (var p in r.Servers.Append(r.Redis).Append(r.ClientProcess).OfType<ProcessResult>())
        {
            Row(p.Name, $"pid {p.Pid}, CPU {p.CpuPercent:0}% of a core, RSS {p.RssMegabytes:0.0} MB" + (p.RssMegabytesBefore is { } before ? $" (was {before:0.0} MB)" : ""));
        }

        if (r.Refused > 0)
        {
            Row("refused by the server", $"{r.Refused:N0} sends ({r.Refused * 100.0 / Math.Max(r.MessagesSent, 1):0.#}% of those sent; not stored, not owed)");
        }

        if (r.ForeignFrames > 0 || r.SendErrors > 0)
        {
            Row("other frames / send errors", $"{r.ForeignFrames} / {r.SendErrors}");
        }

        foreach (var note in r.Notes)
        {
            Row("note", note);
        }

        return s.ToString();
    }

    private static string Latency(LatencySummary l) =>
        string.Create(CultureInfo.InvariantCulture, $"{l.P50:0.00} / {l.P90:0.00} / {l.P99:0.00} / {l.Max:0.00}  ({l.Count:N0} samples)");
}
