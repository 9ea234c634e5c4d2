namespace RoomHub.Server.Internal;

/// <summary>
/// Keeps one connection's commands in the order they were sent while its sends overlap.
/// </summary>
/// <remarks>
/// SignalR starts a connection's invocations in the order they arrive, up to
/// <see cref="RoomHubOptions.SendPipelineDepth"/> at a time. A send stores its message and then publishes it: each store
/// is issued once the previous send's store has been issued, on the one Redis connection, and each publish once the
/// previous send's publish has been, so a connection's messages reach history and the room in the order they were sent
/// while the round trips to Redis overlap. (Sends that waited together for an earlier command resume together, in no
/// order of their own: the chain of issued stores is what puts them back in line.) Any other command
/// (join, leave, resume, reads) waits until every earlier command has finished, and every later command waits for it:
/// a message sent right after a join reaches the sender, and a read sees the sends before it.
/// </remarks>
internal sealed class CommandSequencer
{
    private Task _barrier = Task.CompletedTask;
    private Task _stored = Task.CompletedTask;
    private Task _published = Task.CompletedTask;
    private Task _finished = Task.CompletedTask;

    public SendTurn BeginSend()
    {
        var turn = new SendTurn();
        lock (this)
        {
            turn.Barrier = _barrier;
            turn.PreviousStored = _stored;
            turn.PreviousPublished = _published;
            turn.PreviousFinished = _finished;
            _stored = turn.StoredTask;
            _published = turn.PublishedTask;
            _finished = turn.FinishedTask;
        }

        return turn;
    }

    public CommandTurn BeginCommand()
    {
        var turn = new CommandTurn();
        lock (this)
        {
            turn.Previous = _finished;
            _barrier = turn.FinishedTask;
            _finished = turn.FinishedTask;
        }

        return turn;
    }

    /// <summary>One send's place in line. <see cref="Finish"/> must be called however the send ends.</summary>
    internal sealed class SendTurn
    {
        // The next send, waiting for this one's store or publish to be issued, issues its own right away on this thread
        // (see RoomOrder.Turn).
        private readonly TaskCompletionSource _stored = new();
        private readonly TaskCompletionSource _published = new();
        private readonly TaskCompletionSource _finished = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>Completes when the last command before this send that is not a send has finished.</summary>
        public Task Barrier { get; set; } = Task.CompletedTask;

        /// <summary>Completes when the previous send's store has been issued (or that send gave up).</summary>
        public Task PreviousStored { get; set; } = Task.CompletedTask;

        /// <summary>Completes when the previous send's publish has been issued (or that send gave up).</summary>
        public Task PreviousPublished { get; set; } = Task.CompletedTask;

        public Task PreviousFinished { get; set; } = Task.CompletedTask;

        internal Task StoredTask => _stored.Task;

        internal Task PublishedTask => _published.Task;

        internal Task FinishedTask => _finished.Task;

        /// <summary>The store has been issued: the next send may issue its own.</summary>
        public void Stored() => _stored.TrySetResult();

        /// <summary>The publish has been issued: the next send may issue its own.</summary>
        public void Published() => _published.TrySetResult();

        /// <summary>
        /// This send is over. Its turn counts as finished once every earlier command has finished too, so that a
        /// later barrier waits for all of them.
        /// </summary>
        public void Finish()
        {
            Chain(PreviousStored, _stored);
            Chain(PreviousPublished, _published);
            Chain(PreviousFinished, _finished);
        }
    }

    /// <summary>A command that runs alone: after every earlier one, before every later one.</summary>
    internal sealed class CommandTurn
    {
        private readonly TaskCompletionSource _finished = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task Previous { get; set; } = Task.CompletedTask;

        internal Task FinishedTask => _finished.Task;

        public void Finish() => Chain(Previous, _finished);
    }

    private static void Chain(Task previous, TaskCompletionSource next) =>
        TaskChain.After(previous, static state => ((TaskCompletionSource)state).TrySetResult(), next);
}
