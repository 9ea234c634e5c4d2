using System.Collections.Concurrent;
using System.Net.WebSockets;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.Extensions.Logging;
using RoomHub.Tests.Infrastructure;

namespace RoomHub.Tests.Security;

public sealed class AuthenticationTests
{
    [Fact]
    public async Task AnonymousClientsConnectToBothEndpointsByDefault()
    {
        await using var server = await RoomHubInstance.StartAsync(new Dictionary<string, string?>());

        Assert.Equal(101, await SecureClients.UpgradeStatusAsync(server, "/hubs/rooms"));
        Assert.Equal(101, await SecureClients.UpgradeStatusAsync(server, "/"));
    }

    [Fact]
    public async Task WhenAuthenticationIsRequiredAMissingExpiredOrForgedTokenGets401OnBothEndpoints()
    {
        await using var server = await RoomHubInstance.StartAsync(Tokens.Settings(require: true));
        var expired = Tokens.Mint("alice", TimeSpan.FromMinutes(-5));
        var forged = Tokens.Mint("alice", key: "another-signing-key-that-is-32-bytes-or-more");
        var wrongAudience = Tokens.Mint("alice", audience: "someone-else");

        foreach (var path in new[] { "/hubs/rooms", "/" })
        {
            Assert.Equal(401, await SecureClients.UpgradeStatusAsync(server, path));
            foreach (var bad in new[] { expired, forged, wrongAudience, "not-a-jwt" })
            {
                Assert.Equal(401, await SecureClients.UpgradeStatusAsync(server, $"{path}?access_token={bad}"));
                Assert.Equal(401, await SecureClients.UpgradeStatusAsync(server, path, new Dictionary<string, string> { ["Authorization"] = "Bearer " + bad }));
            }
        }

        await Assert.ThrowsAnyAsync<Exception>(() => SecureClients.HubAsync(server));
        await Assert.ThrowsAnyAsync<Exception>(() => SecureClients.HubAsync(server, expired));
    }

    [Fact]
    public async Task AValidTokenInTheHeaderOrTheQueryStringConnectsToBothEndpoints()
    {
        await using var server = await RoomHubInstance.StartAsync(Tokens.Settings(require: true));
        var token = Tokens.Mint("alice");

        Assert.Equal(101, await SecureClients.UpgradeStatusAsync(server, $"/hubs/rooms?access_token={token}"));
        Assert.Equal(101, await SecureClients.UpgradeStatusAsync(server, $"/?access_token={token}"));
        Assert.Equal(101, await SecureClients.UpgradeStatusAsync(server, "/notification", new Dictionary<string, string> { ["Authorization"] = "Bearer " + token }));

        var room = Rooms.Unique();
        await using var hub = await SecureClients.HubAsync(server, token);
        await using var legacy = await SecureClients.LegacyAsync(server, token);
        await legacy.SubscribeAsync(room);
        await Poll.UntilAsync(async () =>
        {
            await hub.InvokeAsync<string>("SendMessage", room, "ping");
            return legacy.Frames.Contains("ping");
        }, "the authenticated legacy client to receive");
    }

    [Fact]
    public async Task AWrongTokenIsRefusedEvenWhereAnonymousIsAllowed()
    {
        await using var server = await RoomHubInstance.StartAsync(Tokens.Settings(require: false));

        Assert.Equal(101, await SecureClients.UpgradeStatusAsync(server, "/"));
        Assert.Equal(401, await SecureClients.UpgradeStatusAsync(server, "/?access_token=" + Tokens.Mint("alice", TimeSpan.FromMinutes(-5))));
        Assert.Equal(401, await SecureClients.UpgradeStatusAsync(server, "/hubs/rooms?access_token=forged"));
    }

    [Fact]
    public async Task AnExpiringTokenClosesTheLegacySocketWith1008AndTheHubConnection()
    {
        await using var server = await RoomHubInstance.StartAsync(Tokens.Settings(require: true));
        var token = Tokens.Mint("alice", TimeSpan.FromSeconds(3));

        await using var legacy = await SecureClients.LegacyAsync(server, token);
        await using var hub = await SecureClients.HubAsync(server, token);
        var hubClosed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        hub.Closed += _ =>
        {
            hubClosed.TrySetResult();
            return Task.CompletedTask;
        };

        await legacy.WaitUntilClosedAsync(TimeSpan.FromSeconds(15));
        Assert.Equal(WebSocketCloseStatus.PolicyViolation, legacy.CloseStatus);
        await hubClosed.Task.WaitAsync(TimeSpan.FromSeconds(15));
    }

    [Fact]
    public async Task TheAccessTokenNeverAppearsInAnyLogLine()
    {
        var lines = new ConcurrentQueue<string>();
        var settings = Tokens.Settings(require: true);
        settings["Logging:LogLevel:Default"] = "Trace";
        settings["Logging:LogLevel:Microsoft.AspNetCore"] = "Trace";
        settings["Logging:LogLevel:Microsoft.AspNetCore.Hosting.Diagnostics"] = "Trace";
        await using var server = await RoomHubInstance.StartAsync(settings, builder => builder.Logging.AddProvider(new CapturingLoggerProvider(lines)));
        var token = Tokens.Mint("alice");
        var expired = Tokens.Mint("bob", TimeSpan.FromMinutes(-5));

        Assert.Equal(101, await SecureClients.UpgradeStatusAsync(server, $"/hubs/rooms?access_token={token}"));
        Assert.Equal(101, await SecureClients.UpgradeStatusAsync(server, $"/notification?access_token={token}&format=envelope"));
        Assert.Equal(401, await SecureClients.UpgradeStatusAsync(server, $"/?access_token={expired}"));

        // The request logging is on (so the URL was logged), and its token was replaced.
        await Poll.UntilAsync(() => lines.Any(l => l.Contains("Request starting", StringComparison.Ordinal) && l.Contains("access_token=[redacted]", StringComparison.Ordinal)), "a redacted request line");
        Assert.DoesNotContain(lines, l => l.Contains(token, StringComparison.Ordinal) || l.Contains(expired, StringComparison.Ordinal));
        Assert.DoesNotContain(lines, l => l.Contains(token.Split('.')[2], StringComparison.Ordinal));
    }

    private sealed class CapturingLoggerProvider(ConcurrentQueue<string> lines) : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => new Logger(categoryName, lines);

        public void Dispose()
        {
        }

        private sealed class Logger(string category, ConcurrentQueue<string> lines) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                var values = state is IEnumerable<KeyValuePair<string, object?>> pairs ? string.Join(" ", pairs.Select(p => $"{p.Key}={p.Value}")) : "";
                lines.Enqueue($"{category} {formatter(state, exception)} {values} {exception}");
            }
        }
    }
}
