namespace RoomHub.Server.Internal.Drain;

/// <summary>Whether this instance is draining: not ready, taking no new connections, sending its clients elsewhere.</summary>
internal sealed class DrainState
{
    private int _draining;

    public bool IsDraining => Volatile.Read(ref _draining) == 1;

    /// <summary>Returns false when the drain had already begun.</summary>
    public bool Begin() => Interlocked.Exchange(ref _draining, 1) == 0;
}
