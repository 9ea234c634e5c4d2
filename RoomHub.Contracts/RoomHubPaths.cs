namespace RoomHub.Contracts;

/// <summary>The paths a RoomHub server listens on.</summary>
public static class RoomHubPaths
{
    /// <summary>The SignalR hub.</summary>
    public const string Hub = "/hubs/rooms";

    /// <summary>
    /// The legacy raw-JSON WebSocket endpoint of the second replaced server. Legacy clients are also served at <c>/</c>
    /// and at any other path the server does not otherwise use.
    /// </summary>
    public const string Notification = "/notification";
}
