namespace RoomHub.Contracts;

/// <summary>The answer to <see cref="IRoomHub.Resume"/>.</summary>
/// <param name="Recovered">
/// <see langword="true"/> when <see cref="Messages"/> holds every message after the client's last id;
/// <see langword="false"/> when history no longer reaches back that far, or when the messages after it are more than one
/// answer holds: some messages are lost to the client, which should reload its state.
/// </param>
/// <param name="Messages">
/// The messages after the client's last id that history still keeps and one answer holds (the newest of them), oldest
/// first, preceded, as far as the answer holds them, by those accepted in the few seconds before that id (the client
/// may already have them: drop them by id).
/// </param>
public sealed record ResumeResult(bool Recovered, IReadOnlyList<RoomMessage> Messages);
