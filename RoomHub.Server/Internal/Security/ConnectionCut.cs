using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http.Connections.Features;
using Microsoft.AspNetCore.Http.Features;
using RoomHub.Server.Internal.WebSockets;

namespace RoomHub.Server.Internal.Security;

/// <summary>
/// Cuts a connection from a guard's own timer or write. SignalR may be closing the same connection at that moment (its
/// own client timeout, the client's close): its request is then already recycled, and aborting it throws
/// <see cref="ObjectDisposedException"/>, which would escape into SignalR's connection scan. A connection that is
/// already going needs no cut.
/// </summary>
internal static class ConnectionCut
{
    /// <param name="cutSocket">Also close the TCP connection under it at once, with no close frame or message.</param>
    public static void Abort(ConnectionContext connection, string why, bool cutSocket)
    {
        if (cutSocket)
        {
            CutSocket(connection.Features, why);
        }

        try
        {
            connection.Abort(new ConnectionAbortedException(why));
        }
        catch (ObjectDisposedException)
        {
        }
    }

    /// <summary>
    /// Closes the TCP connection under a hub connection at once: a legacy connection's own, a SignalR connection's by
    /// aborting the HTTP request it runs in.
    /// </summary>
    public static void CutSocket(IFeatureCollection features, string why)
    {
        try
        {
            if (features.Get<WebSocketConnectionContext>() is { } legacy)
            {
                legacy.CutSocket(why);
            }
            else
            {
                features.Get<IHttpContextFeature>()?.HttpContext?.Abort();
            }
        }
        catch (ObjectDisposedException)
        {
        }
    }
}
