using System.Net;
using System.Net.Sockets;

namespace RoomHub.Tests.Infrastructure;

/// <summary>
/// <c>deploy/local-cluster.sh</c> driven from a test: a private redis-server, N RoomHub processes and a real haproxy on
/// loopback, with its pids and logs in a directory of its own. Disposing runs <c>down</c>.
/// </summary>
internal sealed class LocalCluster : IAsyncDisposable
{
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromMinutes(3);

    private LocalCluster(int instances, int port, string directory)
    {
        Instances = instances;
        Port = port;
        Directory = directory;
    }

    public int Instances { get; }

    /// <summary>The load balancer's port; instance K listens on Port + K.</summary>
    public int Port { get; }

    public string Directory { get; }

    public Uri HubUrl => new($"http://127.0.0.1:{Port}/hubs/rooms");

    /// <summary>Settings every instance gets (as environment variables), e.g. a short drain for tests.</summary>
    public IDictionary<string, string> InstanceEnvironment { get; private init; } = new Dictionary<string, string>();

    public static async Task<LocalCluster> UpAsync(int instances, IDictionary<string, string>? environment = null)
    {
        RequiredTool.Find("haproxy", "sudo apt-get install -y haproxy");
        var directory = System.IO.Directory.CreateTempSubdirectory("roomhub-cluster-").FullName;
        var port = FreePortBlock(instances + 1);
        var cluster = new LocalCluster(instances, port, directory) { InstanceEnvironment = environment ?? new Dictionary<string, string>() };
        var result = await cluster.RunAsync("--instances", instances.ToString(), "--port", port.ToString(), "--redis-port", FreePort.Next().ToString(), "up");
        if (result.ExitCode != 0)
        {
            await cluster.DisposeAsync();
            throw new InvalidOperationException($"local-cluster.sh up failed: {result}{Environment.NewLine}{cluster.Logs()}");
        }

        return cluster;
    }

    public Task<ProcessResult> RunAsync(params string[] arguments) =>
        ExternalProcess.RunAsync("bash", [Path.Combine("deploy", "local-cluster.sh"), "--dir", Directory, .. arguments], environment: InstanceEnvironment, timeout: CommandTimeout);

    /// <summary>The PIDs the script recorded, by component name (redis, instance-1…, haproxy).</summary>
    public IReadOnlyDictionary<string, int> RecordedPids() =>
        System.IO.Directory.GetFiles(Directory, "*.pid").ToDictionary(
            file => Path.GetFileNameWithoutExtension(file),
            file => int.Parse(File.ReadAllText(file).Trim(), System.Globalization.CultureInfo.InvariantCulture));

    /// <summary>Whether a process runs (a zombie waiting for its new parent to reap it has ended).</summary>
    public static bool IsRunning(int pid)
    {
        var stat = $"/proc/{pid}/stat";
        try
        {
            var text = File.ReadAllText(stat);
            return text[(text.LastIndexOf(')') + 2)] != 'Z';
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    public string Logs() => string.Join(Environment.NewLine, System.IO.Directory.GetFiles(Directory, "*.log").Select(f => $"--- {f}{Environment.NewLine}{File.ReadAllText(f)}"));

    public async ValueTask DisposeAsync()
    {
        if (File.Exists(Path.Combine(Directory, "cluster.env")))
        {
            await RunAsync("down");
        }

        System.IO.Directory.Delete(Directory, recursive: true);
    }

    /// <summary>A port P such that P … P + count - 1 are all free on loopback.</summary>
    private static int FreePortBlock(int count)
    {
        for (var attempt = 0; attempt < 100; attempt++)
        {
            var start = Random.Shared.Next(20000, 60000 - count);
            var listeners = new List<TcpListener>();
            try
            {
                for (var port = start; port < start + count; port++)
                {
                    var listener = new TcpListener(IPAddress.Loopback, port);
                    listener.Start();
                    listeners.Add(listener);
                }

                return start;
            }
            catch (SocketException)
            {
            }
            finally
            {
                listeners.ForEach(l => l.Stop());
            }
        }

        throw new InvalidOperationException($"No block of {count} free loopback ports found.");
    }
}
