using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http.Connections.Features;

namespace RoomHub.Server.Internal.Security;

/// <summary>
/// Cuts a connection from a guard's own timer or write. SignalR may be closing the same connection at that moment (its
/// own client timeout, the client's close): its request is then already recycled, and aborting it throws
/// <see cref="ObjectDisposedException"/>, which would escape into SignalR's connection scan. A connection that is
/// already going needs no cut.
/// </summary>
internal static class ConnectionCut
{
    /// <param name="cutSocket">Also abort the HTTP request under the connection, which closes its TCP connection at once.</param>
    public static void Abort(ConnectionContext connection, string why, bool cutSocket)
    {
        if (cutSocket)
        {
            try
            {
                connection.Features.Get<IHttpContextFeature>()?.HttpContext?.Abort();
            }
            catch (ObjectDisposedException)
            {
            }
        }

        try
        {
            connection.Abort(new ConnectionAbortedException(why));
        }
        catch (ObjectDisposedException)
        {
        }
    }
}
