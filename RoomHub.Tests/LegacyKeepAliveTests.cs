using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using RoomHub.Server.Internal;
using RoomHub.Tests.Infrastructure;

namespace RoomHub.Tests;

public sealed class LegacyKeepAliveTests
{
    [Fact]
    public async Task ClientThatNeverAnswersPingsIsDroppedAndLeavesTheHub()
    {
        await using var instance = await RoomHubInstance.StartAsync(new Dictionary<string, string?>
        {
            ["RoomHub:Redis"] = "",
            ["REDIS_URL"] = "",
            ["RoomHub:Legacy:KeepAliveInterval"] = "00:00:00.5",
            ["RoomHub:Legacy:KeepAliveTimeout"] = "00:00:01",
        });
        var connections = instance.Services.GetRequiredService<ConnectionRegistry>();

        // A half-open client: it completes the WebSocket handshake and then never answers a ping (or anything else).
        using var tcp = new TcpClient();
        await tcp.ConnectAsync("127.0.0.1", instance.BaseAddress.Port);
        var stream = tcp.GetStream();
        var request = $"GET / HTTP/1.1\r\nHost: 127.0.0.1:{instance.BaseAddress.Port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
                      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request));
        var buffer = new byte[4096];
        var read = await stream.ReadAsync(buffer);
        Assert.StartsWith("HTTP/1.1 101", Encoding.ASCII.GetString(buffer, 0, read), StringComparison.Ordinal);
        await Poll.UntilAsync(() => connections.LegacyCount == 1, "the half-open client to join the hub");

        // Reading (and ignoring) the pings until the server gives up on us and closes the TCP connection.
        var closedByServer = false;
        await Poll.UntilAsync(async () =>
        {
            try
            {
                using var wait = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));
                closedByServer = await stream.ReadAsync(buffer, wait.Token) == 0;
            }
            catch (OperationCanceledException)
            {
            }
            catch (IOException)
            {
                closedByServer = true;
            }

            return closedByServer;
        }, "the server to drop the silent client", TimeSpan.FromSeconds(15));

        await Poll.UntilAsync(() => connections.LegacyCount == 0, "the dropped client to leave the hub");
    }
}
