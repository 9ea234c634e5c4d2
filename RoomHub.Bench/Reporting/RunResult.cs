using System.Text.Json.Serialization;
using RoomHub.Bench.Measurement;

namespace RoomHub.Bench.Reporting;

/// <summary>Everything one run measured; written as JSON with <c>--out</c> and printed as a table.</summary>
internal sealed record RunResult
{
    public string Label { get; init; } = "";
    public string Scenario { get; init; } = "";
    [JsonPropertyName("clientMode")]
    public string Client { get; init; } = "";
    public string Targets { get; init; } = "";
    public string Machine { get; init; } = $"{Environment.ProcessorCount} cores, {Environment.OSVersion}, .NET {Environment.Version}";
    public DateTimeOffset StartedAt { get; init; }
    public int Subscribers { get; init; }
    public int Publishers { get; init; }
    public int Connections { get; init; }
    public int RoomSize { get; init; }
    public int PayloadBytes { get; init; }

    /// <summary>Requested deliveries per second; 0 = as fast as it goes.</summary>
    public double TargetDeliveriesPerSecond { get; init; }

    /// <summary><c>rooms</c>: messages per second each connection was asked to send.</summary>
    public double? MessagesPerSecondPerSender { get; init; }
    public double MeasuredSeconds { get; init; }
    public double ConnectSeconds { get; init; }
    public double ConnectsPerSecond { get; init; }
    public long MessagesSent { get; init; }
    public double MessagesPerSecond { get; init; }
    public long ExpectedDeliveries { get; init; }
    public long Delivered { get; init; }
    public double DeliveriesPerSecond { get; init; }
    public long Lost { get; init; }
    public long OrderViolations { get; init; }
    public long Duplicates { get; init; }
    public long ForeignFrames { get; init; }
    public long SendErrors { get; init; }

    /// <summary>Sends the server refused before storing them (OVERLOADED, RATE_LIMITED); not counted as lost.</summary>
    public long Refused { get; init; }
    public LatencySummary Latency { get; init; } = LatencySummary.Empty;
    public LatencySummary? LatencySameInstance { get; init; }
    public LatencySummary? LatencyOtherInstance { get; init; }
    public IReadOnlyList<ProcessResult> Servers { get; init; } = [];
    public ProcessResult? Redis { get; init; }
    [JsonPropertyName("client")]
    public ProcessResult ClientProcess { get; init; } = new();

    /// <summary>Server CPU (all instances, Redis excluded) per delivery in the measured window.</summary>
    public double ServerCpuMicrosecondsPerDelivery { get; init; }
    public double RedisCpuMicrosecondsPerDelivery { get; init; }
    public double ClientCpuMicrosecondsPerDelivery { get; init; }

    /// <summary>The bench's own GC pauses in the measured window: a paused client delays every delivery it is reading.</summary>
    public double ClientGcPauseMilliseconds { get; init; }
    public int ClientGcCollections { get; init; }

    /// <summary>idle: server RSS growth per open connection, summed over instances.</summary>
    public double? ServerRssBytesPerConnection { get; init; }
    public double? ClientRssBytesPerConnection { get; init; }
    public IReadOnlyList<string> Notes { get; init; } = [];

    /// <summary>Deliveries per second over the run, second by second, warm-up included.</summary>
    public IReadOnlyList<TimelinePoint> Timeline { get; init; } = [];
}

/// <summary>One interval of a run's progress: its end (seconds from the start of sending), phase and rate.</summary>
internal sealed record TimelinePoint(double Seconds, string Phase, double DeliveriesPerSecond);

internal sealed record ProcessResult
{
    public string Name { get; init; } = "";
    public int Pid { get; init; }
    public double CpuSeconds { get; init; }

    /// <summary>CPU over the measured window, in percent of one core.</summary>
    public double CpuPercent { get; init; }
    public double RssMegabytes { get; init; }
    public double? RssMegabytesBefore { get; init; }

    public static ProcessResult From(string name, int pid, ProcSample start, ProcSample end, double seconds, ProcSample? before = null) => new()
    {
        Name = name,
        Pid = pid,
        CpuSeconds = (end.CpuTime - start.CpuTime).TotalSeconds,
        CpuPercent = seconds > 0 ? (end.CpuTime - start.CpuTime).TotalSeconds / seconds * 100 : 0,
        RssMegabytes = end.RssBytes / 1048576.0,
        RssMegabytesBefore = before is { } b ? b.RssBytes / 1048576.0 : null,
    };
}

[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(RunResult))]
internal sealed partial class ResultJsonContext : JsonSerializerContext;
