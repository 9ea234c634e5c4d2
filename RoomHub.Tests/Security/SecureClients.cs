using System.Net.WebSockets;
using Microsoft.AspNetCore.Http.Connections;
using Microsoft.AspNetCore.SignalR.Client;
using RoomHub.Tests.Infrastructure;

namespace RoomHub.Tests.Security;

/// <summary>Connects real clients with a token or an origin, and reports what the upgrade answered.</summary>
internal static class SecureClients
{
    public static async Task<HubConnection> HubAsync(RoomHubInstance instance, string? token = null, string? origin = null, string? query = null)
    {
        var connection = new HubConnectionBuilder()
            .WithUrl(query is null ? instance.HubUrl : new Uri(instance.HubUrl + "?" + query), options =>
            {
                options.SkipNegotiation = true;
                options.Transports = HttpTransportType.WebSockets;
                if (token is not null)
                {
                    options.AccessTokenProvider = () => Task.FromResult<string?>(token);
                }

                if (origin is not null)
                {
                    options.Headers["Origin"] = origin;
                }
            })
            .Build();
        await connection.StartAsync();
        return connection;
    }

    /// <summary>The HTTP status a WebSocket upgrade got: 101 when accepted.</summary>
    public static async Task<int> UpgradeStatusAsync(RoomHubInstance instance, string pathAndQuery, IDictionary<string, string>? headers = null)
    {
        await using var socket = await RawWebSocket.ConnectAsync(instance, pathAndQuery, headers);
        return socket.Status;
    }

    public static async Task<LegacyClient> LegacyAsync(RoomHubInstance instance, string? token = null, string? query = null)
    {
        var socket = new ClientWebSocket();
        if (token is not null)
        {
            socket.Options.SetRequestHeader("Authorization", "Bearer " + token);
        }

        await socket.ConnectAsync(LegacyClient.UrlOf(instance, query: query), CancellationToken.None);
        return LegacyClient.Wrap(socket);
    }
}
