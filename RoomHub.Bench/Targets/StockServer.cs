using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.SignalR;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using RoomHub.Contracts;

namespace RoomHub.Bench.Targets;

/// <summary>
/// What RoomHub is measured against on the SignalR side: a stock ASP.NET Core SignalR hub over the stock Redis backplane
/// (<c>REDIS_URL</c>; in memory without it), with the method names and message shape the bench clients speak. A room is
/// a SignalR group and a send is one group send: no history, no ordering across a connection's calls beyond SignalR's
/// one-call-at-a-time default, no sessions, no limits, no telemetry.
/// </summary>
internal static class StockServer
{
    public static async Task RunAsync(int port, CancellationToken cancellationToken)
    {
        var builder = LoopbackApp.CreateBuilder(port);
        var signalR = builder.Services.AddSignalR();
        if (Environment.GetEnvironmentVariable("REDIS_URL") is { Length: > 0 } redis)
        {
            signalR.AddStackExchangeRedis(new Uri(redis).Authority, options => options.Configuration.ChannelPrefix = StackExchange.Redis.RedisChannel.Literal("stock"));
        }

        var app = builder.Build();
        app.MapHub<StockHub>("/" + RoomHubPaths.Hub.TrimStart('/'));
        await app.RunAsync(cancellationToken).ConfigureAwait(false);
    }

    private sealed class StockHub : Hub
    {
        private static long _nextId;

        public Task Subscribe(string room) => Groups.AddToGroupAsync(Context.ConnectionId, room);

        public async Task<string> SendMessage(string room, string message)
        {
            var id = Interlocked.Increment(ref _nextId).ToString(System.Globalization.CultureInfo.InvariantCulture);
            await Clients.Group(room).SendAsync(nameof(IRoomClient.ReceiveMessage), new RoomMessage(id, room, message, DateTimeOffset.UtcNow)).ConfigureAwait(false);
            return id;
        }
    }
}
