namespace RoomHub.Bench.Clients;

/// <summary>One client connection of any mode. Sends from one connection are not concurrent (one sender loop each).</summary>
internal interface IBenchConnection : IAsyncDisposable
{
    /// <summary>Joins <paramref name="room"/>; completes when the server acknowledged it, where the protocol acknowledges.</summary>
    Task SubscribeAsync(string room, CancellationToken cancellationToken);

    /// <summary>Sends <paramref name="text"/> (ASCII, nothing to escape) to <paramref name="room"/>.</summary>
    ValueTask SendAsync(string room, ReadOnlyMemory<byte> text, CancellationToken cancellationToken);

    /// <summary>Faults when the connection ends unexpectedly.</summary>
    Task Completion { get; }

    /// <summary>
    /// Called when the server refuses one of this connection's sends before storing it (<see cref="Refusals"/>): that
    /// message is not owed to anyone, so the run does not count it as lost.
    /// </summary>
    Action? OnRefused { get; set; }
}
