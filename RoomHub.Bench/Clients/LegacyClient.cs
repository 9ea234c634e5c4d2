using System.Buffers;
using System.Net.WebSockets;
using RoomHub.Bench.Measurement;

namespace RoomHub.Bench.Clients;

/// <summary>
/// A client of the legacy raw protocol (<see cref="LegacyProtocol"/>) over <see cref="ClientWebSocket"/>. It works
/// against any server speaking that protocol. The protocol acknowledges nothing, so <see cref="SubscribeAsync"/>
/// completes when the frame is sent; the run confirms subscriptions with probe messages before it measures.
/// </summary>
internal sealed class LegacyClient : IBenchConnection
{
    private readonly ClientWebSocket _socket;
    private readonly Receiver? _receiver;
    private readonly RunStats _stats;
    private readonly SemaphoreSlim _sendLock = new(1, 1);
    private readonly ArrayBufferWriter<byte> _output = new(512);
    private readonly CancellationTokenSource _stop = new();
    private Task _completion = Task.CompletedTask;

    private LegacyClient(ClientWebSocket socket, Receiver? receiver, RunStats stats)
    {
        _socket = socket;
        _receiver = receiver;
        _stats = stats;
    }

    public Task Completion => _completion;

    public Action? OnRefused { get; set; }

    public static async Task<LegacyClient> ConnectAsync(Uri url, HttpMessageInvoker invoker, Receiver? receiver, RunStats stats, CancellationToken cancellationToken)
    {
        var socket = new ClientWebSocket();
        socket.Options.KeepAliveInterval = Timeout.InfiniteTimeSpan;
        try
        {
            await socket.ConnectAsync(LeanClient.ToWebSocket(url), invoker, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        var client = new LegacyClient(socket, receiver, stats);
        client._completion = client.ReceiveLoopAsync();
        return client;
    }

    public async Task SubscribeAsync(string room, CancellationToken cancellationToken)
    {
        await _sendLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            _output.ResetWrittenCount();
            LegacyProtocol.WriteSubscribe(_output, room);
            await _socket.SendAsync(_output.WrittenMemory, WebSocketMessageType.Text, true, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _sendLock.Release();
        }
    }

    public async ValueTask SendAsync(string room, ReadOnlyMemory<byte> text, CancellationToken cancellationToken)
    {
        await _sendLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            _output.ResetWrittenCount();
            LegacyProtocol.WriteSend(_output, room, text.Span);
            await _socket.SendAsync(_output.WrittenMemory, WebSocketMessageType.Text, true, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _sendLock.Release();
        }
    }

    private async Task ReceiveLoopAsync()
    {
        var buffer = new byte[8 * 1024];
        var length = 0;
        try
        {
            while (true)
            {
                if (length == buffer.Length)
                {
                    Array.Resize(ref buffer, buffer.Length * 2);
                }

                var read = await _socket.ReceiveAsync(buffer.AsMemory(length), _stop.Token).ConfigureAwait(false);
                if (read.MessageType == WebSocketMessageType.Close)
                {
                    return;
                }

                length += read.Count;
                if (!read.EndOfMessage)
                {
                    continue;
                }

                if (Refusals.IsRefusal(buffer.AsSpan(0, length)))
                {
                    OnRefused?.Invoke();
                }
                else if (Refusals.IsSendFailure(buffer.AsSpan(0, length)))
                {
                    _stats.CountSendError();
                }
                else if (_receiver is null)
                {
                    _stats.CountForeignFrame();
                }
                else
                {
                    _receiver.OnText(buffer.AsSpan(0, length));
                }

                length = 0;
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
        }
        catch (WebSocketException) when (_stop.IsCancellationRequested)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await _completion.ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException)
        {
        }

        _socket.Abort();
        _socket.Dispose();
        _stop.Dispose();
        _sendLock.Dispose();
    }
}
