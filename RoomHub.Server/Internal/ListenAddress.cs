using System.Globalization;

namespace RoomHub.Server.Internal;

/// <summary>
/// Chooses the listening URL when none is configured explicitly, honouring the <c>PORT</c> and <c>WS_PORT</c>
/// variables of the deployments RoomHub replaces.
/// </summary>
internal static class ListenAddress
{
    public const int DefaultPort = 8080;

    /// <summary>
    /// Returns the URL to listen on, or <see langword="null"/> when the configuration already says where to listen
    /// (<c>urls</c>, <c>ASPNETCORE_URLS</c>, <c>ASPNETCORE_HTTP_PORTS</c> or a <c>Kestrel:Endpoints</c> section).
    /// </summary>
    public static string? Resolve(IConfiguration configuration)
    {
        if (!string.IsNullOrWhiteSpace(configuration["urls"]) ||
            !string.IsNullOrWhiteSpace(configuration["http_ports"]) ||
            !string.IsNullOrWhiteSpace(configuration["https_ports"]) ||
            configuration.GetSection("Kestrel:Endpoints").GetChildren().Any())
        {
            return null;
        }

        var port = ParsePort(configuration, "PORT") ?? ParsePort(configuration, "WS_PORT") ?? DefaultPort;
        return string.Create(CultureInfo.InvariantCulture, $"http://*:{port}");
    }

    private static int? ParsePort(IConfiguration configuration, string key)
    {
        var value = configuration[key];
        if (string.IsNullOrWhiteSpace(value))
        {
            return null;
        }

        if (!int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port is < 1 or > 65535)
        {
            throw new InvalidOperationException($"{key}='{value}' is not a TCP port (1-65535).");
        }

        return port;
    }
}
