using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace RoomHub.Tests.Infrastructure;

/// <summary>
/// A minimal TCP load balancer on loopback: every new connection goes to the current target; a test moves the target
/// when an instance dies, as a real balancer's health check would. <see cref="Hold"/> cuts the link, as a network
/// partition would, until <see cref="Release"/>.
/// </summary>
public sealed class TcpForwarder : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;
    private readonly ConcurrentDictionary<TcpClient, byte> _open = new();
    private volatile int _targetPort;
    private volatile bool _held;

    public TcpForwarder(int targetPort)
    {
        _targetPort = targetPort;
        _listener.Start();
        _accepting = AcceptAsync();
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    public Uri BaseAddress => new($"http://127.0.0.1:{Port}/");

    public void Retarget(int targetPort) => _targetPort = targetPort;

    /// <summary>Cuts every forwarded connection, and every new one at once, until <see cref="Release"/>.</summary>
    public void Hold()
    {
        _held = true;
        foreach (var client in _open.Keys)
        {
            client.Dispose();
        }
    }

    public void Release() => _held = false;

    private async Task AcceptAsync()
    {
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                var client = await _listener.AcceptTcpClientAsync(_stop.Token);
                _ = ForwardAsync(client);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException)
        {
        }
    }

    private async Task ForwardAsync(TcpClient client)
    {
        using (client)
        using (var upstream = new TcpClient())
        {
            if (_held)
            {
                return;
            }

            _open.TryAdd(client, 0);
            try
            {
                await upstream.ConnectAsync(IPAddress.Loopback, _targetPort, _stop.Token);
                var a = client.GetStream();
                var b = upstream.GetStream();
                await Task.WhenAny(a.CopyToAsync(b, _stop.Token), b.CopyToAsync(a, _stop.Token));
            }
            catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
            {
            }
            finally
            {
                _open.TryRemove(client, out _);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        await _accepting;
        _stop.Dispose();
    }
}
