using System.Security.Claims;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Options;
using RoomHub.Contracts;

namespace RoomHub.Server.Internal.Security;

/// <summary>
/// Decides who may join and send to which room, from <see cref="RoomHubSecurityOptions.Rooms"/>. The first rule whose
/// pattern matches the room and whose actions include the call decides; a room no rule matches is open.
/// <see cref="RoomCore"/> asks it, so every transport is held to the same rules.
/// </summary>
internal sealed class RoomAuthorizer
{
    private static readonly Regex Placeholder = new(@"\{([^{}]+)\}", RegexOptions.CultureInvariant);
    private readonly CompiledRule[] _rules;

    public RoomAuthorizer(IOptions<RoomHubSecurityOptions> options)
    {
        _rules = options.Value.Rooms.Select(Compile).ToArray();
    }

    public bool HasRules => _rules.Length > 0;

    /// <summary>Throws <c>FORBIDDEN</c> unless <paramref name="user"/> may do <paramref name="action"/> in <paramref name="room"/>.</summary>
    public void Authorize(ClaimsPrincipal? user, string room, RoomActions action)
    {
        foreach (var rule in _rules)
        {
            if ((rule.Source.Actions & action) == 0 || !rule.Shape.IsMatch(room))
            {
                continue;
            }

            if (!rule.Allows(user, room))
            {
                throw RoomRules.Error(RoomErrorCodes.Forbidden, action == RoomActions.Subscribe
                    ? $"You may not join the room \"{room}\"."
                    : $"You may not send to the room \"{room}\".");
            }

            return;
        }
    }

    internal static CompiledRule Compile(RoomAccessRule rule)
    {
        var claims = Placeholder.Matches(rule.Pattern).Select(m => m.Groups[1].Value).Distinct(StringComparer.Ordinal).ToArray();
        var shape = new Regex(ToRegex(rule.Pattern, _ => ".*"), RegexOptions.CultureInvariant | RegexOptions.NonBacktracking);
        return new CompiledRule(rule, shape, claims);
    }

    /// <summary>Turns a pattern into an anchored regular expression; placeholders become what <paramref name="placeholder"/> says.</summary>
    private static string ToRegex(string pattern, Func<string, string> placeholder)
    {
        var regex = new StringBuilder("^");
        var i = 0;
        while (i < pattern.Length)
        {
            var c = pattern[i];
            if (c == '*')
            {
                regex.Append(".*");
                i++;
            }
            else if (c == '{' && pattern.IndexOf('}', i) is var end and > 0)
            {
                regex.Append(placeholder(pattern[(i + 1)..end]));
                i = end + 1;
            }
            else
            {
                regex.Append(Regex.Escape(c.ToString()));
                i++;
            }
        }

        return regex.Append('$').ToString();
    }

    internal sealed record CompiledRule(RoomAccessRule Source, Regex Shape, string[] Claims)
    {
        public bool Allows(ClaimsPrincipal? user, string room)
        {
            if (Source.Deny)
            {
                return false;
            }

            var authenticated = user?.Identity?.IsAuthenticated == true;
            if (!authenticated)
            {
                return !Source.RequireAuthenticatedUser && Source.RequireClaim is null && Claims.Length == 0;
            }

            if (Source.RequireClaim is { } required)
            {
                var equals = required.IndexOf('=', StringComparison.Ordinal);
                var present = equals < 0
                    ? user!.HasClaim(c => c.Type == required)
                    : user!.HasClaim(required[..equals], required[(equals + 1)..]);
                if (!present)
                {
                    return false;
                }
            }

            if (Claims.Length == 0)
            {
                return true;
            }

            // The caller's own claim values, escaped, stand in for the placeholders: the room must then match exactly.
            string? missing = null;
            var own = ToRegex(Source.Pattern, claim =>
            {
                var value = user!.FindFirst(claim)?.Value;
                if (string.IsNullOrEmpty(value))
                {
                    missing = claim;
                    return "(?!)";
                }

                return Regex.Escape(value);
            });
            return missing is null && Regex.IsMatch(room, own, RegexOptions.CultureInvariant | RegexOptions.NonBacktracking);
        }
    }
}
