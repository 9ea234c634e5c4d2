namespace RoomHub.Bench.Measurement;

/// <summary>
/// The receiving side of one connection: turns the text of each delivery into a ledger entry. A text starting with
/// <see cref="ProbePrefix"/> marks the connection ready (its subscription is live on the server); any other text that
/// is not a benchmark message is counted as a foreign frame (an ack or error frame of some server, say).
/// </summary>
internal sealed class Receiver(RunStats stats, int target)
{
    public const string ProbePrefix = "probe:";

    private volatile bool _ready;

    public DeliveryLedger Ledger { get; } = new();

    public int Target { get; } = target;

    public bool Ready => _ready;

    public void OnText(ReadOnlySpan<byte> text)
    {
        if (MessageText.TryParse(text, out var message))
        {
            stats.Deliver(this, message);
        }
        else if (text.StartsWith("probe:"u8))
        {
            _ready = true;
        }
        else
        {
            stats.CountForeignFrame();
        }
    }

    public void OnText(string text)
    {
        if (MessageText.TryParse(text, out var message))
        {
            stats.Deliver(this, message);
        }
        else if (text.StartsWith(ProbePrefix, StringComparison.Ordinal))
        {
            _ready = true;
        }
        else
        {
            stats.CountForeignFrame();
        }
    }
}
