using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.SignalR.Protocol;

namespace RoomHub.Server.Internal;

/// <summary>
/// Refuses a hub connection in the SignalR handshake itself: the client's start fails with the error, and nothing
/// reaches the hub (whose refusals from <c>OnConnectedAsync</c> SignalR logs as server errors, stack trace and all).
/// </summary>
internal static class HandshakeRefusal
{
    public static async Task RefuseAsync(ConnectionContext connection, string error, TimeSpan timeout)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(connection.ConnectionClosed);
        deadline.CancelAfter(timeout);
        var input = connection.Transport.Input;
        try
        {
            while (true)
            {
                var read = await input.ReadAsync(deadline.Token).ConfigureAwait(false);
                var buffer = read.Buffer;
                if (HandshakeProtocol.TryParseRequestMessage(ref buffer, out _))
                {
                    input.AdvanceTo(buffer.Start);
                    HandshakeProtocol.WriteResponseMessage(new HandshakeResponseMessage(error), connection.Transport.Output);
                    await connection.Transport.Output.FlushAsync(deadline.Token).ConfigureAwait(false);
                    return;
                }

                input.AdvanceTo(buffer.Start, buffer.End);
                if (read.IsCompleted)
                {
                    return;
                }
            }
        }
        catch (OperationCanceledException)
        {
            // The client never finished its handshake; the connection simply ends.
        }
    }
}
