using System.Reflection;
using System.Security.Claims;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.Extensions.Logging;
using RoomHub.Server;
using RoomHub.Server.Internal;
using RoomHub.Tests.Infrastructure;

namespace RoomHub.Tests;

/// <summary>
/// SignalR's own log of failed hub calls is off by default; the filter that stands in for it logs the calls that fail
/// by fault and stays quiet about the errors RoomHub answers clients with.
/// </summary>
public sealed class HubFailureFilterTests
{
    private static readonly MethodInfo SendMessage = typeof(RoomsHub).GetMethod(nameof(RoomsHub.SendMessage))!;

    [Fact]
    public async Task AFaultIsLoggedAsAnErrorAndRethrown()
    {
        using var log = new LogCapture();
        var filter = new HubFailureFilter(new LoggerFactory([log]).CreateLogger<HubFailureFilter>());
        var fault = new InvalidOperationException("a bug");

        var thrown = await Assert.ThrowsAsync<InvalidOperationException>(async () => await filter.InvokeMethodAsync(Invocation(), _ => throw fault));

        Assert.Same(fault, thrown);
        var entry = Assert.Single(log.Entries);
        Assert.Equal(LogLevel.Error, entry.Level);
        Assert.Contains(nameof(RoomsHub.SendMessage), entry.Message, StringComparison.Ordinal);
        Assert.Contains("connection-1", entry.Message, StringComparison.Ordinal);
        Assert.Same(fault, entry.Exception);
    }

    [Fact]
    public async Task AnAnswerToTheClientIsRethrownWithoutALogLine()
    {
        using var log = new LogCapture();
        var filter = new HubFailureFilter(new LoggerFactory([log]).CreateLogger<HubFailureFilter>());

        await Assert.ThrowsAsync<HubException>(async () => await filter.InvokeMethodAsync(Invocation(), _ => throw new HubException("INVALID_ROOM: no")));
        await Assert.ThrowsAsync<OperationCanceledException>(async () => await filter.InvokeMethodAsync(Invocation(), _ => throw new OperationCanceledException(new CancellationToken(canceled: true))));

        Assert.Empty(log.Entries);
    }

    [Fact]
    public async Task ACancellationThatNobodyAskedForIsLoggedAsAFailure()
    {
        // One a dependency raised on its own (its token not cancelled): the client only sees an unexpected error.
        using var log = new LogCapture();
        var filter = new HubFailureFilter(new LoggerFactory([log]).CreateLogger<HubFailureFilter>());

        await Assert.ThrowsAsync<TaskCanceledException>(async () => await filter.InvokeMethodAsync(Invocation(), _ => throw new TaskCanceledException()));

        Assert.Single(log.Entries, e => e.Level == LogLevel.Error);
    }

    [Fact]
    public async Task ARefusedCallLeavesNoErrorInTheServerLog()
    {
        var log = await LogOfARefusedCallAsync(new Dictionary<string, string?>());

        Assert.DoesNotContain(log, e => e.Level >= LogLevel.Error);
    }

    [Fact]
    public async Task SignalRsPerCallErrorLogCanStillBeTurnedOnInConfiguration()
    {
        var log = await LogOfARefusedCallAsync(new Dictionary<string, string?> { ["Logging:LogLevel:Microsoft.AspNetCore.SignalR.Internal.DefaultHubDispatcher"] = "Error" });

        Assert.Contains(log, e => e.Level == LogLevel.Error && e.Category.EndsWith("DefaultHubDispatcher", StringComparison.Ordinal));
    }

    [Fact]
    public async Task AMalformedSessionIsRefusedOnBothEndpointsWithoutAnErrorInTheLog()
    {
        using var log = new LogCapture();
        await using var server = await RoomHubInstance.StartAsync(new Dictionary<string, string?>(), configure: builder => builder.Logging.AddProvider(log));

        await using var hub = new HubConnectionBuilder().WithUrl(new Uri(server.HubUrl + "?session=short")).Build();
        await Assert.ThrowsAnyAsync<Exception>(() => hub.StartAsync());
        await using var legacy = await LegacyClient.ConnectAsync(server, "/", "session=short");
        await legacy.WaitForErrorAsync(Contracts.RoomErrorCodes.InvalidArgument);
        await legacy.WaitUntilClosedAsync();

        Assert.DoesNotContain(log.Entries, e => e.Level >= LogLevel.Error);
    }

    /// <summary>What a server started with <paramref name="settings"/> logged for a send refused as INVALID_ROOM.</summary>
    private static async Task<IReadOnlyList<LogCapture.Entry>> LogOfARefusedCallAsync(Dictionary<string, string?> settings)
    {
        var log = new LogCapture();
        await using var server = await RoomHubInstance.StartAsync(settings, configure: builder => builder.Logging.AddProvider(log));
        await using var client = await TestClient.ConnectAsync(server);

        await Assert.ThrowsAsync<HubException>(() => client.SendAsync("", "no room"));

        return log.Entries;
    }

    private static HubInvocationContext Invocation() => new(new Caller(), new EmptyServices(), null!, SendMessage, ["room", "text"]);

    private sealed class Caller : HubCallerContext
    {
        public override string ConnectionId => "connection-1";

        public override string? UserIdentifier => null;

        public override ClaimsPrincipal? User => null;

        public override IDictionary<object, object?> Items { get; } = new Dictionary<object, object?>();

        public override IFeatureCollection Features { get; } = new FeatureCollection();

        public override CancellationToken ConnectionAborted => CancellationToken.None;

        public override void Abort()
        {
        }
    }

    private sealed class EmptyServices : IServiceProvider
    {
        public object? GetService(Type serviceType) => null;
    }
}
