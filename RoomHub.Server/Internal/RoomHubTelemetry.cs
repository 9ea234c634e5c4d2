using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace RoomHub.Server.Internal;

/// <summary>
/// The owner of RoomHub's activity source and meter; every instrument is created here. Names follow the OpenTelemetry
/// conventions: dotted lower case under <c>roomhub.</c>, units in UCUM (<c>s</c>, <c>{message}</c>), attributes
/// <c>roomhub.transport</c> (signalr, legacy), <c>error.type</c> (an error code), <c>roomhub.store</c> and
/// <c>roomhub.operation</c>.
/// </summary>
internal sealed class RoomHubTelemetry : IDisposable
{
    public const string Name = "RoomHub";
    public const string TransportTag = "roomhub.transport";

    private static readonly double[] LatencyBuckets = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

    private readonly Meter _meter;

    private readonly StripedCounter _deliveredSignalR = new();
    private readonly StripedCounter _deliveredLegacy = new();

    public RoomHubTelemetry(IMeterFactory meterFactory, ConnectionRegistry connections, RedisConnection? redis = null)
    {
        _meter = meterFactory.Create(Name);
        _meter.CreateObservableUpDownCounter("roomhub.connections.active", () => new[]
        {
            new Measurement<int>(connections.SignalRCount, new KeyValuePair<string, object?>(TransportTag, ConnectionRegistry.SignalR)),
            new Measurement<int>(connections.LegacyCount, new KeyValuePair<string, object?>(TransportTag, ConnectionRegistry.Legacy)),
        }, "{connection}", "Connections open on this instance, by transport.");
        _meter.CreateObservableUpDownCounter("roomhub.rooms.active", connections.LocalRoomCount, "{room}", "Rooms with at least one member on this instance.");
        if (redis is not null)
        {
            _meter.CreateObservableGauge("roomhub.backplane.connected", () => redis.IsConnected ? 1 : 0, "1", "1 while the Redis backplane is connected, 0 otherwise.");
        }


        MessagesPublished = _meter.CreateCounter<long>("roomhub.messages.published", "{message}", "Messages accepted (stored and published) to a room.");
        MessagesRejected = _meter.CreateCounter<long>("roomhub.messages.rejected", "{message}", "Sends refused or failed, by error.type (the error code).");
        // Counted in two counters and read at collection: a delivery costs one uncontended add, not a tagged measurement.
        _meter.CreateObservableCounter("roomhub.messages.delivered", () => new[]
        {
            new Measurement<long>(_deliveredSignalR.Read(), new KeyValuePair<string, object?>(TransportTag, ConnectionRegistry.SignalR)),
            new Measurement<long>(_deliveredLegacy.Read(), new KeyValuePair<string, object?>(TransportTag, ConnectionRegistry.Legacy)),
        }, "{message}", "Room messages written to a member's connection, by transport.");
        MessageLatency = _meter.CreateHistogram("roomhub.message.latency", "s", "From a message's acceptance (its sentAt) to its first write to a member's connection on this instance: one sample per message, instance and protocol.",
            tags: null, advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = LatencyBuckets });
        StoreDuration = _meter.CreateHistogram("roomhub.store.duration", "s", "Duration of history, presence and session store operations.",
            tags: null, advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = LatencyBuckets });
        BackplaneReconnects = _meter.CreateCounter<long>("roomhub.backplane.reconnects", "{reconnect}", "Times the Redis connection was restored after a loss.");
        BackplaneFailures = _meter.CreateCounter<long>("roomhub.backplane.failures", "{failure}", "Times the Redis connection was lost.");
        ConnectionsRefused = _meter.CreateCounter<long>("roomhub.connections.refused", "{connection}", "Connections refused at the upgrade (origin, authentication, connection limits, draining).");
        SlowConsumersDropped = _meter.CreateCounter<long>("roomhub.connections.slow_consumer_dropped", "{connection}", "Connections dropped because their outbound queue was full.");
        if (redis is not null)
        {
            redis.Failed += type => BackplaneFailures.Add(1, new KeyValuePair<string, object?>("roomhub.connection_type", type.ToString().ToLowerInvariant()));
            redis.Restored += type => BackplaneReconnects.Add(1, new KeyValuePair<string, object?>("roomhub.connection_type", type.ToString().ToLowerInvariant()));
        }
    }

    public static ActivitySource ActivitySource { get; } = new(Name);

    public Counter<long> MessagesPublished { get; }

    public Counter<long> MessagesRejected { get; }

    public Histogram<double> MessageLatency { get; }

    public Histogram<double> StoreDuration { get; }

    public Counter<long> BackplaneReconnects { get; }

    public Counter<long> BackplaneFailures { get; }

    public Counter<long> ConnectionsRefused { get; }

    public Counter<long> SlowConsumersDropped { get; }

    public void Rejected(string code) => MessagesRejected.Add(1, new KeyValuePair<string, object?>("error.type", code));

    /// <summary>Counts room messages written to a member's connection (<paramref name="count"/> of them).</summary>
    public void Delivered(string transport, int count = 1) =>
        (transport == ConnectionRegistry.Legacy ? _deliveredLegacy : _deliveredSignalR).Add(count);

    /// <summary>Records a room message's latency on this instance: once per message (and protocol), not per member.</summary>
    public void Latency(string transport, DateTimeOffset sentAt) =>
        MessageLatency.Record(Math.Max(0, (DateTimeOffset.UtcNow - sentAt).TotalSeconds), new KeyValuePair<string, object?>(TransportTag, transport));

    /// <summary>Times one store operation, and traces it as a span of the hub invocation that made it.</summary>
    public async Task<T> TimeAsync<T>(string store, string operation, Func<Task<T>> action)
    {
        var start = Stopwatch.GetTimestamp();
        using var activity = ActivitySource.StartActivity($"{store} {operation}", ActivityKind.Client);
        activity?.SetTag("roomhub.store", store);
        activity?.SetTag("roomhub.operation", operation);
        try
        {
            return await action().ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            activity?.SetStatus(ActivityStatusCode.Error, ex.GetType().Name);
            throw;
        }
        finally
        {
            StoreDuration.Record(Stopwatch.GetElapsedTime(start).TotalSeconds,
                new KeyValuePair<string, object?>("roomhub.store", store), new KeyValuePair<string, object?>("roomhub.operation", operation));
        }
    }

    public Task TimeAsync(string store, string operation, Func<Task> action) => TimeAsync(store, operation, action.WithResult());

    public void Dispose() => _meter.Dispose();
}
