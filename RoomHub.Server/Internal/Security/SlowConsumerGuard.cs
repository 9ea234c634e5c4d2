using System.IO.Pipelines;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http.Connections.Features;
using Microsoft.Extensions.Options;

namespace RoomHub.Server.Internal.Security;

/// <summary>
/// Bounds every connection's outbound queue. The hub writes a connection's messages into a pipe that pauses at
/// <see cref="RoomHubSecurityOptions.MaxOutboundBufferBytes"/>; a flush that would wait means the client is not reading,
/// and a waiting flush would hold up the sender and, over the Redis backplane, every other member of the room on this
/// instance. So the connection is dropped at once instead, and its writes after that go nowhere.
/// </summary>
internal sealed class SlowConsumerGuard(IOptions<RoomHubSecurityOptions> options, RoomHubTelemetry telemetry, ILogger<SlowConsumerGuard> logger)
{
    private readonly int _limit = options.Value.MaxOutboundBufferBytes;

    /// <summary>The outbound pipe of a legacy connection: it pauses at the limit, which is what the guard watches.</summary>
    public PipeOptions LegacyOutbound { get; } = new(
        Legacy.SegmentPool.Instance,
        pauseWriterThreshold: options.Value.MaxOutboundBufferBytes,
        resumeWriterThreshold: options.Value.MaxOutboundBufferBytes / 2,
        useSynchronizationContext: false);

    public TimeSpan LegacyFrameTimeout { get; } = options.Value.FrameTimeout;

    /// <summary>Puts the guard between the hub and <paramref name="connection"/>'s outbound pipe.</summary>
    public void Attach(ConnectionContext connection)
    {
        var limit = _limit;
        var transport = connection.Transport;
        connection.Transport = new DuplexPipe(transport.Input, new GuardedWriter(transport.Output, () => Drop(connection, limit)));
    }

    private void Drop(ConnectionContext connection, int limit)
    {
        telemetry.SlowConsumersDropped.Add(1);
        SecurityLog.SlowConsumerDropped(logger, connection.ConnectionId, limit);

        // The socket's own send is stuck behind a client that does not read: cut the TCP connection under it.
        connection.Features.Get<IHttpContextFeature>()?.HttpContext?.Abort();
        connection.Abort(new ConnectionAbortedException("Slow consumer"));
    }

    private sealed class GuardedWriter(PipeWriter inner, Action drop) : PipeWriter
    {
        private byte[]? _sink;
        private volatile bool _dropped;

        public override void Advance(int bytes)
        {
            if (!_dropped)
            {
                inner.Advance(bytes);
            }
        }

        public override Memory<byte> GetMemory(int sizeHint = 0) => _dropped ? Sink(sizeHint) : inner.GetMemory(sizeHint);

        public override Span<byte> GetSpan(int sizeHint = 0) => _dropped ? Sink(sizeHint) : inner.GetSpan(sizeHint);

        public override void CancelPendingFlush() => inner.CancelPendingFlush();

        public override void Complete(Exception? exception = null) => inner.Complete(exception);

        public override ValueTask CompleteAsync(Exception? exception = null) => inner.CompleteAsync(exception);

        public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default) =>
            _dropped ? Dropped : Watch(inner.FlushAsync(cancellationToken));

        /// <summary>SignalR writes each message with one call: the pipe copies and flushes it under one lock.</summary>
        public override ValueTask<FlushResult> WriteAsync(ReadOnlyMemory<byte> source, CancellationToken cancellationToken = default) =>
            _dropped ? Dropped : Watch(inner.WriteAsync(source, cancellationToken));

        private static ValueTask<FlushResult> Dropped => new(new FlushResult(isCanceled: false, isCompleted: true));

        private ValueTask<FlushResult> Watch(ValueTask<FlushResult> flush)
        {
            if (flush.IsCompleted)
            {
                return flush;
            }

            // The pipe is paused: the queue is full. Waiting would make the writer (and everyone behind it) wait too.
            _dropped = true;
            drop();
            return Dropped;
        }

        private byte[] Sink(int sizeHint) => _sink is { } sink && sink.Length >= sizeHint ? sink : _sink = new byte[Math.Max(sizeHint, 4096)];
    }
}
