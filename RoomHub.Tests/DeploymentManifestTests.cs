using System.Globalization;
using System.Text.Json.Nodes;
using RoomHub.Tests.Infrastructure;

namespace RoomHub.Tests;

public sealed class DeploymentManifestTests
{
    public static TheoryData<string> Kustomizations => new() { "base", "overlays/dev", "overlays/prod" };

    [Theory]
    [MemberData(nameof(Kustomizations))]
    public async Task EveryRenderedManifestMatchesTheKubernetesSchemas(string kustomization)
    {
        var documents = await KubernetesManifests.RenderValidAsync(kustomization);

        foreach (var kind in new[] { "Deployment", "Service", "ConfigMap", "HorizontalPodAutoscaler", "PodDisruptionBudget", "ServiceMonitor", "Ingress" })
        {
            Assert.Contains(documents.OfType<JsonObject>(), d => (string?)d["kind"] == kind);
        }
    }

    [Theory]
    [MemberData(nameof(Kustomizations))]
    public async Task TerminationGraceCoversThePreStopSleepAndTheWholeDrain(string kustomization)
    {
        var documents = await KubernetesManifests.RenderValidAsync(kustomization);
        var pod = documents.Single("Deployment", "roomhub")["spec"]!["template"]!["spec"]!;
        var container = pod["containers"]![0]!;

        var grace = (int)pod["terminationGracePeriodSeconds"]!;
        var preStop = container["lifecycle"]!["preStop"]!["exec"]!["command"]!.AsArray().Select(a => (string?)a).ToArray();
        Assert.Equal("sleep", preStop[0]);
        var sleep = int.Parse(preStop[1]!, CultureInfo.InvariantCulture);
        var drain = TimeSpan.Parse((string)documents.Single("ConfigMap", "roomhub-config")["data"]!["RoomHub__DrainTimeout"]!, CultureInfo.InvariantCulture);

        Assert.True(grace >= sleep + drain.TotalSeconds + 5, $"terminationGracePeriodSeconds {grace} < preStop {sleep} s + drain {drain.TotalSeconds} s + 5 s margin");
    }

    [Theory]
    [MemberData(nameof(Kustomizations))]
    public async Task ReadinessProbesHealthAndLivenessProbesAlive(string kustomization)
    {
        var documents = await KubernetesManifests.RenderValidAsync(kustomization);
        var container = documents.Single("Deployment", "roomhub")["spec"]!["template"]!["spec"]!["containers"]![0]!;

        Assert.Equal("/health", (string?)container["readinessProbe"]!["httpGet"]!["path"]);
        Assert.Equal("/alive", (string?)container["livenessProbe"]!["httpGet"]!["path"]);
        Assert.Equal("/alive", (string?)container["startupProbe"]!["httpGet"]!["path"]);
        Assert.Equal(8080, (int)container["ports"]!.AsArray().Single(p => (string?)p!["name"] == "http")!["containerPort"]!);
    }

    [Theory]
    [MemberData(nameof(Kustomizations))]
    public async Task PodsRunAsNonRootOnAReadOnlyRootFilesystemWithRequestsAndLimits(string kustomization)
    {
        var documents = await KubernetesManifests.RenderValidAsync(kustomization);

        foreach (var deployment in documents.OfKind("Deployment"))
        {
            var pod = deployment["spec"]!["template"]!["spec"]!;
            Assert.True((bool)pod["securityContext"]!["runAsNonRoot"]!);
            Assert.NotEqual(0, (int)pod["securityContext"]!["runAsUser"]!);
            foreach (var container in pod["containers"]!.AsArray())
            {
                Assert.True((bool)container!["securityContext"]!["readOnlyRootFilesystem"]!);
                Assert.False((bool)container["securityContext"]!["allowPrivilegeEscalation"]!);
                Assert.NotNull(container["resources"]!["requests"]!["cpu"]);
                Assert.NotNull(container["resources"]!["requests"]!["memory"]);
                Assert.NotNull(container["resources"]!["limits"]!["memory"]);
            }
        }
    }

    [Theory]
    [MemberData(nameof(Kustomizations))]
    public async Task ServiceAutoscalerBudgetAndMonitorAllPointAtTheServerPods(string kustomization)
    {
        var documents = await KubernetesManifests.RenderValidAsync(kustomization);
        var deployment = documents.Single("Deployment", "roomhub");
        var podLabels = deployment["spec"]!["template"]!["metadata"]!["labels"]!.AsObject();
        var service = documents.Single("Service", "roomhub");

        AssertSelects(service["spec"]!["selector"]!.AsObject(), podLabels);
        AssertSelects(deployment["spec"]!["selector"]!["matchLabels"]!.AsObject(), podLabels);
        AssertSelects(documents.Single("PodDisruptionBudget")["spec"]!["selector"]!["matchLabels"]!.AsObject(), podLabels);

        var hpa = documents.Single("HorizontalPodAutoscaler")["spec"]!;
        Assert.Equal(("Deployment", "roomhub"), ((string?)hpa["scaleTargetRef"]!["kind"], (string?)hpa["scaleTargetRef"]!["name"]));
        Assert.InRange((int)hpa["minReplicas"]!, 1, (int)hpa["maxReplicas"]!);

        var monitor = documents.Single("ServiceMonitor")["spec"]!;
        AssertSelects(monitor["selector"]!["matchLabels"]!.AsObject(), service["metadata"]!["labels"]!.AsObject());
        var endpoint = Assert.Single(monitor["endpoints"]!.AsArray())!;
        Assert.Equal("/metrics", (string?)endpoint["path"]);
        Assert.Contains(service["spec"]!["ports"]!.AsArray(), p => (string?)p!["name"] == (string?)endpoint["port"]);

        var backend = documents.Single("Ingress")["spec"]!["rules"]![0]!["http"]!["paths"]![0]!["backend"]!["service"]!;
        Assert.Equal("roomhub", (string?)backend["name"]);
        Assert.Contains(service["spec"]!["ports"]!.AsArray(), p => (string?)p!["name"] == (string?)backend["port"]!["name"]);
    }

    [Theory]
    [MemberData(nameof(Kustomizations))]
    public async Task IngressKeepsWebSocketsOpenForAnHourAndPinsNegotiatingClients(string kustomization)
    {
        var documents = await KubernetesManifests.RenderValidAsync(kustomization);
        var annotations = documents.Single("Ingress")["metadata"]!["annotations"]!;

        Assert.Equal("3600", (string?)annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"]);
        Assert.Equal("3600", (string?)annotations["nginx.ingress.kubernetes.io/proxy-send-timeout"]);
        Assert.Equal("cookie", (string?)annotations["nginx.ingress.kubernetes.io/affinity"]);
    }

    [Theory]
    [InlineData("base", true)]
    [InlineData("overlays/dev", true)]
    [InlineData("overlays/prod", false)]
    public async Task TheRedisUrlComesFromASecretThatOnlyProductionLeavesToTheCluster(string kustomization, bool rendered)
    {
        var documents = await KubernetesManifests.RenderValidAsync(kustomization);
        var container = documents.Single("Deployment", "roomhub")["spec"]!["template"]!["spec"]!["containers"]![0]!;

        var secretName = (string?)container["env"]!.AsArray().Single(e => (string?)e!["name"] == "REDIS_URL")!["valueFrom"]!["secretKeyRef"]!["name"];
        Assert.Equal(rendered, documents.OfKind("Secret").Any(s => (string?)s["metadata"]!["name"] == secretName));
        var configMap = (string?)container["envFrom"]![0]!["configMapRef"]!["name"];
        Assert.Contains(documents.OfKind("ConfigMap"), c => (string?)c["metadata"]!["name"] == configMap);
    }

    // Each case breaks the rendered base the way a careless edit would; the check must refuse it and say why.
    [Theory]
    [InlineData("a misspelt field", "readinessProbe:", "readinesProbe:", "readinesProbe")]
    [InlineData("a number as text", "minReplicas: 3", "minReplicas: three", "/spec/minReplicas must be integer")]
    [InlineData("a value outside an enumeration", "type: RuntimeDefault", "type: Default", "seccompProfile/type must be equal to one of the allowed values")]
    [InlineData("an API version that does not exist", "apiVersion: policy/v1\n", "apiVersion: policy/v2\n", "no schema for apiVersion policy/v2")]
    [InlineData("a malformed scrape interval", "interval: 15s", "interval: 15 seconds", "/spec/endpoints/0/interval must match pattern")]
    [InlineData("a malformed quantity", "memory: 512Mi", "memory: lots", "limits/memory must match format \"quantity\"")]
    [InlineData("a missing required field", "  scaleTargetRef:\n", "  scaleTarget:\n", "/spec must have required property scaleTargetRef")]
    public async Task BrokenManifestIsRefused(string breakage, string from, string to, string expected)
    {
        var yaml = await KubernetesManifests.RenderAsync("base");
        Assert.True(yaml.Contains(from, StringComparison.Ordinal), $"the rendered base no longer contains '{from}'");

        var (documents, problems) = await KubernetesManifests.CheckAsync(yaml.Replace(from, to, StringComparison.Ordinal));

        Assert.True(documents is null, $"{breakage} was accepted");
        Assert.Contains(expected, problems, StringComparison.Ordinal);
    }

    private static void AssertSelects(JsonObject selector, JsonObject labels)
    {
        Assert.NotEmpty(selector);
        foreach (var (key, value) in selector)
        {
            Assert.Equal((string?)value, (string?)labels[key]);
        }
    }
}
