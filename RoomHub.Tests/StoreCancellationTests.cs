using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using RoomHub.Contracts;
using RoomHub.Server.Internal;
using RoomHub.Server.Internal.Engine;
using RoomHub.Tests.Infrastructure;

namespace RoomHub.Tests;

/// <summary>
/// StackExchange.Redis cancels a command whose connection drops before it is written: the store call then ends in a
/// cancellation that nobody asked for. It is a store failure like a timeout (a clear error to the client, a warning in
/// the log), not the client going away nor the instance stopping. And a connection whose opening fails leaves nothing
/// registered behind, whatever it failed with.
/// </summary>
public sealed class StoreCancellationTests
{
    private static async Task<(RoomHubInstance Server, CancellingSessions Sessions)> StartAsync()
    {
        var server = await RoomHubInstance.StartAsync(new Dictionary<string, string?>(), replace: services =>
        {
            HeldHistory.Wrap(services);
            CancellingSessions.Wrap(services);
        });
        return (server, server.Services.GetRequiredService<CancellingSessions>());
    }

    [Fact]
    public async Task AHeartbeatWhoseStoreCancelsCarriesOn()
    {
        // A cancellation out of the heartbeat would end its loop, and with it (by the host's default) the instance.
        var (server, sessions) = await StartAsync();
        await using var _ = server;
        await using var client = await TestClient.ConnectAsync(new Uri(server.HubUrl + "?session=" + Guid.NewGuid().ToString("N")));
        await client.SubscribeAsync(Rooms.Unique("beat"));
        var heartbeat = server.Services.GetServices<IHostedService>().OfType<RoomHubHeartbeat>().Single();

        sessions.Fail = () => new TaskCanceledException();
        await heartbeat.BeatAsync(CancellationToken.None);
    }

    [Fact]
    public async Task ASendWhoseStoreCancelsIsRefusedWithSendFailed()
    {
        var (server, _) = await StartAsync();
        await using var __ = server;
        await using var client = await TestClient.ConnectAsync(server);
        server.Services.GetRequiredService<HeldHistory>().FailEveryAppend(1, with: () => new TaskCanceledException());

        var error = await Assert.ThrowsAsync<HubException>(() => client.SendAsync(Rooms.Unique("cancelled"), "lost?"));
        Assert.Contains(RoomErrorCodes.SendFailed + ": ", error.Message, StringComparison.Ordinal);
        Assert.Equal(HubConnectionState.Connected, client.Connection.State);
    }

    [Fact]
    public async Task ASessionWhoseClaimTheStoreCancelsIsCutToComeBackAndLeavesNothingRegistered()
    {
        var (server, sessions) = await StartAsync();
        await using var _ = server;
        var registry = server.Services.GetRequiredService<ConnectionRegistry>();
        sessions.Fail = () => new TaskCanceledException();

        // Cut as a network failure cuts (the client reconnects), as when Redis is away: not closed with an error, which
        // would tell the client not to come back.
        await using var returning = ReturningClient.Build(new Uri(server.HubUrl + "?session=" + Guid.NewGuid().ToString("N")), retries: 100, delay: TimeSpan.FromMilliseconds(100));
        var outcome = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        returning.Reconnecting += _ => { outcome.TrySetResult("cut"); return Task.CompletedTask; };
        returning.Closed += ex => { outcome.TrySetResult("closed: " + ex?.Message); return Task.CompletedTask; };
        try
        {
            await returning.StartAsync();
        }
        catch (Exception ex) when (ex is not HubException)
        {
            outcome.TrySetResult("cut"); // Before the handshake's answer was read.
        }

        Assert.Equal("cut", await outcome.Task.WaitAsync(TimeSpan.FromSeconds(10)));
        await returning.StopAsync();
        await Poll.UntilAsync(() => registry.SignalRCount == 0, "the cut connection to leave the registry");
    }

    [Fact]
    public async Task AConnectionThatGoesAwayWhileItsSessionIsRestoredLeavesNothingRegistered()
    {
        // The cancellation its going away causes ends the hub's OnConnectedAsync, for which SignalR calls no
        // OnDisconnectedAsync.
        var (server, sessions) = await StartAsync();
        await using var _ = server;
        var registry = server.Services.GetRequiredService<ConnectionRegistry>();
        sessions.Fail = () => new OperationCanceledException(new CancellationToken(canceled: true));

        var connection = new HubConnectionBuilder().WithUrl(server.HubUrl + "?session=" + Guid.NewGuid().ToString("N")).Build();
        await using (connection)
        {
            try
            {
                await connection.StartAsync();
            }
            catch (Exception ex) when (ex is HubException or InvalidOperationException or IOException)
            {
                // Closed as the connection opened.
            }
        }

        await Poll.UntilAsync(() => registry.SignalRCount == 0, "the connection to leave the registry");
    }

    /// <summary>The server's session store, whose calls can be made to fail with an exception of the test's choice.</summary>
    private sealed class CancellingSessions(ISessionStore inner) : ISessionStore
    {
        public Func<Exception>? Fail { get; set; }

        public static void Wrap(IServiceCollection services) => services.Decorate<ISessionStore, CancellingSessions>(inner => new CancellingSessions(inner));

        public Task<SessionState?> GetAsync(string owner, string session, CancellationToken cancellationToken) =>
            Call(() => inner.GetAsync(owner, session, cancellationToken));

        public Task<SessionClaim> ClaimAsync(SessionRef session, CancellationToken cancellationToken) =>
            Call(() => inner.ClaimAsync(session, cancellationToken));

        public Task AddRoomAsync(SessionRef session, string room, CancellationToken cancellationToken) =>
            Call(() => inner.AddRoomAsync(session, room, cancellationToken));

        public Task RemoveRoomAsync(SessionRef session, string room, CancellationToken cancellationToken) =>
            Call(() => inner.RemoveRoomAsync(session, room, cancellationToken));

        public Task TouchAsync(IReadOnlyCollection<(SessionRef Session, IReadOnlyCollection<string> Rooms)> sessions, CancellationToken cancellationToken) =>
            Call(() => inner.TouchAsync(sessions, cancellationToken));

        private Task Call(Func<Task> call) => Fail is { } fail ? Task.FromException(fail()) : call();

        private Task<T> Call<T>(Func<Task<T>> call) => Fail is { } fail ? Task.FromException<T>(fail()) : call();
    }
}
