namespace RoomHub.Server.Internal;

internal static class TaskAdapters
{
    /// <summary>
    /// An action without a result as one with a (meaningless) result, so that a wrapper written once for
    /// <see cref="Func{TResult}"/> of <see cref="Task{TResult}"/> serves both kinds.
    /// </summary>
    public static Func<Task<bool>> WithResult(this Func<Task> action) => async () =>
    {
        await action().ConfigureAwait(false);
        return true;
    };
}
