using Microsoft.AspNetCore.Http.Connections;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Client;

namespace RoomHub.Tests.Infrastructure;

/// <summary>A raw SignalR client for tests of connections the server may cut while it restores their session.</summary>
internal static class ReturningClient
{
    /// <summary>A WebSockets-only connection to <paramref name="url"/>; with <paramref name="retries"/>, it reconnects by itself every <paramref name="delay"/>.</summary>
    public static HubConnection Build(Uri url, int retries = 0, TimeSpan delay = default)
    {
        var builder = new HubConnectionBuilder().WithUrl(url, options =>
        {
            options.SkipNegotiation = true;
            options.Transports = HttpTransportType.WebSockets;
        });
        if (retries > 0)
        {
            builder.WithAutomaticReconnect(Enumerable.Repeat(delay, retries).ToArray());
        }

        return builder.Build();
    }

    /// <summary>
    /// Starts the connection. The server's cut can come before the client has read the handshake's answer; a first start
    /// is then retried, as applications do (SignalR reconnects by itself only once it has been connected).
    /// </summary>
    public static Task StartRetryingAsync(this HubConnection connection) => Poll.UntilAsync(async () =>
    {
        try
        {
            await connection.StartAsync();
            return true;
        }
        catch (Exception ex) when (ex is not TimeoutException)
        {
            return false;
        }
    }, "the client to start");

    /// <summary>Sends as soon as sends succeed again (after an outage), within <paramref name="timeout"/>; returns the id.</summary>
    public static async Task<string> SendOnceAcceptedAsync(this TestClient sender, string room, string text, TimeSpan timeout)
    {
        string? id = null;
        await Poll.UntilAsync(async () =>
        {
            try
            {
                id = await sender.SendAsync(room, text);
                return true;
            }
            catch (HubException)
            {
                return false;
            }
        }, $"a send of '{text}' to succeed", timeout);
        return id!;
    }
}
