using System.Buffers;
using System.Collections.Concurrent;
using System.Net.WebSockets;
using RoomHub.Bench.Measurement;

namespace RoomHub.Bench.Clients;

/// <summary>
/// A SignalR client of the JSON hub protocol over a bare <see cref="ClientWebSocket"/>, connecting to the hub URL
/// directly (no negotiate request, like <c>skipNegotiation</c>), or after a negotiate request, as SignalR clients do by
/// default. It costs a fraction of the CPU of a
/// <c>HubConnection</c>, so that on one machine the benchmark measures the server rather than its own client.
/// </summary>
internal sealed class LeanClient : IBenchConnection
{
    private static readonly TimeSpan PingInterval = TimeSpan.FromSeconds(10);

    private readonly ClientWebSocket _socket;
    private readonly Receiver? _receiver;
    private readonly RunStats _stats;
    private readonly ConcurrentDictionary<string, TaskCompletionSource> _pending = new();
    private readonly SemaphoreSlim _sendLock = new(1, 1);
    private readonly ArrayBufferWriter<byte> _output = new(512);
    private readonly CancellationTokenSource _stop = new();
    private long _nextInvocation;
    private Task _completion = Task.CompletedTask;

    private LeanClient(ClientWebSocket socket, Receiver? receiver, RunStats stats)
    {
        _socket = socket;
        _receiver = receiver;
        _stats = stats;
    }

    public Task Completion => _completion;

    public Action? OnRefused { get; set; }

    public static async Task<LeanClient> ConnectAsync(Uri hubUrl, bool negotiate, HttpMessageInvoker invoker, Receiver? receiver, RunStats stats, CancellationToken cancellationToken)
    {
        var socket = new ClientWebSocket();
        socket.Options.KeepAliveInterval = Timeout.InfiniteTimeSpan;
        try
        {
            var url = negotiate ? await NegotiateAsync(hubUrl, invoker, cancellationToken).ConfigureAwait(false) : hubUrl;
            await socket.ConnectAsync(ToWebSocket(url), invoker, cancellationToken).ConfigureAwait(false);
            await socket.SendAsync(LeanProtocol.Handshake.ToArray(), WebSocketMessageType.Text, true, cancellationToken).ConfigureAwait(false);
            var buffer = new byte[1024];
            var length = 0;
            while (Array.IndexOf(buffer, LeanProtocol.RecordSeparator, 0, length) < 0)
            {
                var read = await socket.ReceiveAsync(buffer.AsMemory(length), cancellationToken).ConfigureAwait(false);
                if (read.MessageType == WebSocketMessageType.Close || length + read.Count >= buffer.Length)
                {
                    throw new InvalidOperationException("The hub closed the connection during the handshake.");
                }

                length += read.Count;
            }

            var handshake = LeanProtocol.Parse(buffer.AsSpan(0, Array.IndexOf(buffer, LeanProtocol.RecordSeparator, 0, length)));
            if (handshake.Error is { } error)
            {
                throw new InvalidOperationException("The hub refused the handshake: " + error);
            }
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        var client = new LeanClient(socket, receiver, stats);
        client._completion = Task.WhenAll(client.ReceiveLoopAsync(), client.PingLoopAsync());
        return client;
    }

    public async Task SubscribeAsync(string room, CancellationToken cancellationToken)
    {
        var id = Interlocked.Increment(ref _nextInvocation);
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[id.ToString(System.Globalization.CultureInfo.InvariantCulture)] = done;
        await SendInvocationAsync(id, "Subscribe", room, default, cancellationToken).ConfigureAwait(false);
        await done.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    public ValueTask SendAsync(string room, ReadOnlyMemory<byte> text, CancellationToken cancellationToken) =>
        SendInvocationAsync(Interlocked.Increment(ref _nextInvocation), "SendMessage", room, text, cancellationToken);

    private async ValueTask SendInvocationAsync(long id, string target, string room, ReadOnlyMemory<byte> text, CancellationToken cancellationToken)
    {
        await _sendLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            _output.ResetWrittenCount();
            LeanProtocol.WriteInvocation(_output, id, target, room, text.Span);
            await _socket.SendAsync(_output.WrittenMemory, WebSocketMessageType.Text, true, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _sendLock.Release();
        }
    }

    private async Task ReceiveLoopAsync()
    {
        var buffer = new byte[4 * 1024];
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
                var consumed = HandleRecords(buffer.AsSpan(0, length));
                if (consumed > 0)
                {
                    buffer.AsSpan(consumed, length - consumed).CopyTo(buffer);
                    length -= consumed;
                }
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
        }
        catch (WebSocketException) when (_stop.IsCancellationRequested)
        {
        }
        finally
        {
            foreach (var pending in _pending.Values)
            {
                pending.TrySetException(new InvalidOperationException("The connection closed."));
            }
        }
    }

    private int HandleRecords(ReadOnlySpan<byte> data)
    {
        var rest = data;
        while (LeanProtocol.TryReadRecord(ref rest, out var record))
        {
            var parsed = LeanProtocol.Parse(record);
            switch (parsed.Type)
            {
                case 1 when parsed.HasMessage:
                    if (_receiver is null)
                    {
                        _stats.CountForeignFrame();
                    }
                    else
                    {
                        _receiver.OnText(parsed.MessageIn(record));
                    }

                    break;
                case 3:
                    if (parsed.InvocationId is { } id && _pending.TryRemove(id, out var pending))
                    {
                        if (parsed.Error is { } error)
                        {
                            pending.TrySetException(new InvalidOperationException(error));
                        }
                        else
                        {
                            pending.TrySetResult();
                        }
                    }
                    else if (parsed.Error is { } sendError)
                    {
                        Refusals.OnSendFailed(sendError, OnRefused, _stats);
                    }

                    break;
                case 7:
                    throw new InvalidOperationException("The hub closed the connection: " + parsed.Error);
            }
        }

        return data.Length - rest.Length;
    }

    private async Task PingLoopAsync()
    {
        using var timer = new PeriodicTimer(PingInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(_stop.Token).ConfigureAwait(false))
            {
                await _sendLock.WaitAsync(_stop.Token).ConfigureAwait(false);
                try
                {
                    await _socket.SendAsync(LeanProtocol.Ping.ToArray(), WebSocketMessageType.Text, true, _stop.Token).ConfigureAwait(false);
                }
                finally
                {
                    _sendLock.Release();
                }
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
        }
        catch (WebSocketException) when (_stop.IsCancellationRequested)
        {
        }
    }

    /// <summary>Asks the hub for a connection (negotiate version 1): the URL to connect with its token.</summary>
    private static async Task<Uri> NegotiateAsync(Uri hubUrl, HttpMessageInvoker invoker, CancellationToken cancellationToken)
    {
        var query = hubUrl.Query.Length > 1 ? hubUrl.Query[1..] + "&" : "";
        var path = hubUrl.AbsolutePath.TrimEnd('/') + "/negotiate";
        using var request = new HttpRequestMessage(HttpMethod.Post, new UriBuilder(hubUrl) { Path = path, Query = query + "negotiateVersion=1" }.Uri);
        using var response = await invoker.SendAsync(request, cancellationToken).ConfigureAwait(false);
        response.EnsureSuccessStatusCode();
        var answer = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
        using var document = System.Text.Json.JsonDocument.Parse(answer);
        var token = document.RootElement.GetProperty("connectionToken").GetString()
            ?? throw new InvalidOperationException("The negotiate answer holds no connection token.");
        return new UriBuilder(hubUrl) { Query = query + "id=" + Uri.EscapeDataString(token) }.Uri;
    }

    internal static Uri ToWebSocket(Uri url)
    {
        var builder = new UriBuilder(url) { Scheme = url.Scheme is "https" or "wss" ? "wss" : "ws" };
        return builder.Uri;
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await _completion.ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is WebSocketException or InvalidOperationException or OperationCanceledException)
        {
        }

        _socket.Abort();
        _socket.Dispose();
        _stop.Dispose();
        _sendLock.Dispose();
    }
}
