using System.Net.WebSockets;
using System.Text;
using Microsoft.AspNetCore.Http.Connections;
using Microsoft.AspNetCore.SignalR.Client;
using RoomHub.Bench.Measurement;
using RoomHub.Contracts;

namespace RoomHub.Bench.Clients;

/// <summary>The official <see cref="HubConnection"/> (JSON protocol, WebSockets, no negotiate request).</summary>
internal sealed class HubClient : IBenchConnection
{
    private readonly HubConnection _connection;
    private readonly RunStats _stats;
    private readonly TaskCompletionSource _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private HubClient(HubConnection connection, RunStats stats)
    {
        _connection = connection;
        _stats = stats;
    }

    public Task Completion => _closed.Task;

    public Action? OnRefused { get; set; }

    public static async Task<HubClient> ConnectAsync(Uri hubUrl, bool negotiate, HttpMessageInvoker invoker, Receiver? receiver, RunStats stats, CancellationToken cancellationToken)
    {
        var connection = new HubConnectionBuilder()
            .WithUrl(hubUrl, options =>
            {
                options.SkipNegotiation = !negotiate;
                options.Transports = HttpTransportType.WebSockets;
                options.WebSocketFactory = async (context, token) =>
                {
                    var socket = new ClientWebSocket();
                    await socket.ConnectAsync(LeanClient.ToWebSocket(context.Uri), invoker, token).ConfigureAwait(false);
                    return socket;
                };
            })
            .Build();
        var client = new HubClient(connection, stats);
        connection.On<RoomMessage>(nameof(IRoomClient.ReceiveMessage), message =>
        {
            if (receiver is null)
            {
                stats.CountForeignFrame();
            }
            else
            {
                receiver.OnText(message.Message);
            }
        });
        connection.Closed += error =>
        {
            if (error is null)
            {
                client._closed.TrySetResult();
            }
            else
            {
                client._closed.TrySetException(error);
            }

            return Task.CompletedTask;
        };
        await connection.StartAsync(cancellationToken).ConfigureAwait(false);
        return client;
    }

    public Task SubscribeAsync(string room, CancellationToken cancellationToken) =>
        _connection.InvokeAsync(nameof(IRoomHub.Subscribe), room, cancellationToken);

    public ValueTask SendAsync(string room, ReadOnlyMemory<byte> text, CancellationToken cancellationToken)
    {
        var sent = _connection.InvokeAsync<string>(nameof(IRoomHub.SendMessage), room, Encoding.ASCII.GetString(text.Span), cancellationToken);
        _ = sent.ContinueWith(
            static (task, state) =>
            {
                var client = (HubClient)state!;
                Refusals.OnSendFailed(task.Exception?.InnerException?.Message, client.OnRefused, client._stats);
            },
            this,
            CancellationToken.None,
            TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
        return ValueTask.CompletedTask;
    }

    public async ValueTask DisposeAsync() => await _connection.DisposeAsync().ConfigureAwait(false);
}
