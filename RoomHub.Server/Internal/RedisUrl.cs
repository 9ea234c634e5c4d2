using System.Globalization;
using StackExchange.Redis;

namespace RoomHub.Server.Internal;

/// <summary>
/// Turns the <c>REDIS_URL</c> forms used by the deployments RoomHub replaces into StackExchange.Redis options:
/// <c>redis://[user:password@]host[:port][/db]</c>, <c>rediss://…</c> (TLS), or a plain StackExchange.Redis
/// configuration string such as <c>localhost:6379,password=…</c>.
/// </summary>
internal static class RedisUrl
{
    private const int DefaultPort = 6379;

    public static ConfigurationOptions Parse(string value)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(value);
        value = value.Trim();

        var options = IsUrl(value) ? ParseUrl(value) : ConfigurationOptions.Parse(value);
        if (options.EndPoints.Count == 0)
        {
            throw new FormatException("The Redis configuration names no endpoint.");
        }

        // A server that starts before Redis, or outlives a Redis restart, must keep trying instead of failing.
        options.AbortOnConnectFail = false;
        return options;
    }

    private static bool IsUrl(string value) =>
        value.StartsWith("redis://", StringComparison.OrdinalIgnoreCase) ||
        value.StartsWith("rediss://", StringComparison.OrdinalIgnoreCase);

    private static ConfigurationOptions ParseUrl(string value)
    {
        if (!Uri.TryCreate(value, UriKind.Absolute, out var uri) || string.IsNullOrEmpty(uri.Host))
        {
            throw new FormatException($"'{Redact(value)}' is not a valid redis:// URL.");
        }

        var options = new ConfigurationOptions
        {
            Ssl = uri.Scheme.Equals("rediss", StringComparison.OrdinalIgnoreCase),
        };

        var host = uri.Host.Trim('[', ']');
        var port = uri.IsDefaultPort || uri.Port < 0 ? DefaultPort : uri.Port;
        options.EndPoints.Add(host, port);
        if (options.Ssl)
        {
            options.SslHost = host;
        }

        if (!string.IsNullOrEmpty(uri.UserInfo))
        {
            var separator = uri.UserInfo.IndexOf(':', StringComparison.Ordinal);
            if (separator < 0)
            {
                // redis://password@host is what several clients accept for a password-only server.
                options.Password = Uri.UnescapeDataString(uri.UserInfo);
            }
            else
            {
                var user = Uri.UnescapeDataString(uri.UserInfo[..separator]);
                options.User = user.Length == 0 ? null : user;
                options.Password = Uri.UnescapeDataString(uri.UserInfo[(separator + 1)..]);
            }
        }

        var path = uri.AbsolutePath.Trim('/');
        if (path.Length > 0)
        {
            if (!int.TryParse(path, NumberStyles.None, CultureInfo.InvariantCulture, out var database))
            {
                throw new FormatException($"'{Redact(value)}' names database '{path}', which is not a number.");
            }

            options.DefaultDatabase = database;
        }

        return options;
    }

    /// <summary>Removes the credentials from a URL so that it can appear in an error message or a log.</summary>
    public static string Redact(string value)
    {
        var at = value.IndexOf('@', StringComparison.Ordinal);
        var scheme = value.IndexOf("://", StringComparison.Ordinal);
        if (scheme >= 0 && at > scheme)
        {
            return string.Concat(value.AsSpan(0, scheme + 3), "***", value.AsSpan(at));
        }

        return value.Contains("password", StringComparison.OrdinalIgnoreCase) ? "(a configuration string with a password)" : value;
    }
}
