using Microsoft.Extensions.DependencyInjection;
using RoomHub.Contracts;
using RoomHub.Server.Internal.Engine;

namespace RoomHub.Tests.Infrastructure;

/// <summary>
/// The server's own room history, except that reads of what came after an id (a session's replay, a resume), or
/// appends (sends), can be held until the test releases them: the test decides what happens while a replay or a send
/// is under way, with no timing luck.
/// </summary>
internal sealed class HeldHistory(IRoomHistory inner) : IRoomHistory, IDisposable
{
    private readonly Gate _reads = new();
    private readonly Gate _appends = new();
    private int _failNext;
    private int _failEvery;
    private Func<string, bool> _failable = static _ => true;
    private Func<Exception> _failure = static () => new TimeoutException();
    private int _appendCount;
    private int _failedAppends;

    /// <summary>Completes when a held read has begun (the reader is waiting for <see cref="Release"/>).</summary>
    public TaskCompletionSource Reached => _reads.Reached;

    /// <summary>How many reads are held now.</summary>
    public int HeldReads => _reads.Waiting;

    /// <summary>Wraps the <see cref="IRoomHistory"/> that RoomHub registered; call after <c>AddRoomHub()</c>.</summary>
    public static void Wrap(IServiceCollection services) => services.Decorate<IRoomHistory, HeldHistory>(inner => new HeldHistory(inner));

    /// <summary>From now on, reads after an id wait for <see cref="Release"/>.</summary>
    public void Hold() => _reads.Hold();

    /// <summary>From now on, appends wait for <see cref="Release"/>.</summary>
    public void HoldAppends() => _appends.Hold();

    /// <summary>Completes when a held append has begun.</summary>
    public TaskCompletionSource AppendReached => _appends.Reached;

    public void Release()
    {
        _reads.Release();
        _appends.Release();
    }

    /// <summary>The next read after an id fails, as a read from a Redis that has gone away does.</summary>
    public void FailNext() => Volatile.Write(ref _failNext, 1);

    /// <summary>Whether a read was failed by <see cref="FailNext"/>.</summary>
    public bool Failed { get; private set; }

    /// <summary>
    /// From now on every <paramref name="every"/>-th append (of those whose text <paramref name="of"/> accepts) fails
    /// before storing anything, as one timing out on Redis does (or with the exception <paramref name="with"/> makes).
    /// </summary>
    public void FailEveryAppend(int every, Func<string, bool>? of = null, Func<Exception>? with = null)
    {
        _failable = of ?? (static _ => true);
        _failure = with ?? (static () => new TimeoutException("The history append timed out (test)."));
        Volatile.Write(ref _failEvery, every);
    }

    /// <summary>How many appends <see cref="FailEveryAppend"/> has failed.</summary>
    public int FailedAppends => Volatile.Read(ref _failedAppends);

    public async Task<RoomMessage> AppendAsync(string room, string text, DateTimeOffset sentAt, CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _failEvery) is > 0 and var every && _failable(text) && Interlocked.Increment(ref _appendCount) % every == 0)
        {
            Interlocked.Increment(ref _failedAppends);
            throw _failure();
        }

        await _appends.PassAsync(cancellationToken);
        return await inner.AppendAsync(room, text, sentAt, cancellationToken);
    }

    public Task<IReadOnlyList<RoomMessage>> GetLatestAsync(string room, int limit, long maxBytes, CancellationToken cancellationToken) =>
        inner.GetLatestAsync(room, limit, maxBytes, cancellationToken);

    public async Task<ResumeResult> GetAfterAsync(string room, StreamId? after, TimeSpan lookBack, long maxBytes, CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _failNext, 0) == 1)
        {
            Failed = true;
            throw new TimeoutException("The history read timed out (test).");
        }

        await _reads.PassAsync(cancellationToken);
        return await inner.GetAfterAsync(room, after, lookBack, maxBytes, cancellationToken);
    }

    public void Dispose() => (inner as IDisposable)?.Dispose();

    /// <summary>Once held, the calls that pass it wait for its release, and the first of them completes <see cref="Reached"/>.</summary>
    private sealed class Gate
    {
        private volatile TaskCompletionSource? _held;
        private int _waiting;

        /// <summary>How many calls are waiting at the gate now.</summary>
        public int Waiting => Volatile.Read(ref _waiting);

        public TaskCompletionSource Reached { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Hold() => _held = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Release() => _held?.TrySetResult();

        public async Task PassAsync(CancellationToken cancellationToken)
        {
            if (_held is { } held)
            {
                Interlocked.Increment(ref _waiting);
                Reached.TrySetResult();
                try
                {
                    await held.Task.WaitAsync(cancellationToken);
                }
                finally
                {
                    Interlocked.Decrement(ref _waiting);
                }
            }
        }
    }
}
