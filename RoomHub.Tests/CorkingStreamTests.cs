using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.SignalR;
using Microsoft.Extensions.DependencyInjection;
using RoomHub.Server.Internal.Legacy;
using RoomHub.Server.Internal.WebSockets;

namespace RoomHub.Tests;

public sealed class CorkingStreamTests
{
    [Fact]
    public async Task UncorkedWritesGoStraightThrough()
    {
        var inner = new RecordingStream();
        var stream = new CorkingStream(inner);

        await stream.WriteAsync("a"u8.ToArray());
        await stream.WriteAsync("b"u8.ToArray());

        Assert.Equal(["a", "b"], inner.Writes);
    }

    [Fact]
    public async Task CorkedWritesLeaveTogetherWithTheNextUncorkedOne()
    {
        var inner = new RecordingStream();
        var stream = new CorkingStream(inner) { Corked = true };

        await stream.WriteAsync("one,"u8.ToArray());
        await stream.WriteAsync("two,"u8.ToArray());
        Assert.Empty(inner.Writes);

        stream.Corked = false;
        await stream.WriteAsync("three"u8.ToArray());
        await stream.WriteAsync("four"u8.ToArray());

        Assert.Equal(["one,two,three", "four"], inner.Writes);
    }

    [Fact]
    public async Task HeldBytesBeyondTheLimitAreSentEvenWhileCorked()
    {
        var inner = new RecordingStream();
        var stream = new CorkingStream(inner) { Corked = true };
        var chunk = new byte[16 * 1024];

        for (var i = 0; i < 4; i++)
        {
            await stream.WriteAsync(chunk);
        }

        Assert.Equal(64 * 1024, Assert.Single(inner.Writes).Length);
    }

    [Fact]
    public async Task AWebSocketOverItDeliversEveryFrameWholeAndInOrder()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, ((IPEndPoint)listener.LocalEndpoint).Port);
        using var accepted = await listener.AcceptTcpClientAsync();
        var corking = new CorkingStream(accepted.GetStream());
        using var server = WebSocket.CreateFromStream(corking, new WebSocketCreationOptions { IsServer = true });
        using var reader = WebSocket.CreateFromStream(client.GetStream(), new WebSocketCreationOptions { IsServer = false });

        for (var i = 0; i < 50; i++)
        {
            corking.Corked = i % 10 != 9;
            await server.SendAsync(Encoding.UTF8.GetBytes($"frame {i}"), WebSocketMessageType.Text, endOfMessage: true, CancellationToken.None);
        }

        var buffer = new byte[64];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        for (var i = 0; i < 50; i++)
        {
            var result = await reader.ReceiveAsync(buffer, timeout.Token);
            Assert.True(result.EndOfMessage);
            Assert.Equal($"frame {i}", Encoding.UTF8.GetString(buffer, 0, result.Count));
        }
    }

    [Fact]
    public async Task TheWebSocketsFlushAfterEachFrameIsNotPassedOn()
    {
        var inner = new RecordingStream();
        using var socket = WebSocket.CreateFromStream(new CorkingStream(inner), new WebSocketCreationOptions { IsServer = true });

        for (var i = 0; i < 3; i++)
        {
            await socket.SendAsync("frame"u8.ToArray(), WebSocketMessageType.Text, endOfMessage: true, CancellationToken.None);
        }

        Assert.Equal(3, inner.Writes.Count);
        Assert.Equal(0, inner.Flushes);
    }

    [Theory]
    [InlineData("hub", true)]
    [InlineData("legacy", true)]
    [InlineData("health", false)]
    public async Task OnlyHubAndLegacyWebSocketsAreMadeOverIt(string endpoint, bool wrapped)
    {
        var app = new ApplicationBuilder(new ServiceCollection().BuildServiceProvider());
        CorkingStream.UseForWebSockets(app);
        app.Run(_ => Task.CompletedTask);
        var context = new DefaultHttpContext();
        var upgrade = new UpgradableRequest();
        context.Features.Set<IHttpUpgradeFeature>(upgrade);
        object metadata = endpoint switch
        {
            "hub" => new HubMetadata(typeof(Hub)),
            "legacy" => LegacyEndpoint.Marker,
            _ => new object(),
        };
        context.SetEndpoint(new Endpoint(null, new EndpointMetadataCollection(metadata), endpoint));

        await app.Build()(context);

        var feature = context.Features.Get<IHttpUpgradeFeature>();
        Assert.Equal(wrapped, feature is CorkingStream.Upgrade);
        Assert.Equal(wrapped, await feature!.UpgradeAsync() is CorkingStream);
    }

    private sealed class UpgradableRequest : IHttpUpgradeFeature
    {
        public bool IsUpgradableRequest => true;

        public Task<Stream> UpgradeAsync() => Task.FromResult<Stream>(new MemoryStream());
    }

    private sealed class RecordingStream : MemoryStream
    {
        public List<string> Writes { get; } = [];

        public int Flushes { get; private set; }

        public override Task FlushAsync(CancellationToken cancellationToken)
        {
            Flushes++;
            return Task.CompletedTask;
        }

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            Writes.Add(Encoding.UTF8.GetString(buffer.Span));
            return ValueTask.CompletedTask;
        }
    }
}
