using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using RoomHub.Bench.Measurement;

namespace RoomHub.Bench.Targets;

/// <summary>
/// A process the bench started and measures (a server instance, a bare server, redis-server). It is killed by its
/// own id when the run ends; its CPU and RSS are read from /proc.
/// </summary>
internal sealed class ChildProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly List<string> _errors = [];

    private readonly bool _owned;

    private ChildProcess(string name, Process process, int port, bool owned = true)
    {
        Name = name;
        _process = process;
        Port = port;
        _owned = owned;
        if (!owned)
        {
            return;
        }

        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                lock (_errors)
                {
                    _errors.Add(e.Data);
                }
            }
        };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public string Name { get; }

    public int Port { get; }

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    /// <summary>Why the process is gone, with the last lines it wrote to stderr; null while it runs.</summary>
    public string? ExitReport()
    {
        if (!_process.HasExited)
        {
            return null;
        }

        lock (_errors)
        {
            return $"{Name} exited with code {_process.ExitCode}" + (_errors.Count > 0 ? ": " + string.Join(" | ", _errors.TakeLast(5)) : "");
        }
    }

    public ProcSample Sample() => ProcSample.TryRead(_process.Id, out var sample) ? sample : default;

    /// <param name="workingDirectory">Where it runs, which for an ASP.NET Core app is where it finds its appsettings.json.</param>
    public static ChildProcess Start(string name, string executable, IEnumerable<string> arguments, int port, IDictionary<string, string>? environment = null, string? workingDirectory = null)
    {
        var info = new ProcessStartInfo(executable)
        {
            WorkingDirectory = workingDirectory ?? "",
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = false,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[key] = value;
        }

        return new ChildProcess(name, Process.Start(info) ?? throw new InvalidOperationException($"{name} did not start."), port);
    }

    /// <summary>A process the bench did not start (<c>--pid</c>), sampled the same way and left running at the end.</summary>
    public static ChildProcess Attach(int pid) => new($"pid-{pid}", Process.GetProcessById(pid), 0, owned: false);

    /// <summary>Waits until <paramref name="ready"/> answers true, polling with a deadline.</summary>
    public async Task WaitReadyAsync(Func<Task<bool>> ready, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        while (!await ready().ConfigureAwait(false))
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"{Name} exited with code {_process.ExitCode}: {string.Join(Environment.NewLine, _errors.TakeLast(20))}");
            }

            if (Stopwatch.GetTimestamp() > deadline)
            {
                throw new TimeoutException($"{Name} was not ready within {timeout.TotalSeconds:0} s.");
            }

            await Task.Delay(50, cancellationToken).ConfigureAwait(false);
        }
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public async ValueTask DisposeAsync()
    {
        if (_owned && !_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            try
            {
                await _process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }
        }

        _process.Dispose();
    }
}
