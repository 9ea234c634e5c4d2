using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace RoomHub.Server.Internal.Security;

/// <summary>
/// Kestrel gives a new connection its keep-alive timeout (130 s) to send a first byte, and starts the request headers
/// timeout only then; nothing counts such a connection meanwhile. This cuts one that has sent nothing within
/// <see cref="RoomHubSecurityOptions.HandshakeTimeout"/>, so that the timeout holds from the connection's first moment.
/// </summary>
internal static class FirstByteTimeout
{
    public static void Use(ListenOptions listen, TimeSpan timeout) => listen.Use(next => connection => RunAsync(next, connection, timeout));

    private static async Task RunAsync(ConnectionDelegate next, ConnectionContext connection, TimeSpan timeout)
    {
        var input = connection.Transport.Input;
        using (var deadline = new CancellationTokenSource(timeout))
        {
            try
            {
                var read = await input.ReadAsync(deadline.Token).ConfigureAwait(false);

                // Nothing consumed nor examined: HTTP reads the same bytes at once.
                input.AdvanceTo(read.Buffer.Start);
            }
            catch (OperationCanceledException) when (deadline.IsCancellationRequested)
            {
                connection.Abort(new ConnectionAbortedException("Nothing was sent within the handshake timeout."));
                return;
            }
        }

        await next(connection).ConfigureAwait(false);
    }
}
