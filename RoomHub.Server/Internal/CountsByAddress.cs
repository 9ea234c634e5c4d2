using System.Collections.Concurrent;
using System.Net;

namespace RoomHub.Server.Internal;

/// <summary>A count per client address that forgets an address at zero, so it holds only the addresses in use.</summary>
internal sealed class CountsByAddress
{
    private readonly ConcurrentDictionary<IPAddress, int> _counts = new();

    /// <summary>Adds one for <paramref name="address"/> and returns its new count.</summary>
    public int Increment(IPAddress address) => _counts.AddOrUpdate(address, 1, static (_, n) => n + 1);

    public void Decrement(IPAddress address)
    {
        // Removed only if still at zero: an increment that came in between keeps it.
        if (_counts.AddOrUpdate(address, 0, static (_, n) => n - 1) <= 0)
        {
            _counts.TryRemove(new KeyValuePair<IPAddress, int>(address, 0));
        }
    }
}
