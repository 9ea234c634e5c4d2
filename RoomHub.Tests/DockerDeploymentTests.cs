using RoomHub.Tests.Infrastructure;
using YamlDotNet.RepresentationModel;

namespace RoomHub.Tests;

public sealed class DockerDeploymentTests
{
    private static string Deploy(string file) => Path.Combine(RequiredTool.RepositoryRoot, "deploy", file);

    [Fact]
    public async Task DockerfilePassesTheLinter()
    {
        var node = RequiredTool.Find("node", "sudo apt-get install -y nodejs npm");

        var result = await ExternalProcess.RunAsync(node, [Path.Combine("RoomHub.Tests", "interop", "lint-dockerfile.mjs"), Deploy("Dockerfile")]);

        Assert.True(result.ExitCode == 0, $"the Dockerfile linter found problems: {result}");
    }

    [Fact]
    public void DockerfileBuildsOnTheSdkAndRunsAsNonRootOnTheAspNetRuntimeWithAHealthCheck()
    {
        var instructions = Instructions(File.ReadAllText(Deploy("Dockerfile")));
        var stages = instructions.Where(i => i.Keyword == "FROM").Select(i => i.Arguments).ToArray();
        Assert.Equal(2, stages.Length);
        Assert.StartsWith("mcr.microsoft.com/dotnet/sdk:", stages[0], StringComparison.Ordinal);
        Assert.StartsWith("mcr.microsoft.com/dotnet/aspnet:", stages[1], StringComparison.Ordinal);

        var runtime = instructions.SkipWhile(i => i.Arguments != stages[1]).ToArray();
        var user = Assert.Single(runtime, i => i.Keyword == "USER").Arguments;
        Assert.DoesNotContain(user, new[] { "root", "0", "0:0" });
        Assert.Equal("8080", Assert.Single(runtime, i => i.Keyword == "EXPOSE").Arguments);
        Assert.Contains("roomhub-healthcheck", Assert.Single(runtime, i => i.Keyword == "HEALTHCHECK").Arguments, StringComparison.Ordinal);
        var copyHealthCheck = runtime.Single(i => i.Keyword == "COPY" && i.Arguments.Contains("healthcheck", StringComparison.Ordinal));
        Assert.EndsWith("deploy/healthcheck.sh /usr/local/bin/roomhub-healthcheck", copyHealthCheck.Arguments, StringComparison.Ordinal);
        Assert.Equal("[\"dotnet\", \"RoomHub.Server.dll\"]", Assert.Single(runtime, i => i.Keyword == "ENTRYPOINT").Arguments);
    }

    [Fact]
    public void EveryFileTheDockerfileCopiesExistsAndIsNotDockerIgnored()
    {
        var root = RequiredTool.RepositoryRoot;
        var ignored = File.ReadAllLines(Path.Combine(root, ".dockerignore"))
            .Select(l => l.Trim())
            .Where(l => l.Length > 0 && !l.StartsWith('#') && !l.Contains('*', StringComparison.Ordinal))
            .Select(l => l.TrimEnd('/'))
            .ToArray();

        var sources = Instructions(File.ReadAllText(Deploy("Dockerfile")))
            .Where(i => i.Keyword == "COPY" && !i.Arguments.Contains("--from=", StringComparison.Ordinal))
            .SelectMany(i => i.Arguments.Split(' ', StringSplitOptions.RemoveEmptyEntries).Where(a => !a.StartsWith("--", StringComparison.Ordinal)).SkipLast(1))
            .ToArray();

        Assert.NotEmpty(sources);
        foreach (var source in sources)
        {
            var path = Path.Combine(root, source.TrimEnd('/'));
            Assert.True(File.Exists(path) || Directory.Exists(path), $"the Dockerfile copies {source}, which does not exist");
            Assert.DoesNotContain(ignored, pattern => source == pattern || source.StartsWith(pattern + "/", StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task HealthCheckScriptPassesOnAHealthyServerAndFailsOtherwise()
    {
        await using var instance = await RoomHubInstance.StartAsync(new Dictionary<string, string?>());

        Assert.Equal(0, (await HealthCheckAsync(instance.BaseAddress.Port, "/health")).ExitCode);
        Assert.NotEqual(0, (await HealthCheckAsync(instance.BaseAddress.Port, "/no-such-endpoint")).ExitCode);
        Assert.NotEqual(0, (await HealthCheckAsync(FreePort.Next(), "/health")).ExitCode);
    }

    [Fact]
    public async Task ComposeRunsRedisAndThreeInstancesBehindAHaproxyThatKnowsThemAll()
    {
        var yaml = new YamlStream();
        yaml.Load(new StringReader(File.ReadAllText(Deploy("docker-compose.yml"))));
        var services = (YamlMappingNode)((YamlMappingNode)yaml.Documents[0].RootNode)["services"];
        var names = services.Children.Keys.Select(k => k.ToString()).ToArray();
        Assert.Equal(["haproxy", "redis", "roomhub-1", "roomhub-2", "roomhub-3"], names.Order());

        foreach (var name in names.Where(n => n.StartsWith("roomhub-", StringComparison.Ordinal)))
        {
            var service = (YamlMappingNode)services[name];
            Assert.Equal("deploy/Dockerfile", service["build"]["dockerfile"].ToString());
            Assert.Equal("redis://redis:6379", service["environment"]["REDIS_URL"].ToString());
        }

        var config = File.ReadAllLines(Deploy(Path.Combine("haproxy", "haproxy.cfg")));
        var servers = config.Select(l => l.Trim()).Where(l => l.StartsWith("server ", StringComparison.Ordinal)).Select(l => l.Split(' ')[2]).ToArray();
        Assert.Equal(["roomhub-1:8080", "roomhub-2:8080", "roomhub-3:8080"], servers);

        var haproxy = RequiredTool.Find("haproxy", "sudo apt-get install -y haproxy");
        var check = await ExternalProcess.RunAsync(haproxy, ["-c", "-f", Deploy(Path.Combine("haproxy", "haproxy.cfg"))]);
        Assert.True(check.ExitCode == 0, $"haproxy rejects the compose configuration: {check}");
    }

    private static Task<ProcessResult> HealthCheckAsync(int port, string path) =>
        ExternalProcess.RunAsync("bash", [Deploy("healthcheck.sh"), path], environment: new Dictionary<string, string> { ["PORT"] = port.ToString() });

    private sealed record Instruction(string Keyword, string Arguments);

    // Instructions with continuation lines joined and comments dropped.
    private static List<Instruction> Instructions(string dockerfile)
    {
        var joined = dockerfile.Replace("\\\n", " ", StringComparison.Ordinal);
        return joined.Split('\n')
            .Select(l => l.Trim())
            .Where(l => l.Length > 0 && !l.StartsWith('#'))
            .Select(l => l.Split(' ', 2))
            .Select(p => new Instruction(p[0].ToUpperInvariant(), p.Length > 1 ? string.Join(' ', p[1].Split(' ', StringSplitOptions.RemoveEmptyEntries)) : ""))
            .ToList();
    }
}
