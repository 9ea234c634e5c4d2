using System.Net;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using RoomHub.Server;
using RoomHub.Server.Internal;
using StackExchange.Redis;

namespace RoomHub.Tests;

public sealed class ConfigurationTests
{
    [Fact]
    public void RedisUrlWithHostAndPortNamesThatEndpoint()
    {
        var options = RedisUrl.Parse("redis://cache.internal:6380");

        var endpoint = Assert.IsType<DnsEndPoint>(Assert.Single(options.EndPoints));
        Assert.Equal(("cache.internal", 6380), (endpoint.Host, endpoint.Port));
        Assert.False(options.Ssl);
        Assert.Null(options.Password);
        Assert.False(options.AbortOnConnectFail);
    }

    [Fact]
    public void RedisUrlWithoutPortUsesTheRedisDefault()
    {
        var endpoint = Assert.IsType<DnsEndPoint>(Assert.Single(RedisUrl.Parse("redis://localhost").EndPoints));
        Assert.Equal(6379, endpoint.Port);
    }

    [Fact]
    public void RedisUrlCarriesUserPasswordAndDatabase()
    {
        var options = RedisUrl.Parse("redis://default:p%40ss%3Aword@localhost:6379/3");

        Assert.Equal("default", options.User);
        Assert.Equal("p@ss:word", options.Password);
        Assert.Equal(3, options.DefaultDatabase);
    }

    [Fact]
    public void RedisUrlWithPasswordOnlyAndEmptyUser()
    {
        Assert.Equal("secret", RedisUrl.Parse("redis://secret@localhost").Password);
        var options = RedisUrl.Parse("redis://:secret@localhost");
        Assert.Null(options.User);
        Assert.Equal("secret", options.Password);
    }

    [Fact]
    public void RedissUrlTurnsOnTls()
    {
        var options = RedisUrl.Parse("rediss://user:pw@redis.example.com:6380");

        Assert.True(options.Ssl);
        Assert.Equal("redis.example.com", options.SslHost);
    }

    [Fact]
    public void RedisUrlWithIpv6Host()
    {
        var endpoint = Assert.Single(RedisUrl.Parse("redis://[::1]:6390").EndPoints);
        Assert.Equal(new IPEndPoint(IPAddress.IPv6Loopback, 6390), endpoint);
    }

    [Fact]
    public void StackExchangeConfigurationStringIsAcceptedAsItIs()
    {
        var options = RedisUrl.Parse("localhost:6379,password=secret,ssl=true,defaultDatabase=2");

        Assert.Equal("secret", options.Password);
        Assert.True(options.Ssl);
        Assert.Equal(2, options.DefaultDatabase);
        Assert.False(options.AbortOnConnectFail);
    }

    [Theory]
    [InlineData("redis://localhost/notanumber")]
    [InlineData("redis://")]
    [InlineData(",,,")]
    public void UnusableRedisConfigurationIsRefused(string value)
    {
        Assert.ThrowsAny<Exception>(() => RedisUrl.Parse(value));
    }

    [Fact]
    public void RedactedUrlHidesCredentials()
    {
        Assert.Equal("redis://***@host:6379", RedisUrl.Redact("redis://user:secret@host:6379"));
    }

    [Theory]
    [InlineData(null, null, "http://*:8080")]
    [InlineData("9000", null, "http://*:9000")]
    [InlineData(null, "3000", "http://*:3000")]
    [InlineData("9000", "3000", "http://*:9000")]
    public void PortVariablesChooseTheListeningPort(string? port, string? wsPort, string expected)
    {
        Assert.Equal(expected, ListenAddress.Resolve(Configuration(("PORT", port), ("WS_PORT", wsPort))));
    }

    [Theory]
    [InlineData("urls", "http://127.0.0.1:5000")]
    [InlineData("http_ports", "8081")]
    [InlineData("Kestrel:Endpoints:Http:Url", "http://0.0.0.0:5000")]
    public void ExplicitUrlsWinOverPort(string key, string value)
    {
        Assert.Null(ListenAddress.Resolve(Configuration((key, value), ("PORT", "9000"))));
    }

    [Theory]
    [InlineData("0")]
    [InlineData("65536")]
    [InlineData("eighty")]
    public void InvalidPortIsAClearStartupError(string port)
    {
        var error = Assert.Throws<InvalidOperationException>(() => ListenAddress.Resolve(Configuration(("PORT", port))));
        Assert.Contains("PORT", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("-00:00:05", "00:00:30")]
    [InlineData("00:00:15", "00:00:00")]
    [InlineData("00:00:15", "-00:00:01")]
    public void LegacyKeepAliveSettingsThatWouldFailEveryConnectionAreRefusedAtStart(string interval, string timeout)
    {
        var options = new Server.RoomHubOptions { Legacy = { KeepAliveInterval = TimeSpan.Parse(interval, System.Globalization.CultureInfo.InvariantCulture), KeepAliveTimeout = TimeSpan.Parse(timeout, System.Globalization.CultureInfo.InvariantCulture) } };

        var result = new RoomHubOptionsValidator().Validate(null, options);

        Assert.True(result.Failed);
        Assert.Contains("RoomHub:Legacy:KeepAlive", result.FailureMessage, StringComparison.Ordinal);
        Assert.True(new RoomHubOptionsValidator().Validate(null, new Server.RoomHubOptions { Legacy = { KeepAliveInterval = TimeSpan.Zero, KeepAliveTimeout = Timeout.InfiniteTimeSpan } }).Succeeded);
    }

    [Theory]
    [InlineData(0, false)]
    [InlineData(1, true)]
    [InlineData(100_000, true)]
    [InlineData(100_001, false)]
    public void HistoryLengthIsBetweenOneAndAHundredThousand(int maxLength, bool valid)
    {
        var result = new RoomHubOptionsValidator().Validate(null, new Server.RoomHubOptions { History = { MaxLength = maxLength } });

        Assert.Equal(valid, result.Succeeded);
        if (!valid)
        {
            Assert.Contains("RoomHub:History:MaxLength must be between 1 and 100000", result.FailureMessage, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void PinnedStackExchangeRedisIsAVersion2Release()
    {
        // The SignalR backplane is compiled against StackExchange.Redis 2.x; a 3.x pin fails only at run time.
        Assert.Equal(2, typeof(ConnectionMultiplexer).Assembly.GetName().Version!.Major);
    }

    private static IConfiguration Configuration(params (string Key, string? Value)[] values) =>
        new ConfigurationBuilder().AddInMemoryCollection(values.Select(v => KeyValuePair.Create(v.Key, v.Value))).Build();

    [Theory]
    [InlineData(null, 8)]
    [InlineData("20", 20)]
    public void TheServersStopAfterADrainFitsTheTerminationBudgetUnlessConfigured(string? configured, int seconds)
    {
        var builder = Microsoft.AspNetCore.Builder.WebApplication.CreateBuilder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["shutdownTimeoutSeconds"] = configured });
        builder.AddRoomHub();
        using var services = builder.Services.BuildServiceProvider();

        var host = services.GetRequiredService<Microsoft.Extensions.Options.IOptions<Microsoft.Extensions.Hosting.HostOptions>>().Value;

        Assert.Equal(TimeSpan.FromSeconds(seconds), host.ShutdownTimeout);
    }
}
