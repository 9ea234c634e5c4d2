using System.IO.Pipelines;
using System.Runtime.InteropServices;
using Microsoft.AspNetCore.Connections;

namespace RoomHub.Server.Internal;

/// <summary>
/// Counts room-message deliveries on SignalR connections. SignalR writes a group message to each member as one
/// <see cref="PipeWriter.WriteAsync(ReadOnlyMemory{byte}, CancellationToken)"/> of bytes it serialized once for all of
/// them, so counting those writes (less keep-alive pings) counts deliveries without parsing anything per recipient.
/// The latency is read once per message and instance: from the JSON bytes, the first time they are seen.
/// </summary>
internal sealed class DeliveryMeter(RoomHubTelemetry telemetry)
{
    private static readonly byte[] JsonPing = "{\"type\":6}\u001e"u8.ToArray();
    private static readonly byte[] MessagePackPing = [0x02, 0x91, 0x06];
    private static readonly byte[] SentAtProperty = "\"sentAt\":\""u8.ToArray();

    private object? _lastArray;
    private int _lastOffset;

    public void Attach(ConnectionContext connection)
    {
        var transport = connection.Transport;
        connection.Transport = new DuplexPipe(transport.Input, new MeteredWriter(transport.Output, this));
    }

    private void OnWrite(ReadOnlyMemory<byte> bytes)
    {
        var span = bytes.Span;
        if (span.SequenceEqual(JsonPing) || span.SequenceEqual(MessagePackPing))
        {
            return;
        }

        if (MemoryMarshal.TryGetArray(bytes, out var segment) && (!ReferenceEquals(segment.Array, _lastArray) || segment.Offset != _lastOffset))
        {
            _lastArray = segment.Array;
            _lastOffset = segment.Offset;
            if (ReadSentAt(span) is { } sentAt)
            {
                telemetry.Latency(ConnectionRegistry.SignalR, sentAt);
            }
        }

        telemetry.Delivered(ConnectionRegistry.SignalR);
    }

    private static DateTimeOffset? ReadSentAt(ReadOnlySpan<byte> json)
    {
        var at = json.IndexOf(SentAtProperty);
        if (at < 0)
        {
            return null;
        }

        var value = json[(at + SentAtProperty.Length)..];
        var end = value.IndexOf((byte)'"');

        // System.Text.Json drops trailing zeros of the fraction, so the text is ISO 8601 but not always the fixed "O" form.
        return end > 0 && DateTimeOffset.TryParse(System.Text.Encoding.UTF8.GetString(value[..end]), System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.RoundtripKind, out var time)
            ? time
            : null;
    }

    private sealed class MeteredWriter(PipeWriter inner, DeliveryMeter meter) : PipeWriter, Security.IAnswerWriter
    {
        /// <summary>Passed on to the slow-consumer guard under it, which pays for answers with their announcements.</summary>
        public void WritingAnswer() => (inner as Security.IAnswerWriter)?.WritingAnswer();

        public override ValueTask<FlushResult> WriteAsync(ReadOnlyMemory<byte> source, CancellationToken cancellationToken = default)
        {
            meter.OnWrite(source);
            return inner.WriteAsync(source, cancellationToken);
        }

        public override void Advance(int bytes) => inner.Advance(bytes);

        public override Memory<byte> GetMemory(int sizeHint = 0) => inner.GetMemory(sizeHint);

        public override Span<byte> GetSpan(int sizeHint = 0) => inner.GetSpan(sizeHint);

        public override void CancelPendingFlush() => inner.CancelPendingFlush();

        public override void Complete(Exception? exception = null) => inner.Complete(exception);

        public override ValueTask CompleteAsync(Exception? exception = null) => inner.CompleteAsync(exception);

        public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default) => inner.FlushAsync(cancellationToken);
    }
}
