using RoomHub.Tests.Infrastructure;

namespace RoomHub.Tests.Security;

public sealed class OriginTests
{
    [Theory]
    [InlineData("/hubs/rooms")]
    [InlineData("/")]
    [InlineData("/notification")]
    public async Task AForgedBrowserOriginGets403AtTheUpgradeAndAnAllowedOneConnects(string path)
    {
        await using var server = await RoomHubInstance.StartAsync(new Dictionary<string, string?>
        {
            ["RoomHub:Security:AllowedOrigins:0"] = "https://app.example.com",
        });

        Assert.Equal(403, await SecureClients.UpgradeStatusAsync(server, path, Origin("https://evil.example.net")));
        Assert.Equal(403, await SecureClients.UpgradeStatusAsync(server, path, Origin("https://app.example.com.evil.example.net")));
        Assert.Equal(101, await SecureClients.UpgradeStatusAsync(server, path, Origin("https://app.example.com")));
        Assert.Equal(101, await SecureClients.UpgradeStatusAsync(server, path, Origin(server.BaseAddress.GetLeftPart(UriPartial.Authority))));
        Assert.Equal(101, await SecureClients.UpgradeStatusAsync(server, path));
    }

    [Fact]
    public async Task ByDefaultOnlySameOriginPagesAndNonBrowserClientsConnect()
    {
        await using var server = await RoomHubInstance.StartAsync(new Dictionary<string, string?>());

        Assert.Equal(403, await SecureClients.UpgradeStatusAsync(server, "/hubs/rooms", Origin("https://evil.example.net")));
        Assert.Equal(403, await SecureClients.UpgradeStatusAsync(server, "/", Origin("null")));
        Assert.Equal(101, await SecureClients.UpgradeStatusAsync(server, "/", Origin(server.BaseAddress.GetLeftPart(UriPartial.Authority))));
        Assert.Equal(101, await SecureClients.UpgradeStatusAsync(server, "/"));
    }

    [Fact]
    public async Task RequestsWithoutOriginCanBeRefused()
    {
        await using var server = await RoomHubInstance.StartAsync(new Dictionary<string, string?>
        {
            ["RoomHub:Security:AllowRequestsWithoutOrigin"] = "false",
        });

        Assert.Equal(403, await SecureClients.UpgradeStatusAsync(server, "/hubs/rooms"));
        Assert.Equal(403, await SecureClients.UpgradeStatusAsync(server, "/"));
        Assert.Equal(101, await SecureClients.UpgradeStatusAsync(server, "/", Origin(server.BaseAddress.GetLeftPart(UriPartial.Authority))));
    }

    private static Dictionary<string, string> Origin(string origin) => new() { ["Origin"] = origin };
}
