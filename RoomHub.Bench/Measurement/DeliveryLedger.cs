namespace RoomHub.Bench.Measurement;

/// <summary>
/// What one receiving connection got from each sender: counts, and whether each sender's messages came in the order
/// they were sent. One receive loop records into a ledger, so it needs no lock; ledgers are read after the run.
/// </summary>
internal sealed class DeliveryLedger
{
    private readonly Dictionary<int, SenderState> _senders = [];

    /// <summary>Every recorded delivery, duplicates included.</summary>
    public long Received { get; private set; }

    /// <summary>Deliveries whose sequence number was not above the last one seen from that sender (late or repeated).</summary>
    public long OrderViolations { get; private set; }

    /// <summary>Deliveries that repeated the last sequence number seen from that sender.</summary>
    public long Duplicates { get; private set; }

    /// <summary>Records a delivery; returns false when it broke the sender's order.</summary>
    public bool Record(int sender, long sequence)
    {
        Received++;
        ref var state = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(_senders, sender, out var existed);
        if (!existed)
        {
            state.Last = -1;
        }

        state.Count++;
        if (sequence > state.Last)
        {
            state.Last = sequence;
            return true;
        }

        OrderViolations++;
        if (sequence == state.Last)
        {
            Duplicates++;
            state.Count--;
        }

        return false;
    }

    /// <summary>Distinct messages received from <paramref name="sender"/> (repeats of the last one not counted).</summary>
    public long CountFrom(int sender) => _senders.TryGetValue(sender, out var state) ? state.Count : 0;

    /// <summary>
    /// Messages lost: for each sender this receiver should hear, the number it sent minus the number that arrived.
    /// </summary>
    public long Lost(IEnumerable<(int Sender, long Sent)> expected)
    {
        long lost = 0;
        foreach (var (sender, sent) in expected)
        {
            lost += Math.Max(0, sent - CountFrom(sender));
        }

        return lost;
    }

    private struct SenderState
    {
        public long Last;
        public long Count;
    }
}
