using Microsoft.AspNetCore.Connections;

namespace RoomHub.Server.Internal.Security;

/// <summary>
/// Kestrel gives a new connection its keep-alive timeout (130 s) to send a first byte, and starts the request headers
/// timeout only then; nothing counts such a connection meanwhile. This cuts one that has sent nothing within
/// <see cref="RoomHubSecurityOptions.HandshakeTimeout"/>, so that the timeout holds from the connection's first moment.
/// </summary>
internal static class FirstByteTimeout
{
    /// <summary>
    /// Whether a first byte came in time; if not, the connection has been cut (or has gone). Its own method, so that what
    /// the wait needs is let go once it is over: the frame of the connection middleware that awaits it lives as long as
    /// the connection.
    /// </summary>
    public static async Task<bool> ArrivedAsync(ConnectionContext connection, TimeSpan timeout, CancellationToken stopping)
    {
        var input = connection.Transport.Input;

        // A connection that has sent nothing ends when the instance stops, not at its timeout: Kestrel waits for every
        // connection before it stops. (The instance's token rather than the connection's own request to close: a wait
        // registered on that would leave the registration's memory with the connection for its whole life.)
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        deadline.CancelAfter(timeout);
        try
        {
            var read = await input.ReadAsync(deadline.Token).ConfigureAwait(false);

            // Nothing consumed nor examined: HTTP reads the same bytes at once.
            input.AdvanceTo(read.Buffer.Start);
            return true;
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested)
        {
            connection.Abort(new ConnectionAbortedException("Nothing was sent within the handshake timeout."));
            return false;
        }
        catch (Exception ex) when (ex is ConnectionResetException or ConnectionAbortedException or IOException)
        {
            // Gone before it sent anything, which HTTP does not log either.
            return false;
        }
    }
}
