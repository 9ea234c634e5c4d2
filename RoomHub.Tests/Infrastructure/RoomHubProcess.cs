using System.Diagnostics;
using System.Net.Http;

namespace RoomHub.Tests.Infrastructure;

/// <summary>
/// A RoomHub server run as its own process (the built RoomHub.Server.dll), so that a test can kill it with SIGKILL the
/// way a crashed node or an evicted pod dies.
/// </summary>
public sealed partial class RoomHubProcess : IAsyncDisposable
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

    /// <summary>
    /// Starts the server on <paramref name="port"/>, or on a port it binds itself (port 0) when none is given: a port
    /// picked here and freed before the server binds it could be taken meanwhile by another test's server, whose
    /// <c>/health</c> would then answer for this one. The server is ready once it has said where it listens and that
    /// address answers <c>/health</c>.
    /// </summary>
    public static async Task<RoomHubProcess> StartAsync(IDictionary<string, string?> settings, int? port = null)
    {
        var serverDll = ServerAssemblyPath();
        var info = new ProcessStartInfo("dotnet")
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Path.GetDirectoryName(serverDll)!,
        };
        info.ArgumentList.Add(serverDll);
        info.Environment["ASPNETCORE_URLS"] = $"http://127.0.0.1:{port ?? 0}";
        info.Environment["Logging__LogLevel__Default"] = "Warning";
        info.Environment["Logging__LogLevel__Microsoft.Hosting.Lifetime"] = "Information";
        foreach (var (key, value) in settings)
        {
            info.Environment[key.Replace(":", "__", StringComparison.Ordinal)] = value;
        }

        var listening = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var process = Process.Start(info) ?? throw new InvalidOperationException("The server process did not start.");
        process.OutputDataReceived += (_, line) =>
        {
            if (line.Data is { } text && ListeningOn().Match(text) is { Success: true } match)
            {
                listening.TrySetResult(int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture));
            }
        };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        try
        {
            var listenPort = await WaitUntilListeningAsync(process, listening.Task);
            var instance = new RoomHubProcess(process, listenPort);
            using var http = new HttpClient { BaseAddress = instance.BaseAddress, Timeout = TimeSpan.FromSeconds(5) };
            await WaitUntilReadyAsync(process, http, listenPort);
            return instance;
        }
        catch
        {
            // A server that never became ready must not outlive the test that started it.
            KillTree(process);
            process.Dispose();
            throw;
        }
    }

    private static async Task<int> WaitUntilListeningAsync(Process process, Task<int> listening)
    {
        var exited = process.WaitForExitAsync();
        var first = await Task.WhenAny(listening, exited).WaitAsync(TimeSpan.FromSeconds(30));
        return first == listening
            ? await listening
            : throw new InvalidOperationException($"The server process exited with code {process.ExitCode} before it listened.");
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

    [System.Text.RegularExpressions.GeneratedRegex(@"Now listening on: http://127\.0\.0\.1:(\d+)")]
    private static partial System.Text.RegularExpressions.Regex ListeningOn();

    /// <summary>SIGKILL: no shutdown, no goodbye to clients or stores.</summary>
    public void Kill() => KillTree(_process);

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

    private static void KillTree(Process process)
    {
        if (!process.HasExited)
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit(10_000);
        }
    }

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
