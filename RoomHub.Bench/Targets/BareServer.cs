using System.Buffers;
using System.Collections.Concurrent;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Hosting;
using System.Net.WebSockets;
using System.Threading.Channels;
using RoomHub.Bench.Clients;

namespace RoomHub.Bench.Targets;

/// <summary>
/// The ceiling to compare with: a plain Kestrel WebSocket broadcast server speaking the legacy raw protocol
/// (<see cref="LegacyProtocol"/>) on every path, rooms in memory, no Redis. Each delivery is its own
/// <see cref="WebSocket.SendAsync(ReadOnlyMemory{byte}, WebSocketMessageType, bool, CancellationToken)"/> from one
/// writer loop per connection; nothing is batched beyond what Kestrel's output pipe does by itself.
/// </summary>
internal static class BareServer
{
    public static async Task RunAsync(int port, CancellationToken cancellationToken)
    {
        var builder = LoopbackApp.CreateBuilder(port);
        var app = builder.Build();
        var rooms = new ConcurrentDictionary<string, ConcurrentDictionary<Connection, byte>>();
        app.UseWebSockets();
        app.Run(async context =>
        {
            if (!context.WebSockets.IsWebSocketRequest)
            {
                context.Response.StatusCode = StatusCodes.Status400BadRequest;
                return;
            }

            using var socket = await context.WebSockets.AcceptWebSocketAsync().ConfigureAwait(false);
            await ServeAsync(new Connection(socket), rooms, context.RequestAborted).ConfigureAwait(false);
        });
        await app.RunAsync(cancellationToken).ConfigureAwait(false);
    }

    private static async Task ServeAsync(Connection connection, ConcurrentDictionary<string, ConcurrentDictionary<Connection, byte>> rooms, CancellationToken aborted)
    {
        var writer = connection.WriteLoopAsync(aborted);
        var joined = new List<string>();
        byte[]? buffer = null;
        var length = 0;
        try
        {
            while (true)
            {
                if (buffer is null)
                {
                    // Like RoomHub's legacy pump, an idle connection holds no buffer: it waits with a zero-byte read.
                    var next = await connection.Socket.ReceiveAsync(Memory<byte>.Empty, aborted).ConfigureAwait(false);
                    if (next.MessageType == WebSocketMessageType.Close)
                    {
                        break;
                    }

                    if (next.EndOfMessage)
                    {
                        continue;
                    }

                    buffer = ArrayPool<byte>.Shared.Rent(4096);
                }

                if (length == buffer.Length)
                {
                    var larger = ArrayPool<byte>.Shared.Rent(buffer.Length * 2);
                    buffer.AsSpan(0, length).CopyTo(larger);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = larger;
                }

                var read = await connection.Socket.ReceiveAsync(buffer.AsMemory(length), aborted).ConfigureAwait(false);
                if (read.MessageType == WebSocketMessageType.Close)
                {
                    break;
                }

                length += read.Count;
                if (!read.EndOfMessage)
                {
                    continue;
                }

                if (LegacyProtocol.TryParseCommand(buffer.AsSpan(0, length), out var type, out var room, out var message) && room is not null)
                {
                    switch (type)
                    {
                        case "SUBSCRIBE":
                            rooms.GetOrAdd(room, _ => new()).TryAdd(connection, 0);
                            joined.Add(room);
                            break;
                        case "UNSUBSCRIBE":
                            if (rooms.TryGetValue(room, out var left))
                            {
                                left.TryRemove(connection, out _);
                            }

                            break;
                        case "SEND_MESSAGE" when message is not null && rooms.TryGetValue(room, out var members):
                            foreach (var member in members.Keys)
                            {
                                member.Outbox.Writer.TryWrite(message);
                            }

                            break;
                    }
                }

                length = 0;
                ArrayPool<byte>.Shared.Return(buffer);
                buffer = null;
            }
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException)
        {
        }
        finally
        {
            if (buffer is not null)
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }

            foreach (var room in joined)
            {
                if (rooms.TryGetValue(room, out var members))
                {
                    members.TryRemove(connection, out _);
                }
            }

            connection.Outbox.Writer.TryComplete();
            try
            {
                await writer.ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is WebSocketException or OperationCanceledException)
            {
            }
        }
    }

    private sealed class Connection(WebSocket socket)
    {
        public WebSocket Socket { get; } = socket;

        public Channel<byte[]> Outbox { get; } = Channel.CreateUnbounded<byte[]>(new UnboundedChannelOptions { SingleReader = true });

        public async Task WriteLoopAsync(CancellationToken aborted)
        {
            await Task.Yield();
            var reader = Outbox.Reader;
            while (await reader.WaitToReadAsync(aborted).ConfigureAwait(false))
            {
                while (reader.TryRead(out var message))
                {
                    await Socket.SendAsync(message, WebSocketMessageType.Text, true, aborted).ConfigureAwait(false);
                }
            }
        }
    }
}
