namespace RoomHub.Server.Internal;

internal static class Cancellation
{
    /// <summary>
    /// Whether <paramref name="exception"/> is a cancellation that a cancelled token asked for (the client went away, the
    /// instance is stopping). A cancellation that a dependency raises on its own is a failure like any other:
    /// StackExchange.Redis cancels a command whose connection drops before it is written.
    /// </summary>
    public static bool Requested(Exception exception) =>
        exception is OperationCanceledException { CancellationToken.IsCancellationRequested: true };
}
