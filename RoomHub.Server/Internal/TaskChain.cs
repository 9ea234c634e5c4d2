namespace RoomHub.Server.Internal;

/// <summary>A line of steps, each of which may finish only after the one before it has, however that one finished.</summary>
internal static class TaskChain
{
    /// <summary>Runs <paramref name="then"/> with <paramref name="state"/> now if <paramref name="previous"/> has finished, or as soon as it does.</summary>
    public static void After(Task previous, Action<object> then, object state)
    {
        if (previous.IsCompleted)
        {
            then(state);
        }
        else
        {
            // The pair is boxed only here, when the step has to wait: a lambda capturing `then` would allocate on every call.
            previous.ContinueWith(
                static (_, pair) =>
                {
                    var (next, argument) = ((Action<object>, object))pair!;
                    next(argument);
                },
                (then, state),
                CancellationToken.None,
                TaskContinuationOptions.ExecuteSynchronously,
                TaskScheduler.Default);
        }
    }
}
