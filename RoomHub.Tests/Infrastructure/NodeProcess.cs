using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace RoomHub.Tests.Infrastructure;

/// <summary>
/// A node script from <c>RoomHub.Tests/interop</c> run as a child process: commands go in as JSON lines on stdin,
/// events come back as JSON lines on stdout.
/// </summary>
public sealed class NodeProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<JsonObject> _events = new();
    private readonly ConcurrentQueue<string> _errors = new();

    private NodeProcess(Process process)
    {
        _process = process;
        process.OutputDataReceived += (_, e) =>
        {
            if (!string.IsNullOrWhiteSpace(e.Data) && JsonNode.Parse(e.Data) is JsonObject json)
            {
                _events.Enqueue(json);
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                _errors.Enqueue(e.Data);
            }
        };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public IReadOnlyList<JsonObject> Events => _events.ToArray();

    public static NodeProcess Start(string script, params string[] arguments)
    {
        var node = RequiredTool.Find("node", "sudo apt-get install -y nodejs npm");
        var directory = Path.Combine(RequiredTool.RepositoryRoot, "RoomHub.Tests", "interop");
        if (!Directory.Exists(Path.Combine(directory, "node_modules")))
        {
            throw new InvalidOperationException($"The JavaScript clients are not installed: run 'npm ci' in {directory}.");
        }

        var info = new ProcessStartInfo(node)
        {
            WorkingDirectory = directory,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(script);
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        return new NodeProcess(Process.Start(info) ?? throw new InvalidOperationException("node did not start."));
    }

    public async Task SendAsync(object command)
    {
        await _process.StandardInput.WriteLineAsync(JsonSerializer.Serialize(command));
        await _process.StandardInput.FlushAsync();
    }

    public async Task<JsonObject> WaitForAsync(Func<JsonObject, bool> match, string what, TimeSpan? timeout = null)
    {
        JsonObject? found = null;
        await Poll.UntilAsync(() =>
        {
            if (_process.HasExited && !_events.Any(match))
            {
                throw new InvalidOperationException($"node exited with code {_process.ExitCode} while waiting for {what}: {string.Join(Environment.NewLine, _errors)}");
            }

            return (found = _events.FirstOrDefault(match)) is not null;
        }, what, timeout);
        return found!;
    }

    public Task<JsonObject> WaitForEventAsync(string name, Func<JsonObject, bool>? match = null, TimeSpan? timeout = null) =>
        WaitForAsync(e => (string?)e["event"] == name && (match?.Invoke(e) ?? true), $"node event '{name}'", timeout);

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.StandardInput.Close();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            try
            {
                await _process.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                _process.Kill(entireProcessTree: true);
            }
        }

        _process.Dispose();
    }
}
