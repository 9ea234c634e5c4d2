using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.Extensions.Options;

namespace RoomHub.Server.Internal.Security;

/// <summary>
/// Drops a SignalR connection that has sent nothing for <see cref="RoomHubSecurityOptions.ClientTimeout"/>. SignalR's own
/// client timeout starts only with the client's first ping, so a client that completes the handshake and never pings
/// would otherwise hold its connection, rooms and presence until TCP notices, however long that takes. Silence is
/// counted only while the hub waits for the client's input, as SignalR's own timeout is: not while the hub is busy with
/// what the client sent (or, before that, with restoring its session), when the client's pings wait unread behind it. It
/// is checked on the connection's heartbeat (once a second).
/// </summary>
internal sealed class SilentClientGuard(IOptions<RoomHubSecurityOptions> options, TimeProvider time)
{
    private readonly TimeSpan _timeout = options.Value.ClientTimeout;
    private readonly TimeProvider _time = time;

    public void Attach(ConnectionContext connection)
    {
        if (_timeout <= TimeSpan.Zero || connection.Features.Get<IConnectionHeartbeatFeature>() is not { } heartbeat)
        {
            return;
        }

        var reader = new WatchedReader(connection.Transport.Input, _time);
        connection.Transport = new DuplexPipe(reader, connection.Transport.Output);
        heartbeat.OnHeartbeat(static state =>
        {
            var (guard, reader, connection) = ((SilentClientGuard, WatchedReader, ConnectionContext))state;
            if (reader.WaitingSince is var since and not 0 && guard._time.GetElapsedTime(since) > guard._timeout && reader.TryEnd())
            {
                ConnectionCut.Abort(connection, "The client sent nothing, not even a ping, within the client timeout.", cutSocket: false);
            }
        }, (this, reader, connection));
    }

    private sealed class WatchedReader(PipeReader inner, TimeProvider time) : PipeReader
    {
        private long _waitingSince;
        private int _ended;

        /// <summary>When the hub began to wait for input that has not come yet; 0 while it is not waiting.</summary>
        public long WaitingSince => Volatile.Read(ref _waitingSince);

        /// <summary>True the first time only: the connection is cut once, not on every heartbeat until it has gone.</summary>
        public bool TryEnd() => Interlocked.Exchange(ref _ended, 1) == 0;

        public override void AdvanceTo(SequencePosition consumed) => inner.AdvanceTo(consumed);

        public override void AdvanceTo(SequencePosition consumed, SequencePosition examined) => inner.AdvanceTo(consumed, examined);

        public override void CancelPendingRead() => inner.CancelPendingRead();

        public override void Complete(Exception? exception = null) => inner.Complete(exception);

        public override ValueTask CompleteAsync(Exception? exception = null) => inner.CompleteAsync(exception);

        public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
        {
            var read = inner.ReadAsync(cancellationToken);
            if (read.IsCompleted)
            {
                return read; // Input was there already: the client spoke while the hub was busy.
            }

            Volatile.Write(ref _waitingSince, time.GetTimestamp());
            return WaitAsync(read);
        }

        public override bool TryRead(out ReadResult result) => inner.TryRead(out result);

        [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
        private async ValueTask<ReadResult> WaitAsync(ValueTask<ReadResult> read)
        {
            try
            {
                return await read.ConfigureAwait(false);
            }
            finally
            {
                Volatile.Write(ref _waitingSince, 0);
            }
        }
    }
}
