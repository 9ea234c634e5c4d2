using System.Diagnostics;
using RoomHub.Bench.Measurement;
using RoomHub.Bench.Reporting;
using RoomHub.Bench.Scenarios;

namespace RoomHub.Tests.Bench;

public sealed class MessageTextTests
{
    [Fact]
    public void MessageIsPaddedToThePayloadSizeAndReadsBack()
    {
        var buffer = new byte[256];
        var length = new MessageText(12, 345, 638_000_000_000).Write(buffer, 100);

        Assert.Equal(100, length);
        Assert.StartsWith("s12:345:638000000000:x", System.Text.Encoding.ASCII.GetString(buffer, 0, length), StringComparison.Ordinal);
        Assert.True(MessageText.TryParse(buffer.AsSpan(0, length), out var message));
        Assert.Equal(new MessageText(12, 345, 638_000_000_000), message);
    }

    [Fact]
    public void PayloadSmallerThanTheHeaderKeepsTheWholeHeader()
    {
        var text = new MessageText(1, 2, 3).ToText(4);

        Assert.Equal("s1:2:3:", text);
        Assert.True(MessageText.TryParse(text, out var message));
        Assert.Equal(2, message.Sequence);
    }

    [Theory]
    [InlineData("")]
    [InlineData("probe:ready")]
    [InlineData("hello")]
    [InlineData("s1:2")]
    [InlineData("s1:2:3")]
    [InlineData("sx:2:3:")]
    public void OtherTextIsNotABenchmarkMessage(string text) => Assert.False(MessageText.TryParse(text, out _));
}

public sealed class DeliveryLedgerTests
{
    [Fact]
    public void InOrderDeliveriesFromSeveralSendersHaveNoViolationAndNoLoss()
    {
        var ledger = new DeliveryLedger();
        for (var seq = 0; seq < 10; seq++)
        {
            Assert.True(ledger.Record(1, seq));
            Assert.True(ledger.Record(2, seq));
        }

        Assert.Equal(20, ledger.Received);
        Assert.Equal(0, ledger.OrderViolations);
        Assert.Equal(0, ledger.Lost([(1, 10), (2, 10)]));
    }

    [Fact]
    public void AMessageArrivingAfterALaterOneIsAnOrderViolation()
    {
        var ledger = new DeliveryLedger();
        ledger.Record(1, 0);
        ledger.Record(1, 2);

        Assert.False(ledger.Record(1, 1));

        Assert.Equal(1, ledger.OrderViolations);
        Assert.Equal(0, ledger.Duplicates);
        Assert.Equal(0, ledger.Lost([(1, 3)]));
    }

    [Fact]
    public void ARepeatedMessageIsADuplicateAndDoesNotHideALoss()
    {
        var ledger = new DeliveryLedger();
        ledger.Record(7, 0);
        ledger.Record(7, 0);

        Assert.Equal(1, ledger.Duplicates);
        Assert.Equal(1, ledger.CountFrom(7));
        Assert.Equal(1, ledger.Lost([(7, 2)]));
    }

    [Fact]
    public void MissingMessagesAndSilentSendersCountAsLoss()
    {
        var ledger = new DeliveryLedger();
        ledger.Record(1, 0);
        ledger.Record(1, 3);

        Assert.Equal(0, ledger.OrderViolations);
        Assert.Equal(2 + 5, ledger.Lost([(1, 4), (2, 5)]));
    }
}

public sealed class LatencyRecorderTests
{
    [Fact]
    public void PercentilesComeFromTheRecordedValues()
    {
        var recorder = new LatencyRecorder();
        for (var micros = 1; micros <= 1000; micros++)
        {
            recorder.Record(micros * 10);
        }

        var summary = recorder.Summarize();

        Assert.Equal(1000, summary.Count);
        Assert.InRange(summary.P50, 4.99, 5.01);
        Assert.InRange(summary.P90, 8.99, 9.01);
        Assert.InRange(summary.P99, 9.89, 9.91);
        Assert.InRange(summary.Max, 9.99, 10.01);
        Assert.Equal(LatencyRecorder.CurvePercentiles.Length, summary.Curve.Count);
        Assert.True(summary.Curve.Zip(summary.Curve.Skip(1)).All(p => p.First.Milliseconds <= p.Second.Milliseconds));
    }

    [Fact]
    public void AnEmptyRecorderSummarizesToZeros() => Assert.Equal(0, new LatencyRecorder().Summarize().P99);

    [Fact]
    public void TimestampsConvertToMicrosecondsAndClampAtOne()
    {
        Assert.Equal(2000, LatencyRecorder.ToMicroseconds(0, Stopwatch.Frequency / 500));
        Assert.Equal(1, LatencyRecorder.ToMicroseconds(100, 100));
    }

    [Fact]
    public void StatsRecordLatencyOnlyWhileMeasuringAndSplitByTarget()
    {
        var stats = new RunStats(senders: 2);
        stats.SetSenderTarget(0, 0);
        stats.SetSenderTarget(1, 1);
        var receiver = new Receiver(stats, target: 0);
        var now = Stopwatch.GetTimestamp();

        receiver.OnText(new MessageText(0, 0, now).ToText(50));
        stats.Measuring = true;
        receiver.OnText(new MessageText(0, 1, now).ToText(50));
        receiver.OnText(new MessageText(1, 0, now).ToText(50));
        receiver.OnText("probe:ready");
        receiver.OnText("{\"type\":\"ERROR\"}");

        Assert.Equal(3, stats.Delivered);
        Assert.Equal(2, stats.DeliveredInWindow);
        Assert.Equal(2, stats.Latency.Count);
        Assert.Equal(1, stats.SameTarget.Count);
        Assert.Equal(1, stats.OtherTarget.Count);
        Assert.True(receiver.Ready);
        Assert.Equal(1, stats.ForeignFrames);
    }
}

public sealed class ProcSampleTests
{
    [Fact]
    public void CpuTimeIsUserPlusSystemTicksEvenWhenTheCommandNameHasSpacesAndParentheses()
    {
        const string stat = "4242 (dotnet (x) y) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 30 0 1000 300000000 20000 18446744073709551615";

        Assert.Equal(TimeSpan.FromSeconds(3), ProcSample.ParseCpuTime(stat));
    }

    [Fact]
    public void RssComesFromTheVmRssLineInKilobytes()
    {
        const string status = "Name:\tdotnet\nVmPeak:\t  999 kB\nVmRSS:\t    2088 kB\nThreads:\t12\n";

        Assert.Equal(2088 * 1024, ProcSample.ParseRssBytes(status));
    }

    [Fact]
    public void MalformedInputIsAFormatError()
    {
        Assert.Throws<FormatException>(() => ProcSample.ParseCpuTime("no parentheses here"));
        Assert.Throws<FormatException>(() => ProcSample.ParseRssBytes("Name:\tx\n"));
    }

    [Fact]
    public void TheCurrentProcessCanBeSampled()
    {
        var sample = ProcSample.Read(Environment.ProcessId);

        Assert.True(sample.RssBytes > 1024 * 1024);
        Assert.True(sample.CpuTime > TimeSpan.Zero);
    }
}

public sealed class SteadinessTests
{
    private static TimelinePoint[] Timeline(params double[] measured) =>
        [new TimelinePoint(1, "warmup", 100), .. measured.Select((rate, i) => new TimelinePoint(2 + i, "measure", rate))];

    [Fact]
    public void AWindowWhoseLastThirdOutrunsItsFirstIsStillRising()
    {
        var note = Progress.StillRising(Timeline(500, 520, 560, 600, 650, 700, 760, 800, 820));

        Assert.NotNull(note);
        Assert.Contains("527", note, StringComparison.Ordinal);
        Assert.Contains("793", note, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(new double[] { 1000, 900, 1100, 950, 1050, 1000, 980, 1020, 1010 })]
    [InlineData(new double[] { 1000, 1000, 1000, 900, 800, 700 })]
    [InlineData(new double[] { 100, 200, 400, 800, 1600 })]
    public void ASteadyOrFallingOrShortWindowIsNot(double[] measured) => Assert.Null(Progress.StillRising(Timeline(measured)));
}
