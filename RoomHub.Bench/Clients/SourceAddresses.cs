using System.Net;
using System.Net.Sockets;

namespace RoomHub.Bench.Clients;

/// <summary>
/// Spreads connections over several loopback source addresses (127.0.0.1, 127.0.0.2, …): one source address has
/// only the ephemeral port range (~28k ports) to connect from, so many more idle connections need more addresses.
/// Each address gets one <see cref="HttpMessageInvoker"/> whose socket is bound to it before connecting, and whose
/// connections read ahead (<see cref="ReadAheadStream"/>).
/// </summary>
internal sealed class SourceAddresses : IDisposable
{
    private readonly HttpMessageInvoker[] _invokers;

    public SourceAddresses(int count)
    {
        _invokers = new HttpMessageInvoker[Math.Max(1, count)];
        for (var i = 0; i < _invokers.Length; i++)
        {
            var local = new IPAddress([127, 0, 0, (byte)(1 + i)]);
            _invokers[i] = new HttpMessageInvoker(new SocketsHttpHandler
            {
                ConnectCallback = async (context, cancellationToken) =>
                {
                    var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                    try
                    {
                        socket.Bind(new IPEndPoint(local, 0));
                        await socket.ConnectAsync(context.DnsEndPoint, cancellationToken).ConfigureAwait(false);
                        return new ReadAheadStream(new NetworkStream(socket, ownsSocket: true));
                    }
                    catch
                    {
                        socket.Dispose();
                        throw;
                    }
                },
            });
        }
    }

    public int Count => _invokers.Length;

    /// <summary>Addresses needed for <paramref name="connections"/> connections, at 25k per address.</summary>
    public static int NeededFor(int connections) => Math.Clamp((connections + 24_999) / 25_000, 1, 254);

    public HttpMessageInvoker For(long connectionIndex) => _invokers[connectionIndex % _invokers.Length];

    public void Dispose()
    {
        foreach (var invoker in _invokers)
        {
            invoker.Dispose();
        }
    }
}
