using System.IO.Pipelines;
using System.Net.WebSockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using RoomHub.Server.Internal;
using RoomHub.Server.Internal.Legacy;
using RoomHub.Server.Internal.WebSockets;

namespace RoomHub.Tests;

/// <summary>A legacy session's own shutdown, over a WebSocket and a hub the test plays.</summary>
public sealed class WebSocketSessionTests : IDisposable
{
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();

    public void Dispose() => _services.Dispose();

    [Fact]
    public async Task AReceiveThatFailsUnexpectedlyStillEndsTheHubConnectionClosesWith1011AndIsReportedAfterTheTeardown()
    {
        var telemetry = new RoomHubTelemetry(_services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(), new ConnectionRegistry());
        var options = new PipeOptions(useSynchronizationContext: false);
        var connection = new WebSocketConnectionContext(new DefaultHttpContext(), options, options, handoff: null);
        var hub = new ReadingHub();
        var socket = new FailingSocket();
        var session = new WebSocketSession(socket, connection, hub, new LegacyHubProtocol(LegacyFormat.Bare), 1 << 20, telemetry, new Server.Internal.Drain.DrainState(), NullLogger.Instance);
        connection.Runner = session;

        // The fault is raised once the connection is torn down; the hub's connection ended (left its rooms) before that.
        await Assert.ThrowsAsync<InvalidOperationException>(() => session.RunAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.True(hub.Ended.Task.IsCompleted, "the hub connection is still running");
        Assert.Equal(WebSocketCloseStatus.InternalServerError, socket.ClosedWith);
    }

    /// <summary>A WebSocket whose receive fails with an exception the session does not expect of a transport.</summary>
    private sealed class FailingSocket : WebSocket
    {
        public WebSocketCloseStatus? ClosedWith { get; private set; }

        public override WebSocketCloseStatus? CloseStatus => null;

        public override string? CloseStatusDescription => null;

        public override WebSocketState State => ClosedWith is null ? WebSocketState.Open : WebSocketState.CloseSent;

        public override string? SubProtocol => null;

        public override void Abort()
        {
        }

        public override Task CloseAsync(WebSocketCloseStatus closeStatus, string? statusDescription, CancellationToken cancellationToken) => Task.CompletedTask;

        public override Task CloseOutputAsync(WebSocketCloseStatus closeStatus, string? statusDescription, CancellationToken cancellationToken)
        {
            ClosedWith = closeStatus;
            return Task.CompletedTask;
        }

        public override void Dispose()
        {
        }

        public override Task<WebSocketReceiveResult> ReceiveAsync(ArraySegment<byte> buffer, CancellationToken cancellationToken) => throw new NotSupportedException();

        public override async ValueTask<ValueWebSocketReceiveResult> ReceiveAsync(Memory<byte> buffer, CancellationToken cancellationToken)
        {
            await Task.Yield();
            throw ClosedWith is null ? new InvalidOperationException("an unexpected fault") : new WebSocketException(WebSocketError.ConnectionClosedPrematurely);
        }

        public override Task SendAsync(ArraySegment<byte> buffer, WebSocketMessageType messageType, bool endOfMessage, CancellationToken cancellationToken) => Task.CompletedTask;
    }

    /// <summary>Reads its input until it is completed or canceled, as the hub's dispatch loop does.</summary>
    private sealed class ReadingHub : ConnectionHandler
    {
        public TaskCompletionSource Ended { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public override async Task OnConnectedAsync(ConnectionContext connection)
        {
            try
            {
                while (true)
                {
                    var read = await connection.Transport.Input.ReadAsync();
                    connection.Transport.Input.AdvanceTo(read.Buffer.End);
                    if (read.IsCompleted || read.IsCanceled)
                    {
                        return;
                    }
                }
            }
            finally
            {
                Ended.TrySetResult();
            }
        }
    }
}
