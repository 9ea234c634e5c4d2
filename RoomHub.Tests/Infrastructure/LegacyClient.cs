using System.Collections.Concurrent;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json.Nodes;

namespace RoomHub.Tests.Infrastructure;

/// <summary>A raw <see cref="ClientWebSocket"/> speaking the legacy JSON protocol, recording every frame it receives.</summary>
public sealed class LegacyClient : IAsyncDisposable
{
    private readonly ConcurrentQueue<string> _frames = new();
    private readonly Task _receiving;

    private LegacyClient(ClientWebSocket socket)
    {
        Socket = socket;
        _receiving = ReceiveAsync();
    }

    public ClientWebSocket Socket { get; }

    public IReadOnlyList<string> Frames => _frames.ToArray();

    /// <summary>The close status the server sent, once the socket is closed.</summary>
    public WebSocketCloseStatus? CloseStatus { get; private set; }

    public bool IsClosed { get; private set; }

    public static Uri UrlOf(RoomHubInstance instance, string path = "/", string? query = null)
    {
        var builder = new UriBuilder(instance.BaseAddress) { Scheme = "ws", Path = path, Query = query ?? "" };
        return builder.Uri;
    }

    public static Task<LegacyClient> ConnectAsync(RoomHubInstance instance, string path = "/", string? query = null) =>
        ConnectAsync(UrlOf(instance, path, query));

    public static async Task<LegacyClient> ConnectAsync(Uri url)
    {
        var socket = new ClientWebSocket();
        await socket.ConnectAsync(url, CancellationToken.None);
        return new LegacyClient(socket);
    }

    /// <summary>Records the frames of a socket connected by the caller (with headers of its own).</summary>
    public static LegacyClient Wrap(ClientWebSocket socket) => new(socket);

    public Task SendAsync(string frame) => SendAsync(Encoding.UTF8.GetBytes(frame));

    public Task SendAsync(byte[] frame, WebSocketMessageType type = WebSocketMessageType.Text) =>
        Socket.SendAsync(frame, type, endOfMessage: true, CancellationToken.None);

    public Task SubscribeAsync(string room) => SendAsync(new JsonObject { ["type"] = "SUBSCRIBE", ["room"] = room }.ToJsonString());

    /// <summary>
    /// Waits until a SUBSCRIBE of this client's has taken effect, which has no acknowledgement: <paramref name="sender"/>
    /// sends <paramref name="text"/> to the room until this client receives it.
    /// </summary>
    public Task WaitUntilInRoomAsync(TestClient sender, string room, string text = "probe") =>
        Poll.UntilAsync(async () =>
        {
            await sender.SendAsync(room, text);
            return Frames.Contains(text);
        }, "the legacy client to be in the room");

    public Task UnsubscribeAsync(string room) => SendAsync(new JsonObject { ["type"] = "UNSUBSCRIBE", ["room"] = room }.ToJsonString());

    public Task SendMessageAsync(string room, string message) =>
        SendAsync(new JsonObject { ["type"] = "SEND_MESSAGE", ["roomId"] = room, ["message"] = message }.ToJsonString());

    public async Task<string> WaitForAsync(Func<string, bool> match, string what, TimeSpan? timeout = null)
    {
        string? found = null;
        await Poll.UntilAsync(() => (found = _frames.FirstOrDefault(match)) is not null, what, timeout);
        return found!;
    }

    public Task<string> WaitForFrameAsync(string frame, TimeSpan? timeout = null) => WaitForAsync(f => f == frame, $"the frame '{frame}'", timeout);

    public async Task<JsonObject> WaitForJsonAsync(Func<JsonObject, bool> match, string what, TimeSpan? timeout = null)
    {
        JsonObject? found = null;
        await Poll.UntilAsync(() => (found = Json().FirstOrDefault(match)) is not null, what, timeout);
        return found!;
    }

    public Task<JsonObject> WaitForErrorAsync(string code, TimeSpan? timeout = null) =>
        WaitForJsonAsync(j => (string?)j["type"] == "ERROR" && (string?)j["code"] == code, $"an ERROR frame with code {code}", timeout);

    public IEnumerable<JsonObject> Json()
    {
        foreach (var frame in _frames)
        {
            JsonNode? node = null;
            try
            {
                node = JsonNode.Parse(frame);
            }
            catch (System.Text.Json.JsonException)
            {
            }

            if (node is JsonObject json)
            {
                yield return json;
            }
        }
    }

    public Task WaitUntilClosedAsync(TimeSpan? timeout = null) => Poll.UntilAsync(() => IsClosed, "the server to close the socket", timeout);

    private async Task ReceiveAsync()
    {
        var buffer = new byte[256 * 1024];
        try
        {
            while (true)
            {
                var length = 0;
                WebSocketReceiveResult result;
                do
                {
                    if (length == buffer.Length)
                    {
                        Array.Resize(ref buffer, buffer.Length * 2);
                    }

                    result = await Socket.ReceiveAsync(new ArraySegment<byte>(buffer, length, buffer.Length - length), CancellationToken.None);
                    length += result.Count;
                }
                while (!result.EndOfMessage && result.MessageType != WebSocketMessageType.Close);

                if (result.MessageType == WebSocketMessageType.Close)
                {
                    CloseStatus = result.CloseStatus;
                    if (Socket.State == WebSocketState.CloseReceived)
                    {
                        await Socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "", CancellationToken.None);
                    }

                    return;
                }

                _frames.Enqueue(Encoding.UTF8.GetString(buffer, 0, length));
            }
        }
        catch (Exception ex) when (ex is WebSocketException or ObjectDisposedException or OperationCanceledException)
        {
        }
        finally
        {
            IsClosed = true;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Socket.State == WebSocketState.Open)
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            try
            {
                // The receive loop is still reading, so only the close frame is sent here; the loop sees the answer.
                await Socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "", timeout.Token);
                await _receiving.WaitAsync(timeout.Token);
            }
            catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or TimeoutException)
            {
            }
        }

        Socket.Dispose();
        await _receiving;
    }
}
