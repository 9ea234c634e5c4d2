namespace RoomHub.Contracts;

/// <summary>The answer to <see cref="IRoomHub.Resume"/>.</summary>
/// <param name="Recovered">
/// <see langword="true"/> when <see cref="Messages"/> holds every message after the client's last id;
/// <see langword="false"/> when history no longer reaches back that far, so some messages are lost to the client.
/// </param>
/// <param name="Messages">The messages after the client's last id that history still keeps, oldest first.</param>
public sealed record ResumeResult(bool Recovered, IReadOnlyList<RoomMessage> Messages);
