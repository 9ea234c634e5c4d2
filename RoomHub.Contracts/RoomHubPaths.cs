namespace RoomHub.Contracts;

/// <summary>The paths a RoomHub server listens on.</summary>
public static class RoomHubPaths
{
    /// <summary>The SignalR hub.</summary>
    public const string Hub = "/hubs/rooms";
}
