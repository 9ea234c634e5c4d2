using System.Diagnostics;
using System.Net.Sockets;
using System.Text;

namespace RoomHub.Tests.Infrastructure;

/// <summary>
/// A real <c>redis-server</c> process on a free loopback port, with no persistence. <see cref="Shared"/> is started
/// once for the whole run (tests keep apart through unique channel prefixes); tests that kill Redis start their own.
/// </summary>
public sealed class RedisServer : IAsyncDisposable
{
    private static readonly Lazy<Task<RedisServer>> SharedServer = new(async () =>
    {
        var server = new RedisServer();
        await server.StartAsync();
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            server.Kill();
            server.DeleteDirectory();
        };
        return server;
    });

    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("roomhub-redis-");
    private Process? _process;
    private bool _frozen;

    public RedisServer()
    {
        Port = FreePort.Next();
    }

    public static Task<RedisServer> Shared => SharedServer.Value;

    public int Port { get; }

    public string Url => $"redis://127.0.0.1:{Port}";

    public bool IsRunning => _process is { HasExited: false };

    public async Task StartAsync()
    {
        var executable = RequiredTool.Find("redis-server", "sudo apt-get install -y redis-server");
        var info = new ProcessStartInfo(executable)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in new[] { "--port", Port.ToString(), "--bind", "127.0.0.1", "--dir", _directory.FullName, "--save", "", "--appendonly", "no", "--protected-mode", "no", "--loglevel", "warning" })
        {
            info.ArgumentList.Add(argument);
        }

        var process = Process.Start(info) ?? throw new InvalidOperationException("redis-server did not start.");
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;

        // The port was free when picked, but another test's redis-server may have taken it since: ready means that
        // this process answers on it.
        await Poll.UntilAsync(async () => await PingAsync() && await AnswersAsThisProcessAsync(), $"redis-server on port {Port} to answer PING", TimeSpan.FromSeconds(20));
    }

    /// <summary>
    /// Writes the data set to this server's own directory (SAVE), from which the next <see cref="StartAsync"/> loads it:
    /// a crash of a Redis with persistence. Without it, a killed server comes back empty.
    /// </summary>
    public async Task SaveAsync()
    {
        if (!(await CommandAsync("SAVE", TimeSpan.FromSeconds(10))).StartsWith("+OK", StringComparison.Ordinal))
        {
            throw new InvalidOperationException("redis-server did not save its data set.");
        }
    }

    /// <summary>
    /// Stops the process where it stands (SIGSTOP) or lets it go on (SIGCONT): a Redis that keeps its connections open
    /// and answers nothing, as a stalled or paused host does.
    /// </summary>
    public void Freeze(bool frozen)
    {
        if (_process is { HasExited: false } process)
        {
            using var signal = Process.Start("kill", [frozen ? "-STOP" : "-CONT", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])
                ?? throw new InvalidOperationException("kill did not start.");
            signal.WaitForExit(5000);
            if (signal.ExitCode != 0)
            {
                throw new InvalidOperationException($"kill {(frozen ? "-STOP" : "-CONT")} exited with {signal.ExitCode}.");
            }

            _frozen = frozen;
        }
    }

    /// <summary>Ends the process at once (SIGKILL), as a crash would.</summary>
    public void Kill()
    {
        if (_process is { HasExited: false } process)
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit(5000);
        }
    }

    public async Task<bool> PingAsync()
    {
        if (_process is { HasExited: true })
        {
            throw new InvalidOperationException($"redis-server exited with code {_process.ExitCode}.");
        }

        try
        {
            return (await CommandAsync("PING", TimeSpan.FromSeconds(2))).StartsWith("+PONG", StringComparison.Ordinal);
        }
        catch (Exception ex) when (ex is SocketException or IOException or TimeoutException)
        {
            return false;
        }
    }

    private async Task<bool> AnswersAsThisProcessAsync()
    {
        try
        {
            return (await CommandAsync("INFO server", TimeSpan.FromSeconds(2), replyBytes: 8192)).Contains($"process_id:{_process!.Id}\r\n", StringComparison.Ordinal);
        }
        catch (Exception ex) when (ex is SocketException or IOException or TimeoutException)
        {
            return false;
        }
    }

    /// <summary>Sends one inline command on a connection of its own and returns the start of the reply.</summary>
    private async Task<string> CommandAsync(string command, TimeSpan timeout, int replyBytes = 16)
    {
        using var client = new TcpClient();
        await client.ConnectAsync("127.0.0.1", Port);
        var stream = client.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(command + "\r\n"));
        var buffer = new byte[replyBytes];
        var read = await stream.ReadAsync(buffer).AsTask().WaitAsync(timeout);
        return Encoding.ASCII.GetString(buffer, 0, read);
    }

    public ValueTask DisposeAsync()
    {
        if (_frozen)
        {
            Freeze(false);
        }

        Kill();
        _process?.Dispose();
        DeleteDirectory();
        return ValueTask.CompletedTask;
    }

    private void DeleteDirectory()
    {
        try
        {
            _directory.Delete(recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
