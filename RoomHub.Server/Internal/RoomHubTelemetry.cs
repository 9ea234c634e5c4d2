using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace RoomHub.Server.Internal;

/// <summary>The owner of RoomHub's activity source and meter; every instrument is created here.</summary>
internal sealed class RoomHubTelemetry : IDisposable
{
    public const string Name = "RoomHub";

    private readonly Meter _meter;

    public RoomHubTelemetry(IMeterFactory meterFactory, ConnectionRegistry connections)
    {
        _meter = meterFactory.Create(Name);
        _meter.CreateObservableUpDownCounter("roomhub.connections.active", () => new[]
        {
            new Measurement<int>(connections.SignalRCount, new KeyValuePair<string, object?>("roomhub.transport", ConnectionRegistry.SignalR)),
            new Measurement<int>(connections.LegacyCount, new KeyValuePair<string, object?>("roomhub.transport", ConnectionRegistry.Legacy)),
        }, "{connection}", "Connections open on this instance, by transport.");
        MessagesPublished = _meter.CreateCounter<long>("roomhub.messages.published", "{message}", "Messages accepted and published to a room.");
        MessagesRejected = _meter.CreateCounter<long>("roomhub.messages.rejected", "{message}", "Messages refused, by error code.");
        ConnectionsRefused = _meter.CreateCounter<long>("roomhub.connections.refused", "{connection}", "Connections refused at the upgrade (origin, authentication, connection limits).");
        SlowConsumersDropped = _meter.CreateCounter<long>("roomhub.connections.slow_consumer_dropped", "{connection}", "Connections dropped because their outbound queue was full.");
    }

    public static ActivitySource ActivitySource { get; } = new(Name);

    public Counter<long> MessagesPublished { get; }

    public Counter<long> MessagesRejected { get; }

    public Counter<long> ConnectionsRefused { get; }

    public Counter<long> SlowConsumersDropped { get; }

    public void Dispose() => _meter.Dispose();
}
