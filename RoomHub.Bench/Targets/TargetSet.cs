using System.Net.Sockets;
using System.Reflection;
using System.Text;

namespace RoomHub.Bench.Targets;

/// <summary>
/// What a run measures: the URLs it connects to and the processes it started for them (RoomHub instances or bare
/// servers, and redis-server), which it samples for CPU and RSS and kills when the run ends.
/// </summary>
internal sealed class TargetSet : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);

    private readonly List<ChildProcess> _servers = [];

    public List<Uri> Urls { get; } = [];

    public IReadOnlyList<ChildProcess> Servers => _servers;

    public ChildProcess? Redis { get; private set; }

    public string Description { get; private set; } = "";

    /// <summary>A note for each started process that has died.</summary>
    public IEnumerable<string> ExitReports() =>
        _servers.Append(Redis).OfType<ChildProcess>().Select(p => p.ExitReport()).OfType<string>();

    public static async Task<TargetSet> StartAsync(BenchOptions options, Action<string> log, CancellationToken cancellationToken)
    {
        var set = new TargetSet();
        try
        {
            if (options.Urls.Count > 0)
            {
                set.Urls.AddRange(options.Urls);
                set._servers.AddRange(options.Pids.Select(ChildProcess.Attach));
                set.Description = "existing servers: " + string.Join(", ", options.Urls);
                return set;
            }

            string? redisUrl = null;
            if (!options.Bare && (options.Redis || options.Instances > 1))
            {
                var (redis, port) = await StartOnFreePortAsync(
                    p => ChildProcess.Start("redis-server", "redis-server",
                        ["--port", p.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--protected-mode", "no", "--loglevel", "warning"], p),
                    RedisPingAsync, cancellationToken).ConfigureAwait(false);
                set.Redis = redis;
                redisUrl = $"redis://127.0.0.1:{port}";
            }

            if (options.Stock)
            {
                var environment = redisUrl is null ? null : new Dictionary<string, string> { ["REDIS_URL"] = redisUrl };
                await set.StartComparisonServersAsync("stock-server", options.Instances, "http", environment, cancellationToken).ConfigureAwait(false);
                set.Description = $"{options.Instances} stock SignalR hub(s)" + (redisUrl is null ? " (in memory)" : " over one redis-server");
                log($"started {set.Description}: {string.Join(", ", set.Urls)}");
                return set;
            }

            if (options.Bare)
            {
                await set.StartComparisonServersAsync("bare-server", options.Instances, "ws", environment: null, cancellationToken).ConfigureAwait(false);
                set.Description = $"{options.Instances} bare Kestrel broadcast server(s)";
                return set;
            }

            var dll = options.ServerDll ?? BuiltServerDll();
            if (!File.Exists(dll))
            {
                throw new InvalidOperationException($"RoomHub.Server.dll not found at {dll}: build the solution first, or pass --server-dll.");
            }

            for (var i = 0; i < options.Instances; i++)
            {
                var (server, port) = await StartOnFreePortAsync(p =>
                {
                    var environment = new Dictionary<string, string>
                    {
                        ["ASPNETCORE_URLS"] = $"http://127.0.0.1:{p}",
                        ["RoomHub__ChannelPrefix"] = "bench",
                        ["Logging__LogLevel__Default"] = "Warning",
                        ["Logging__LogLevel__Microsoft.AspNetCore"] = "Warning",

                        // A benchmark sends from few connections and addresses far beyond what the per-connection and
                        // per-address protections allow a real client; it measures the server, not those limits.
                        ["RoomHub__Security__SendsPerSecond"] = "10000000",
                        ["RoomHub__Security__SendBurst"] = "10000000",
                        ["RoomHub__Security__SubscriptionsPerSecond"] = "10000000",
                        ["RoomHub__Security__SubscriptionBurst"] = "10000000",
                        ["RoomHub__Security__MaxConnections"] = "1000000",
                        ["RoomHub__Security__MaxConnectionsPerAddress"] = "1000000",
                    };
                    if (redisUrl is not null)
                    {
                        environment["REDIS_URL"] = redisUrl;
                    }

                    // Run from its own directory, as deployed: its appsettings.json applies (the environment above overrides it).
                    return ChildProcess.Start($"roomhub-{i}", DotNet(), [dll], p, environment, Path.GetDirectoryName(Path.GetFullPath(dll)));
                }, HealthyAsync, cancellationToken).ConfigureAwait(false);
                set._servers.Add(server);
                set.Urls.Add(new Uri($"http://127.0.0.1:{port}/"));
            }

            set.Description = $"{options.Instances} RoomHub instance(s)" + (redisUrl is null ? " (embedded, no Redis)" : " over one redis-server");
            log($"started {set.Description}: {string.Join(", ", set.Urls)}");
            return set;
        }
        catch
        {
            await set.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Starts <paramref name="count"/> of the bench's own comparison servers (<c>RoomHub.Bench bare-server</c> or
    /// <c>stock-server</c>) on free loopback ports, as child processes sampled like the RoomHub instances.
    /// </summary>
    private async Task StartComparisonServersAsync(string scenario, int count, string scheme, IDictionary<string, string>? environment, CancellationToken cancellationToken)
    {
        var self = typeof(TargetSet).Assembly.Location;
        for (var i = 0; i < count; i++)
        {
            var name = $"{scenario}-{i}";
            var (server, port) = await StartOnFreePortAsync(
                p => ChildProcess.Start(name, DotNet(), [self, scenario, "--port", p.ToString(System.Globalization.CultureInfo.InvariantCulture)], p, environment),
                TcpOpenAsync, cancellationToken).ConfigureAwait(false);
            _servers.Add(server);
            Urls.Add(new Uri($"{scheme}://127.0.0.1:{port}/"));
        }
    }

    /// <summary>
    /// Starts a process on a port that was free a moment ago; another process may take it first, so a start that
    /// dies before it is ready is retried on a new port.
    /// </summary>
    private static async Task<(ChildProcess Process, int Port)> StartOnFreePortAsync(Func<int, ChildProcess> start, Func<int, Task<bool>> ready, CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            var port = ChildProcess.FreePort();
            var process = start(port);
            try
            {
                await process.WaitReadyAsync(() => ready(port), StartTimeout, cancellationToken).ConfigureAwait(false);
                return (process, port);
            }
            catch (InvalidOperationException) when (attempt < 3 && process.HasExited)
            {
                await process.DisposeAsync().ConfigureAwait(false);
            }
            catch
            {
                await process.DisposeAsync().ConfigureAwait(false);
                throw;
            }
        }
    }

    /// <summary>The server dll built beside the bench (its path is baked in at build time; see the project file).</summary>
    public static string BuiltServerDll() =>
        typeof(TargetSet).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().FirstOrDefault(a => a.Key == "RoomHubServerDll")?.Value
        ?? throw new InvalidOperationException("The bench was built without the server's path.");

    private static string DotNet() =>
        Environment.ProcessPath is { } path && Path.GetFileNameWithoutExtension(path) == "dotnet" ? path : "dotnet";

    private static async Task<bool> HealthyAsync(int port)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        try
        {
            return (await http.GetAsync(new Uri($"http://127.0.0.1:{port}/health")).ConfigureAwait(false)).IsSuccessStatusCode;
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            return false;
        }
    }

    private static async Task<bool> TcpOpenAsync(int port)
    {
        try
        {
            using var client = new TcpClient();
            await client.ConnectAsync("127.0.0.1", port).ConfigureAwait(false);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private static async Task<bool> RedisPingAsync(int port)
    {
        try
        {
            using var client = new TcpClient();
            await client.ConnectAsync("127.0.0.1", port).ConfigureAwait(false);
            var stream = client.GetStream();
            await stream.WriteAsync("PING\r\n"u8.ToArray()).ConfigureAwait(false);
            var buffer = new byte[16];
            var read = await stream.ReadAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(2)).ConfigureAwait(false);
            return Encoding.ASCII.GetString(buffer, 0, read).StartsWith("+PONG", StringComparison.Ordinal);
        }
        catch (Exception ex) when (ex is SocketException or IOException or TimeoutException)
        {
            return false;
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var server in _servers)
        {
            await server.DisposeAsync().ConfigureAwait(false);
        }

        if (Redis is not null)
        {
            await Redis.DisposeAsync().ConfigureAwait(false);
        }
    }
}
