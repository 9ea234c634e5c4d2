using System.Collections.Concurrent;
using Microsoft.AspNetCore.Http.Connections;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.Extensions.DependencyInjection;
using RoomHub.Contracts;

namespace RoomHub.Tests.Infrastructure;

/// <summary>A real <see cref="HubConnection"/> to a RoomHub instance that records every message it receives.</summary>
public sealed class TestClient : IAsyncDisposable
{
    private readonly ConcurrentQueue<RoomMessage> _received = new();

    private TestClient(HubConnection connection)
    {
        Connection = connection;
        connection.On<RoomMessage>(nameof(IRoomClient.ReceiveMessage), message => _received.Enqueue(message));
    }

    public HubConnection Connection { get; }

    public IReadOnlyList<RoomMessage> Received => _received.ToArray();

    public static Task<TestClient> ConnectAsync(RoomHubInstance instance, bool messagePack = false) =>
        ConnectAsync(new HubConnectionBuilder().WithUrl(instance.HubUrl), messagePack);

    /// <summary>
    /// Connects to a hub URL, e.g. through a load balancer. With <paramref name="skipNegotiation"/> the client opens a
    /// WebSocket at once (one request, no affinity needed); without it, it negotiates first, as clients do by default.
    /// </summary>
    public static Task<TestClient> ConnectAsync(Uri hubUrl, bool skipNegotiation = false, bool messagePack = false) =>
        ConnectAsync(
            new HubConnectionBuilder().WithUrl(hubUrl, options =>
            {
                if (skipNegotiation)
                {
                    options.SkipNegotiation = true;
                    options.Transports = HttpTransportType.WebSockets;
                }
            }),
            messagePack);

    /// <summary>Connects with a builder of the test's own (its own headers, say).</summary>
    public static async Task<TestClient> ConnectAsync(IHubConnectionBuilder builder, bool messagePack = false)
    {
        if (messagePack)
        {
            builder.AddMessagePackProtocol();
        }

        var client = new TestClient(builder.Build());
        await client.Connection.StartAsync();
        return client;
    }

    public Task SubscribeAsync(string room) => Connection.InvokeAsync(nameof(IRoomHub.Subscribe), room);

    public Task UnsubscribeAsync(string room) => Connection.InvokeAsync(nameof(IRoomHub.Unsubscribe), room);

    public Task<string> SendAsync(string room, string message) => Connection.InvokeAsync<string>(nameof(IRoomHub.SendMessage), room, message);

    /// <summary>Presence, or null when the read was rate limited (a poll simply tries again later).</summary>
    public async Task<RoomPresence?> PresenceAsync(string room)
    {
        try
        {
            return await Connection.InvokeAsync<RoomPresence>(nameof(IRoomHub.GetPresence), room);
        }
        catch (Microsoft.AspNetCore.SignalR.HubException ex) when (ex.Message.Contains(RoomErrorCodes.RateLimited, StringComparison.Ordinal))
        {
            return null;
        }
    }

    public async Task<RoomMessage> WaitForAsync(Func<RoomMessage, bool> match, string what, TimeSpan? timeout = null)
    {
        RoomMessage? found = null;
        await Poll.UntilAsync(() => (found = _received.FirstOrDefault(match)) is not null, what, timeout);
        return found!;
    }

    public Task WaitForCountAsync(string room, int count, TimeSpan? timeout = null) =>
        Poll.UntilAsync(() => _received.Count(m => m.Room == room) >= count, $"{count} messages in {room}", timeout);

    public async ValueTask DisposeAsync() => await Connection.DisposeAsync();
}

public static class Rooms
{
    public static string Unique(string name = "room") => $"{name}-{Guid.NewGuid():N}";
}
