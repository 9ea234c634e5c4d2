using System.Security.Claims;
using System.Text;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace RoomHub.Tests.Infrastructure;

/// <summary>Mints HS256 JWTs the way an identity provider would, for servers configured with <see cref="SigningKey"/>.</summary>
public static class Tokens
{
    public const string SigningKey = "roomhub-test-signing-key-of-at-least-32-bytes";
    public const string Issuer = "https://issuer.test";
    public const string Audience = "roomhub";

    public static Dictionary<string, string?> Settings(bool require = false) => new()
    {
        ["RoomHub:Security:Authentication:SigningKey"] = SigningKey,
        ["RoomHub:Security:Authentication:Issuer"] = Issuer,
        ["RoomHub:Security:Authentication:Audience"] = Audience,
        ["RoomHub:Security:Authentication:RequireAuthenticatedUser"] = require ? "true" : "false",
        ["RoomHub:Security:Authentication:ClockSkew"] = "00:00:00",
    };

    public static string Mint(string subject, TimeSpan? lifetime = null, string key = SigningKey, string audience = Audience, params (string Type, string Value)[] claims)
    {
        var now = DateTime.UtcNow;
        var expires = now + (lifetime ?? TimeSpan.FromHours(1));
        var identity = new ClaimsIdentity([new Claim("sub", subject), .. claims.Select(c => new Claim(c.Type, c.Value))]);
        return new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Subject = identity,
            Issuer = Issuer,
            Audience = audience,
            IssuedAt = expires < now ? expires.AddMinutes(-10) : now,
            NotBefore = expires < now ? expires.AddMinutes(-10) : now,
            Expires = expires,
            SigningCredentials = new SigningCredentials(new SymmetricSecurityKey(Encoding.UTF8.GetBytes(key)), SecurityAlgorithms.HmacSha256),
        });
    }
}
