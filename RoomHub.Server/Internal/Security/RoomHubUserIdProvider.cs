using System.Security.Claims;
using Microsoft.AspNetCore.SignalR;

namespace RoomHub.Server.Internal.Security;

/// <summary>
/// Who a connection belongs to: the authenticated identity's name (the token's <c>sub</c>, see
/// <c>RoomHubSecurityExtensions.ConfigureJwt</c>), else the standard name identifier claim. SignalR's default reads only
/// the latter, which inbound claims left unmapped never carry: every user would be anonymous to sessions and presence.
/// </summary>
internal sealed class RoomHubUserIdProvider : IUserIdProvider
{
    public string? GetUserId(HubConnectionContext connection) => UserOf(connection.User);

    public static string? UserOf(ClaimsPrincipal? principal) =>
        principal?.Identity is { IsAuthenticated: true, Name: { Length: > 0 } name }
            ? name
            : principal?.FindFirst(ClaimTypes.NameIdentifier)?.Value;
}
