using System.Text.Json;
using RoomHub.Bench;
using RoomHub.Bench.Reporting;
using RoomHub.Bench.Scenarios;
using RoomHub.Bench.Targets;

if (args is ["--help" or "-h" or "help"])
{
    Console.WriteLine(BenchOptions.Usage);
    return 0;
}

BenchOptions options;
try
{
    options = BenchOptions.Parse(args);
}
catch (ArgumentException ex)
{
    Console.Error.WriteLine(ex.Message);
    Console.Error.WriteLine(BenchOptions.Usage);
    return 2;
}

using var cancel = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) => { e.Cancel = true; cancel.Cancel(); };

if (options.Scenario == Scenario.BareServer)
{
    await BareServer.RunAsync(options.Port, cancel.Token);
    return 0;
}

if (options.Scenario == Scenario.StockServer)
{
    await StockServer.RunAsync(options.Port, cancel.Token);
    return 0;
}

static void Log(string line) => Console.WriteLine(line);
await using var targets = await TargetSet.StartAsync(options, Log, cancel.Token);
RunResult result = options.Scenario == Scenario.Idle
    ? await new IdleRun(options, targets, Log).RunAsync(cancel.Token)
    : await new LoadRun(options, targets, Log).RunAsync(cancel.Token);

Console.WriteLine(ResultTable.Format(result));
if (options.Out is { } path)
{
    await File.WriteAllTextAsync(path, JsonSerializer.Serialize(result, ResultJsonContext.Default.RunResult));
    Console.WriteLine($"results written to {path}");
}

return 0;
