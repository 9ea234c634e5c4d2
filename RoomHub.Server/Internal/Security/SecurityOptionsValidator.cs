using System.Text;
using Microsoft.Extensions.Options;

namespace RoomHub.Server.Internal.Security;

internal sealed class SecurityOptionsValidator(IOptions<RoomHubOptions> roomHub) : IValidateOptions<RoomHubSecurityOptions>
{
    private const string Section = RoomHubSecurityOptions.SectionName;

    public ValidateOptionsResult Validate(string? name, RoomHubSecurityOptions options)
    {
        var failures = new List<string>();
        var auth = options.Authentication;

        if (!string.IsNullOrWhiteSpace(auth.SigningKey) && Encoding.UTF8.GetByteCount(auth.SigningKey) < 32)
        {
            failures.Add($"{Section}:Authentication:SigningKey must be at least 32 bytes long.");
        }

        if (!string.IsNullOrWhiteSpace(auth.Authority))
        {
            if (!Uri.TryCreate(auth.Authority, UriKind.Absolute, out var authority) || (authority.Scheme != Uri.UriSchemeHttps && !auth.AllowHttpMetadata))
            {
                failures.Add($"{Section}:Authentication:Authority must be an https:// URL (or set AllowHttpMetadata for development).");
            }

            if (string.IsNullOrWhiteSpace(auth.Audience))
            {
                failures.Add($"{Section}:Authentication:Audience is required with an Authority.");
            }
        }

        if (auth.RequireAuthenticatedUser && !auth.Enabled)
        {
            failures.Add($"{Section}:Authentication:RequireAuthenticatedUser needs an Authority or a SigningKey to check tokens with.");
        }

        foreach (var origin in options.AllowedOrigins)
        {
            if (origin != "*" && (!Uri.TryCreate(origin, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https") || uri.AbsolutePath != "/"))
            {
                failures.Add($"{Section}:AllowedOrigins: \"{origin}\" is not an origin (scheme://host[:port]) or *.");
            }
        }

        for (var i = 0; i < options.Rooms.Count; i++)
        {
            var rule = options.Rooms[i];
            if (string.IsNullOrWhiteSpace(rule.Pattern))
            {
                failures.Add($"{Section}:Rooms:{i}:Pattern is required.");
            }

            if (rule.Actions == RoomActions.None)
            {
                failures.Add($"{Section}:Rooms:{i}:Actions must name Subscribe, Publish or both.");
            }

            if (rule.RequireClaim is { } claim && (claim.Length == 0 || claim[0] == '='))
            {
                failures.Add($"{Section}:Rooms:{i}:RequireClaim must be \"type\" or \"type=value\".");
            }

            if (!auth.Enabled && (rule.RequireAuthenticatedUser || rule.RequireClaim is not null || rule.Pattern.Contains('{', StringComparison.Ordinal)))
            {
                failures.Add($"{Section}:Rooms:{i} needs authenticated users, but no Authentication is configured.");
            }
        }

        Positive(failures, nameof(options.SendsPerSecond), options.SendsPerSecond);
        Positive(failures, nameof(options.SendBurst), options.SendBurst);
        Positive(failures, nameof(options.SubscriptionsPerSecond), options.SubscriptionsPerSecond);
        Positive(failures, nameof(options.SubscriptionBurst), options.SubscriptionBurst);
        Positive(failures, nameof(options.MaxRoomsPerConnection), options.MaxRoomsPerConnection);
        Positive(failures, nameof(options.MaxConnections), options.MaxConnections);
        Positive(failures, nameof(options.MaxConnectionsPerAddress), options.MaxConnectionsPerAddress);

        // A queue that cannot hold two of the largest messages would drop healthy clients on every big message.
        var minimumBuffer = 2L * roomHub.Value.MaxMessageBytes + 1024;
        if (options.MaxOutboundBufferBytes < minimumBuffer)
        {
            failures.Add($"{Section}:MaxOutboundBufferBytes must be at least twice RoomHub:MaxMessageBytes plus 1 KiB ({minimumBuffer}); it is {options.MaxOutboundBufferBytes}.");
        }

        foreach (var (setting, value) in new[] { (nameof(options.HandshakeTimeout), options.HandshakeTimeout), (nameof(options.ClientTimeout), options.ClientTimeout), (nameof(options.FrameTimeout), options.FrameTimeout), ("Authentication:ClockSkew", auth.ClockSkew + TimeSpan.FromTicks(1)) })
        {
            if (value <= TimeSpan.Zero)
            {
                failures.Add($"{Section}:{setting} must be positive.");
            }
        }

        if (options.SlowConsumerTimeout < TimeSpan.FromSeconds(1) || options.SlowConsumerTimeout > TimeSpan.FromDays(1))
        {
            failures.Add($"{Section}:SlowConsumerTimeout must be between a second and a day; it is {options.SlowConsumerTimeout}.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    private static void Positive(List<string> failures, string setting, int value)
    {
        if (value < 1)
        {
            failures.Add($"{Section}:{setting} must be at least 1; it is {value}.");
        }
    }
}
