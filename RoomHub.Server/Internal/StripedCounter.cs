using System.Runtime.InteropServices;

namespace RoomHub.Server.Internal;

/// <summary>
/// A count that many threads add to at a high rate (a delivery each), read rarely (at metric collection). One shared
/// field would have every core take its cache line from the others at each add; here each processor adds to a cell of
/// its own line, and a read sums the cells.
/// </summary>
internal sealed class StripedCounter
{
    private readonly Cell[] _cells = new Cell[(int)Math.Min(64, System.Numerics.BitOperations.RoundUpToPowerOf2((uint)Environment.ProcessorCount))];

    public void Add(long count) =>
        Interlocked.Add(ref _cells[Thread.GetCurrentProcessorId() & (_cells.Length - 1)].Value, count);

    public long Read()
    {
        long sum = 0;
        for (var i = 0; i < _cells.Length; i++)
        {
            sum += Volatile.Read(ref _cells[i].Value);
        }

        return sum;
    }

    /// <summary>A count alone on its cache line, and away from its neighbours' (the hardware prefetches lines in pairs).</summary>
    [StructLayout(LayoutKind.Explicit, Size = 256)]
    private struct Cell
    {
        [FieldOffset(128)]
        public long Value;
    }
}
