using System.Globalization;

namespace RoomHub.Bench;

internal enum Scenario { Fanout, Rooms, Cross, Idle, BareServer, StockServer }

internal enum ClientMode { Hub, Lean, Legacy }

/// <summary>The command line, parsed by hand (<c>--name value</c>, <c>--name=value</c>, flags); see <see cref="Usage"/>.</summary>
internal sealed record BenchOptions
{
    public Scenario Scenario { get; init; } = Scenario.Fanout;
    public ClientMode Client { get; init; } = ClientMode.Lean;
    public IReadOnlyList<Uri> Urls { get; init; } = [];
    public bool Redis { get; init; }
    public int Instances { get; init; } = 1;
    public bool Bare { get; init; }

    /// <summary>SignalR clients negotiate first, as they do by default; else they connect to the WebSocket directly (<c>skipNegotiation</c>).</summary>
    public bool Negotiate { get; init; }

    /// <summary>Start stock SignalR servers (a plain hub over the stock Redis backplane) instead of RoomHub.</summary>
    public bool Stock { get; init; }
    public int Subscribers { get; init; } = 100;
    public int Publishers { get; init; } = 2;
    public int Connections { get; init; }
    /// <summary>Members per room: <c>rooms</c> default 10; <c>idle</c> default 1 (each connection in a room of its own).</summary>
    public int? RoomSize { get; init; }
    public int Payload { get; init; } = 100;

    /// <summary>Target deliveries per second over the whole run (a message to a room of S members is S deliveries); 0 = as fast as it goes.</summary>
    public double Rate { get; init; }

    /// <summary><c>rooms</c>: messages per second each connection sends (when no <see cref="Rate"/> is given).</summary>
    public double MessageRate { get; init; } = 1;

    /// <summary>At max rate, messages all publishers together may have in flight (sent, not yet delivered to every member).</summary>
    public int Window { get; init; } = 200;

    public double Duration { get; init; } = 15;
    public double Warmup { get; init; } = 20;
    public string? Out { get; init; }
    public int SourceAddresses { get; init; }
    public int ConnectConcurrency { get; init; } = 64;
    public string? ServerDll { get; init; }
    public string? Label { get; init; }
    public int Port { get; init; }

    /// <summary>With <c>--url</c>: ids of the server processes to sample for CPU and RSS.</summary>
    public IReadOnlyList<int> Pids { get; init; } = [];

    public int EffectiveRoomSize => RoomSize ?? (Scenario == Scenario.Idle ? 1 : 10);

    public int EffectiveConnections => Connections > 0 ? Connections : Scenario == Scenario.Idle ? 5000 : 1000;

    public const string Usage = """
        RoomHub.Bench <scenario> [options]      scenario: fanout | rooms | cross | idle
        RoomHub.Bench bare-server --port N      a plain Kestrel WebSocket broadcast server (legacy raw protocol)
        RoomHub.Bench stock-server --port N     a stock SignalR hub (over the Redis backplane when REDIS_URL is set)

        Targets (default: start one RoomHub instance, embedded mode):
          --url URL[,URL]     existing servers (repeatable). ws://host:port/ for legacy, ws://host:port/hubs/rooms for SignalR
          --instances N       start N RoomHub.Server child processes on free loopback ports
          --redis             start a private redis-server and share it between the instances (implied by N > 1)
          --bare              start N bare broadcast servers instead of RoomHub (legacy client only)
          --stock             start N stock SignalR hubs over one redis-server instead of RoomHub (hub or lean client)
          --pid PID[,PID]     with --url: server processes to sample for CPU and RSS (e.g. a server the bench did not start)
          --server-dll PATH   RoomHub.Server.dll to run (default: the one built beside the bench)
        Workload:
          --client hub|lean|legacy   official HubConnection, lean SignalR JSON client, or raw legacy client (default lean)
          --negotiate         SignalR clients negotiate first, as by default (default: WebSocket only, skipNegotiation)
          --subscribers S --publishers P     fanout/cross (default 100, 2)
          --connections N --room-size M      rooms (default 1000, 10) and idle (default 5000, 1: a room each)
          --payload BYTES     message size (default 100)
          --rate R            deliveries/s for the whole run (default: max, with --window messages in flight, 200)
          --msg-rate R        rooms: messages/s per connection (default 1)
          --duration S --warmup S   measured seconds (default 15) after warm-up seconds (default 20)
          --source-ips K      spread connections over 127.0.0.1..K as source addresses (default: 1 per 25k connections)
          --connect-concurrency C   connections opened at once (default 64)
          --out FILE          write the results as JSON
          --label TEXT        a name for the run in the table and the JSON
        """;

    public static BenchOptions Parse(IReadOnlyList<string> args)
    {
        var options = new BenchOptions();
        var urls = new List<Uri>();
        var pids = new List<int>();
        var instancesGiven = false;
        var i = 0;
        if (args.Count > 0 && !args[0].StartsWith('-'))
        {
            options = options with { Scenario = ParseScenario(args[0]) };
            i = 1;
        }

        for (; i < args.Count; i++)
        {
            var arg = args[i];
            if (!arg.StartsWith("--", StringComparison.Ordinal))
            {
                throw new ArgumentException($"Unexpected argument '{arg}'.");
            }

            var name = arg[2..];
            string? inline = null;
            if (name.IndexOf('=', StringComparison.Ordinal) is var eq and >= 0)
            {
                inline = name[(eq + 1)..];
                name = name[..eq];
            }

            string Value() => inline ?? (i + 1 < args.Count ? args[++i] : throw new ArgumentException($"--{name} needs a value."));

            switch (name)
            {
                case "url":
                    foreach (var part in Value().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                    {
                        urls.Add(ParseUrl(part));
                    }

                    break;
                case "pid":
                    foreach (var part in Value().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                    {
                        pids.Add(Int(name, part, 1));
                    }

                    break;
                case "redis": options = options with { Redis = true }; break;
                case "bare": options = options with { Bare = true }; break;
                case "negotiate": options = options with { Negotiate = true }; break;
                case "stock": options = options with { Stock = true }; break;
                case "instances": options = options with { Instances = Int(name, Value(), 1) }; instancesGiven = true; break;
                case "client": options = options with { Client = ParseClient(Value()) }; break;
                case "subscribers": options = options with { Subscribers = Int(name, Value(), 1) }; break;
                case "publishers": options = options with { Publishers = Int(name, Value(), 1) }; break;
                case "connections": options = options with { Connections = Int(name, Value(), 1) }; break;
                case "room-size": options = options with { RoomSize = Int(name, Value(), 1) }; break;
                case "payload": options = options with { Payload = Int(name, Value(), 1) }; break;
                case "rate": options = options with { Rate = Double(name, Value(), 0) }; break;
                case "msg-rate": options = options with { MessageRate = Double(name, Value(), 0.001) }; break;
                case "window": options = options with { Window = Int(name, Value(), 1) }; break;
                case "duration": options = options with { Duration = Double(name, Value(), 0.1) }; break;
                case "warmup": options = options with { Warmup = Double(name, Value(), 0) }; break;
                case "out": options = options with { Out = Value() }; break;
                case "source-ips": options = options with { SourceAddresses = Int(name, Value(), 1) }; break;
                case "connect-concurrency": options = options with { ConnectConcurrency = Int(name, Value(), 1) }; break;
                case "server-dll": options = options with { ServerDll = Value() }; break;
                case "label": options = options with { Label = Value() }; break;
                case "port": options = options with { Port = Int(name, Value(), 1) }; break;
                default: throw new ArgumentException($"Unknown option --{name}.");
            }
        }

        options = options with { Urls = urls, Pids = pids };
        if (pids.Count > 0 && urls.Count == 0)
        {
            throw new ArgumentException("--pid samples servers given with --url.");
        }

        if (urls.Count > 0 && (instancesGiven || options.Redis || options.Bare || options.Stock))
        {
            throw new ArgumentException("--url measures existing servers; it cannot be combined with --instances, --redis, --bare or --stock.");
        }

        if (options.Bare && options.Stock)
        {
            throw new ArgumentException("--bare and --stock each choose what to start: give one.");
        }

        if (options.Stock && options.Client == ClientMode.Legacy)
        {
            throw new ArgumentException("The stock SignalR server speaks SignalR only: use --client lean or --client hub.");
        }

        if (options.Bare && options.Client != ClientMode.Legacy)
        {
            throw new ArgumentException("The bare server speaks the legacy raw protocol only: use --client legacy.");
        }

        if (options.Scenario == Scenario.Cross && urls.Count < 2 && options.Instances < 2)
        {
            throw new ArgumentException("cross needs at least two targets (--instances 2 or two --url).");
        }

        if (options.Scenario is Scenario.BareServer or Scenario.StockServer && options.Port == 0)
        {
            throw new ArgumentException("bare-server and stock-server need --port.");
        }

        return options;
    }

    private static Scenario ParseScenario(string value) => value switch
    {
        "fanout" => Scenario.Fanout,
        "rooms" => Scenario.Rooms,
        "cross" => Scenario.Cross,
        "idle" => Scenario.Idle,
        "bare-server" => Scenario.BareServer,
        "stock-server" => Scenario.StockServer,
        _ => throw new ArgumentException($"Unknown scenario '{value}' (fanout, rooms, cross, idle, bare-server, stock-server)."),
    };

    private static ClientMode ParseClient(string value) => value switch
    {
        "hub" => ClientMode.Hub,
        "lean" => ClientMode.Lean,
        "legacy" => ClientMode.Legacy,
        _ => throw new ArgumentException($"Unknown client '{value}' (hub, lean, legacy)."),
    };

    private static Uri ParseUrl(string value) =>
        Uri.TryCreate(value, UriKind.Absolute, out var uri) && uri.Scheme is "ws" or "http" or "wss" or "https"
            ? uri
            : throw new ArgumentException($"--url '{value}' is not a ws:// or http:// URL.");

    private static int Int(string name, string value, int min) =>
        int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) && n >= min
            ? n
            : throw new ArgumentException($"--{name} must be a whole number ≥ {min}, not '{value}'.");

    private static double Double(string name, string value, double min) =>
        double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var n) && n >= min
            ? n
            : throw new ArgumentException($"--{name} must be a number ≥ {min}, not '{value}'.");
}
