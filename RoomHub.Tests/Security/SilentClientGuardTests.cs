using System.IO.Pipelines;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using RoomHub.Server;
using RoomHub.Server.Internal;
using RoomHub.Server.Internal.Security;

namespace RoomHub.Tests.Security;

/// <summary>The guard against clients that never speak, on a connection whose heartbeat the test beats.</summary>
public sealed class SilentClientGuardTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private readonly FakeTimeProvider _time = new();
    private readonly Pipe _input = new();
    private readonly BeatenConnection _connection;

    public SilentClientGuardTests()
    {
        _connection = new BeatenConnection(new DuplexPipe(_input.Reader, new Pipe().Writer));
        new SilentClientGuard(Options.Create(new RoomHubSecurityOptions { ClientTimeout = Timeout }), _time).Attach(_connection);
    }

    [Fact]
    public async Task AClientSilentForTheTimeoutIsCutOnceAndOneThatSpokeIsNot()
    {
        var waiting = _connection.Transport.Input.ReadAsync();
        _time.Advance(Timeout - TimeSpan.FromSeconds(1));
        _connection.Beat();
        Assert.Equal(0, _connection.Aborts);

        await _input.Writer.WriteAsync("{}"u8.ToArray());
        var read = await waiting;
        _connection.Transport.Input.AdvanceTo(read.Buffer.End);
        _time.Advance(Timeout);
        _connection.Beat();
        Assert.Equal(0, _connection.Aborts); // Not waiting for input: the client is not silent.

        _ = _connection.Transport.Input.ReadAsync();
        _time.Advance(Timeout + TimeSpan.FromSeconds(1));
        _connection.Beat();
        _connection.Beat();
        Assert.Equal(1, _connection.Aborts);
    }

    /// <summary>
    /// SignalR may be closing the connection on the same beat (its own client timeout): aborting its recycled request
    /// then throws, and nothing of that may escape into SignalR's scan of its connections.
    /// </summary>
    [Fact]
    public void ACutThatRacesTheConnectionsOwnCloseDoesNotEscapeTheHeartbeat()
    {
        _connection.Recycled = true;
        _ = _connection.Transport.Input.ReadAsync();
        _time.Advance(Timeout + TimeSpan.FromSeconds(1));

        _connection.Beat();

        Assert.Equal(1, _connection.Aborts);
    }

    private sealed class BeatenConnection : DefaultConnectionContext, IConnectionHeartbeatFeature
    {
        private readonly List<(Action<object> Callback, object State)> _beats = [];

        public BeatenConnection(IDuplexPipe transport)
            : base("c1", transport, new DuplexPipe(new Pipe().Reader, new Pipe().Writer)) =>
            Features.Set<IConnectionHeartbeatFeature>(this);

        public int Aborts { get; private set; }

        /// <summary>Whether the connection's request is already recycled, so that aborting it throws, as SignalR's does.</summary>
        public bool Recycled { get; set; }

        public void OnHeartbeat(Action<object> action, object state) => _beats.Add((action, state));

        public void Beat()
        {
            foreach (var (callback, state) in _beats)
            {
                callback(state);
            }
        }

        public override void Abort(ConnectionAbortedException abortReason)
        {
            Aborts++;
            if (Recycled)
            {
                throw new ObjectDisposedException("IFeatureCollection");
            }
        }
    }
}
