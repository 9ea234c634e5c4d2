using System.Diagnostics;
using System.Net.Http;

namespace RoomHub.Tests.Infrastructure;

/// <summary>
/// A RoomHub server run as its own process (the built RoomHub.Server.dll), so that a test can kill it with SIGKILL the
/// way a crashed node or an evicted pod dies.
/// </summary>
public sealed class RoomHubProcess : IAsyncDisposable
{
    private readonly Process _process;

    private RoomHubProcess(Process process, int port)
    {
        _process = process;
        Port = port;
    }

    public int Port { get; }

    public Uri BaseAddress => new($"http://127.0.0.1:{Port}/");

    public Uri HubUrl => new(BaseAddress, "hubs/rooms");

    public int ProcessId => _process.Id;

    public bool HasExited => _process.HasExited;

    public static async Task<RoomHubProcess> StartAsync(IDictionary<string, string?> settings, int? port = null)
    {
        var serverDll = ServerAssemblyPath();
        var listenPort = port ?? FreePort.Next();
        var info = new ProcessStartInfo("dotnet")
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Path.GetDirectoryName(serverDll)!,
        };
        info.ArgumentList.Add(serverDll);
        info.Environment["ASPNETCORE_URLS"] = $"http://127.0.0.1:{listenPort}";
        info.Environment["Logging__LogLevel__Default"] = "Warning";
        foreach (var (key, value) in settings)
        {
            info.Environment[key.Replace(":", "__", StringComparison.Ordinal)] = value;
        }

        var process = Process.Start(info) ?? throw new InvalidOperationException("The server process did not start.");
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        var instance = new RoomHubProcess(process, listenPort);
        using var http = new HttpClient { BaseAddress = instance.BaseAddress, Timeout = TimeSpan.FromSeconds(5) };
        try
        {
            await WaitUntilReadyAsync(process, http, listenPort);
        }
        catch
        {
            // A server that never became ready must not outlive the test that started it.
            await instance.DisposeAsync();
            throw;
        }

        return instance;
    }

    private static async Task WaitUntilReadyAsync(Process process, HttpClient http, int listenPort)
    {
        await Poll.UntilAsync(async () =>
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"The server process exited with code {process.ExitCode}.");
            }

            try
            {
                return (await http.GetAsync("/health")).IsSuccessStatusCode;
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
                return false;
            }
        }, $"the server process on port {listenPort} to be ready", TimeSpan.FromSeconds(30));
    }

    /// <summary>SIGKILL: no shutdown, no goodbye to clients or stores.</summary>
    public void Kill()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(10_000);
        }
    }

    /// <summary>SIGTERM: what an orchestrator sends first; the server drains, then exits.</summary>
    public void Terminate()
    {
        if (!_process.HasExited && Kill(_process.Id, SigTerm) != 0)
        {
            throw new InvalidOperationException($"Could not send SIGTERM to {_process.Id}.");
        }
    }

    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cancel = new CancellationTokenSource(timeout);
        await _process.WaitForExitAsync(cancel.Token);
        return _process.ExitCode;
    }

    private const int SigTerm = 15;

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);

    private static string ServerAssemblyPath()
    {
        // The server is built next to the tests with the same configuration: RoomHub.Server/bin/<Configuration>/<tfm>/.
        var testOutput = new DirectoryInfo(AppContext.BaseDirectory);
        var framework = testOutput.Name;
        var configuration = testOutput.Parent!.Name;
        var path = Path.Combine(RequiredTool.RepositoryRoot, "RoomHub.Server", "bin", configuration, framework, "RoomHub.Server.dll");
        return File.Exists(path) ? path : throw new FileNotFoundException("Build RoomHub.Server first.", path);
    }

    public ValueTask DisposeAsync()
    {
        Kill();
        _process.Dispose();
        return ValueTask.CompletedTask;
    }
}
