using System.Net;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Client;
using RoomHub.Contracts;
using RoomHub.Tests.Infrastructure;
using RoomHub.Tests.Security;

namespace RoomHub.Tests;

/// <summary>
/// <c>deploy/grafana/roomhub-dashboard.json</c> against a live scrape: every metric its queries name must be exposed by a
/// real instance, and every RoomHub metric an instance exposes must be on the dashboard, so neither can drift from the
/// other. Meters are process-wide, hence the isolated collection.
/// </summary>
[Collection(IsolatedCollection.Name)]
public sealed partial class GrafanaDashboardTests
{
    private static readonly HashSet<string> PromQlWords = new(StringComparer.Ordinal)
    {
        "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset", "and", "or", "unless", "inf", "nan",
    };

    private static string DashboardPath => Path.Combine(RequiredTool.RepositoryRoot, "deploy", "grafana", "roomhub-dashboard.json");

    [Fact]
    public void TheDashboardIsAValidGrafanaDashboardOnAPrometheusDatasourceVariable()
    {
        var dashboard = LoadDashboard();

        Assert.True(dashboard["schemaVersion"]!.GetValue<int>() >= 38);
        Assert.False(string.IsNullOrWhiteSpace(dashboard["uid"]?.GetValue<string>()));
        Assert.False(string.IsNullOrWhiteSpace(dashboard["title"]?.GetValue<string>()));

        var variables = dashboard["templating"]!["list"]!.AsArray().Select(v => v!).ToList();
        var datasource = Assert.Single(variables, v => v["name"]!.GetValue<string>() == "datasource");
        Assert.Equal("datasource", datasource["type"]!.GetValue<string>());
        Assert.Equal("prometheus", datasource["query"]!.GetValue<string>());
        var instance = Assert.Single(variables, v => v["name"]!.GetValue<string>() == "instance");
        Assert.Equal("query", instance["type"]!.GetValue<string>());
        Assert.Equal("${datasource}", instance["datasource"]!["uid"]!.GetValue<string>());

        var panels = AllPanels(dashboard).ToList();
        Assert.Equal(panels.Count, panels.Select(p => p["id"]!.GetValue<int>()).Distinct().Count());
        var graphs = panels.Where(p => p["type"]!.GetValue<string>() != "row").ToList();
        Assert.NotEmpty(graphs);
        foreach (var panel in graphs)
        {
            var title = panel["title"]!.GetValue<string>();
            Assert.NotNull(panel["gridPos"]);
            Assert.True(panel["datasource"]?["uid"]?.GetValue<string>() == "${datasource}", $"panel '{title}' is not on ${{datasource}}");
            var targets = panel["targets"]?.AsArray();
            Assert.True(targets is { Count: > 0 }, $"panel '{title}' has no targets");
            Assert.Equal(targets.Count, targets.Select(t => t!["refId"]!.GetValue<string>()).Distinct().Count());
            foreach (var target in targets)
            {
                Assert.True(target!["datasource"]?["uid"]?.GetValue<string>() == "${datasource}", $"a target of '{title}' is not on ${{datasource}}");
                Assert.False(string.IsNullOrWhiteSpace(target["expr"]?.GetValue<string>()), $"a target of '{title}' has no expression");
                Assert.Contains("instance=~\"$instance\"", target["expr"]!.GetValue<string>(), StringComparison.Ordinal);
            }
        }
    }

    [Fact]
    public void MetricNamesAreReadFromPromQlWithoutFunctionsLabelsOrKeywords()
    {
        var names = MetricNames("histogram_quantile(0.99, sum by (le, roomhub_store) (rate(roomhub_store_duration_seconds_bucket{job=~\"$job\", instance=~\"$instance\"}[$__rate_interval])))"
            + " / on (instance) group_left sum without (cpu_mode) (some_made_up_metric_total offset 5m) > bool 0");

        Assert.Equal(["roomhub_store_duration_seconds_bucket", "some_made_up_metric_total"], names.Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task EveryMetricTheDashboardQueriesIsExposedByALiveInstanceAfterAWorkload()
    {
        // A Redis of this test's own: it is killed and restarted so that the backplane counters have something to count.
        await using var redis = new RedisServer();
        await redis.StartAsync();
        await using var cluster = await RoomHubCluster.StartAsync(instances: 1, settings: SlowConsumerTests.Settings, redis: redis);
        var instance = cluster[0];
        var room = Rooms.Unique("dashboard");
        await using var sender = await TestClient.ConnectAsync(instance);
        await using var member = await TestClient.ConnectAsync(instance, messagePack: true);
        await using var legacy = await LegacyClient.ConnectAsync(instance);
        await member.SubscribeAsync(room);
        await legacy.SubscribeAsync(room);
        await legacy.WaitUntilInRoomAsync(sender, room);
        await member.Connection.InvokeAsync<RoomMessage[]>(nameof(IRoomHub.GetHistory), room, 10);
        await member.Connection.InvokeAsync<RoomPresence>(nameof(IRoomHub.GetPresence), room);
        await Assert.ThrowsAsync<HubException>(() => sender.SendAsync(room, new string('x', 16_385)));
        Assert.Equal(403, await SecureClients.UpgradeStatusAsync(instance, "/", new Dictionary<string, string> { ["Origin"] = "https://evil.example.net" }));

        // A legacy client that stops reading in a room of its own, flooded until it is dropped.
        var floodRoom = Rooms.Unique("dashboard-flood");
        await using (var slow = await SlowConsumerTests.StopReadingAsync(instance, "/", floodRoom, legacy: true))
        {
            var filler = new string('x', 16_000);
            for (var i = 0; i < 400 && !(await ScrapeAsync(instance)).Contains("roomhub_connections_slow_consumer_dropped_total{", StringComparison.Ordinal); i += 50)
            {
                for (var j = 0; j < 50; j++)
                {
                    await sender.SendAsync(floodRoom, filler);
                }
            }

            await Poll.UntilAsync(async () => (await ScrapeAsync(instance)).Contains("roomhub_connections_slow_consumer_dropped_total{", StringComparison.Ordinal), "the slow consumer to be dropped");
        }

        redis.Kill();
        await Poll.UntilAsync(async () => (await ScrapeAsync(instance)).Contains("roomhub_backplane_failures_total{", StringComparison.Ordinal), "the backplane failure to be counted");
        await redis.StartAsync();
        await Poll.UntilAsync(async () =>
        {
            var scrape = await ScrapeAsync(instance);
            return scrape.Contains("roomhub_backplane_reconnects_total{", StringComparison.Ordinal) && scrape.Contains("roomhub_backplane_connected{otel_scope_name=\"RoomHub\"} 1", StringComparison.Ordinal);
        }, "the backplane to reconnect");
        await Poll.UntilAsync(async () =>
        {
            try
            {
                await sender.SendAsync(room, "after");
                return true;
            }
            catch (HubException)
            {
                return false;
            }
        }, "a send to succeed after Redis returned");
        await legacy.WaitForFrameAsync("after");

        var exposed = SampleNames(await ScrapeAsync(instance));
        var used = DashboardExpressions(LoadDashboard()).SelectMany(MetricNames).ToHashSet(StringComparer.Ordinal);

        Assert.Contains(used, name => name.StartsWith("roomhub_", StringComparison.Ordinal));
        var missing = used.Where(name => !exposed.Contains(name)).Order(StringComparer.Ordinal).ToList();
        Assert.True(missing.Count == 0, "The dashboard queries metrics no instance exposes: " + string.Join(", ", missing));

        // Histograms are used through _bucket or _count; a family counts as shown when any of its series is.
        var shown = used.Select(Family).ToHashSet(StringComparer.Ordinal);
        var unshown = exposed.Where(name => name.StartsWith("roomhub_", StringComparison.Ordinal)).Select(Family).Where(family => !shown.Contains(family))
            .Distinct().Order(StringComparer.Ordinal).ToList();
        Assert.True(unshown.Count == 0, "RoomHub metrics missing from the dashboard: " + string.Join(", ", unshown));
    }

    private static JsonObject LoadDashboard() => JsonNode.Parse(File.ReadAllText(DashboardPath))!.AsObject();

    private static IEnumerable<JsonNode> AllPanels(JsonNode dashboard)
    {
        foreach (var panel in dashboard["panels"]!.AsArray())
        {
            yield return panel!;
            foreach (var nested in panel!["panels"]?.AsArray() ?? [])
            {
                yield return nested!;
            }
        }
    }

    /// <summary>Every PromQL expression of the dashboard: panel targets, and the metric of each <c>label_values</c> variable.</summary>
    private static IEnumerable<string> DashboardExpressions(JsonNode dashboard)
    {
        foreach (var panel in AllPanels(dashboard))
        {
            foreach (var target in panel["targets"]?.AsArray() ?? [])
            {
                yield return target!["expr"]!.GetValue<string>();
            }
        }

        foreach (var variable in dashboard["templating"]!["list"]!.AsArray())
        {
            if (variable!["definition"]?.GetValue<string>() is { } definition && LabelValues().Match(definition) is { Success: true } match)
            {
                yield return match.Groups[1].Value;
            }
        }
    }

    /// <summary>Metric names in a PromQL expression: identifiers that are not functions, keywords, labels or durations.</summary>
    internal static IEnumerable<string> MetricNames(string expression)
    {
        var bare = Grouping().Replace(Range().Replace(Matchers().Replace(expression, ""), ""), "");
        return Identifier().Matches(bare)
            .Where(match => !PromQlWords.Contains(match.Groups[1].Value) && !bare[(match.Index + match.Length)..].TrimStart().StartsWith('('))
            .Select(match => match.Groups[1].Value)
            .Distinct();
    }

    private static HashSet<string> SampleNames(string scrape) =>
        scrape.Split('\n')
            .Where(line => line.Length > 0 && line[0] != '#')
            .Select(line => line.Split('{', ' ')[0])
            .ToHashSet(StringComparer.Ordinal);

    private static string Family(string name) => HistogramSeries().Replace(name, "");

    private static async Task<string> ScrapeAsync(RoomHubInstance instance)
    {
        using var http = new HttpClient { BaseAddress = instance.BaseAddress };
        using var response = await http.GetAsync("/metrics");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await response.Content.ReadAsStringAsync();
    }

    [GeneratedRegex(@"\{[^}]*\}")]
    private static partial Regex Matchers();

    [GeneratedRegex(@"\[[^\]]*\]")]
    private static partial Regex Range();

    [GeneratedRegex(@"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")]
    private static partial Regex Grouping();

    [GeneratedRegex(@"(?<![\w.$])([a-zA-Z_:][a-zA-Z0-9_:]*)")]
    private static partial Regex Identifier();

    [GeneratedRegex(@"label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)")]
    private static partial Regex LabelValues();

    [GeneratedRegex("_(bucket|count|sum)$")]
    private static partial Regex HistogramSeries();
}
