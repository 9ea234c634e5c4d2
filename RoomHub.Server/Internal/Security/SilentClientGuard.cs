using System.IO.Pipelines;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.Extensions.Options;

namespace RoomHub.Server.Internal.Security;

/// <summary>
/// Drops a SignalR connection that has sent nothing for <see cref="RoomHubSecurityOptions.ClientTimeout"/>. SignalR's own
/// client timeout starts only with the client's first ping, so a client that completes the handshake and never pings
/// would otherwise hold its connection, rooms and presence until TCP notices, however long that takes. The clock is
/// read when the hub has consumed what arrived, and checked on the connection's heartbeat (once a second).
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
            if (guard._time.GetElapsedTime(reader.LastHeard) > guard._timeout)
            {
                connection.Abort(new ConnectionAbortedException("The client sent nothing, not even a ping, within the client timeout."));
            }
        }, (this, reader, connection));
    }

    private sealed class WatchedReader(PipeReader inner, TimeProvider time) : PipeReader
    {
        private long _lastHeard = time.GetTimestamp();

        public long LastHeard => Volatile.Read(ref _lastHeard);

        public override void AdvanceTo(SequencePosition consumed)
        {
            inner.AdvanceTo(consumed);
            Volatile.Write(ref _lastHeard, time.GetTimestamp());
        }

        public override void AdvanceTo(SequencePosition consumed, SequencePosition examined)
        {
            inner.AdvanceTo(consumed, examined);
            Volatile.Write(ref _lastHeard, time.GetTimestamp());
        }

        public override void CancelPendingRead() => inner.CancelPendingRead();

        public override void Complete(Exception? exception = null) => inner.Complete(exception);

        public override ValueTask CompleteAsync(Exception? exception = null) => inner.CompleteAsync(exception);

        public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default) => inner.ReadAsync(cancellationToken);

        public override bool TryRead(out ReadResult result) => inner.TryRead(out result);
    }
}
