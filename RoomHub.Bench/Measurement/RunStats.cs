using System.Diagnostics;

namespace RoomHub.Bench.Measurement;

/// <summary>
/// The counters every receive loop and sender shares during a run. Deliveries are counted always; latency is recorded
/// only while <see cref="Measuring"/> (after warm-up), split by whether sender and receiver were on the same target.
/// </summary>
internal sealed class RunStats
{
    private readonly int[] _senderTarget;
    private long _delivered;
    private long _deliveredInWindow;
    private long _sent;
    private long _orderViolations;
    private long _foreignFrames;
    private long _sendErrors;
    private volatile bool _measuring;

    public RunStats(int senders)
    {
        _senderTarget = new int[Math.Max(senders, 1)];
    }

    public LatencyRecorder Latency { get; } = new();
    public LatencyRecorder SameTarget { get; } = new();
    public LatencyRecorder OtherTarget { get; } = new();

    public long Delivered => Interlocked.Read(ref _delivered);
    public long DeliveredInWindow => Interlocked.Read(ref _deliveredInWindow);
    public long Sent => Interlocked.Read(ref _sent);
    public long OrderViolations => Interlocked.Read(ref _orderViolations);
    public long ForeignFrames => Interlocked.Read(ref _foreignFrames);
    public long SendErrors => Interlocked.Read(ref _sendErrors);

    public bool Measuring
    {
        get => _measuring;
        set => _measuring = value;
    }

    public void SetSenderTarget(int sender, int target) => _senderTarget[sender] = target;

    public void CountSent() => Interlocked.Increment(ref _sent);

    public void CountSendError() => Interlocked.Increment(ref _sendErrors);

    public void CountForeignFrame() => Interlocked.Increment(ref _foreignFrames);

    /// <summary>Records one delivery into the receiver's ledger and the shared counters.</summary>
    public void Deliver(Receiver receiver, in MessageText message)
    {
        var now = Stopwatch.GetTimestamp();
        if (!receiver.Ledger.Record(message.Sender, message.Sequence))
        {
            Interlocked.Increment(ref _orderViolations);
        }

        Interlocked.Increment(ref _delivered);
        if (_measuring)
        {
            Interlocked.Increment(ref _deliveredInWindow);
            var micros = LatencyRecorder.ToMicroseconds(message.Timestamp, now);
            Latency.Record(micros);
            var senderTarget = (uint)message.Sender < (uint)_senderTarget.Length ? _senderTarget[message.Sender] : -1;
            (senderTarget == receiver.Target ? SameTarget : OtherTarget).Record(micros);
        }
    }
}
