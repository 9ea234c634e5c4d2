using System.Diagnostics;
using HdrHistogram;

namespace RoomHub.Bench.Measurement;

/// <summary>
/// Latency in microseconds from send to delivery, recorded concurrently by every receive loop into an HdrHistogram
/// (1 µs to 60 s, 3 significant digits). Only deliveries inside the measuring window are recorded.
/// </summary>
internal sealed class LatencyRecorder
{
    public const long HighestMicroseconds = 60_000_000;

    private readonly LongConcurrentHistogram _histogram = new(1, HighestMicroseconds, 3);

    public long Count => _histogram.TotalCount;

    public static long ToMicroseconds(long fromTimestamp, long toTimestamp) =>
        Math.Clamp((toTimestamp - fromTimestamp) * 1_000_000 / Stopwatch.Frequency, 1, HighestMicroseconds);

    public void Record(long microseconds) => _histogram.RecordValue(Math.Clamp(microseconds, 1, HighestMicroseconds));

    public void RecordSince(long sentTimestamp, long nowTimestamp) => _histogram.RecordValue(ToMicroseconds(sentTimestamp, nowTimestamp));

    public void Reset() => _histogram.Reset();

    public LatencySummary Summarize()
    {
        var copy = _histogram.Copy();
        if (copy.TotalCount == 0)
        {
            return LatencySummary.Empty;
        }

        var curve = new List<PercentilePoint>();
        foreach (var percentile in CurvePercentiles)
        {
            curve.Add(new PercentilePoint(percentile, copy.GetValueAtPercentile(percentile) / 1000.0));
        }

        return new LatencySummary(
            copy.TotalCount,
            copy.GetValueAtPercentile(50) / 1000.0,
            copy.GetValueAtPercentile(90) / 1000.0,
            copy.GetValueAtPercentile(99) / 1000.0,
            copy.GetMaxValue() / 1000.0,
            copy.GetMean() / 1000.0,
            curve);
    }

    internal static readonly double[] CurvePercentiles = [0, 10, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 100];
}

/// <summary>Latency percentiles in milliseconds.</summary>
internal sealed record LatencySummary(long Count, double P50, double P90, double P99, double Max, double Mean, IReadOnlyList<PercentilePoint> Curve)
{
    public static LatencySummary Empty { get; } = new(0, 0, 0, 0, 0, 0, []);
}

internal sealed record PercentilePoint(double Percentile, double Milliseconds);
