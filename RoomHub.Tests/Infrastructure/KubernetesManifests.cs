using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using k8s;

namespace RoomHub.Tests.Infrastructure;

/// <summary>
/// The manifests under <c>deploy/k8s</c>, rendered by <c>kubectl kustomize</c> (offline) and checked two ways: against
/// the Kubernetes and prometheus-operator schemas by <c>interop/validate-manifests.mjs</c> (types, required fields,
/// formats, patterns, known kinds), and loaded strictly into the Kubernetes client's models, where a field the API
/// does not have (a typo) is an error, as it is for the API server's strict field validation.
/// </summary>
internal static class KubernetesManifests
{
    private static readonly ConcurrentDictionary<string, Lazy<Task<JsonArray>>> Rendered = new();

    public static async Task<string> RenderAsync(string kustomization)
    {
        var kubectl = RequiredTool.Find("kubectl", "the kubectl package (kustomize v4 or later is built in since kubectl 1.21)");
        var result = await ExternalProcess.RunAsync(kubectl, ["kustomize", Path.Combine("deploy", "k8s", kustomization)]);
        Assert.True(result.ExitCode == 0, $"kubectl kustomize {kustomization} failed: {result}");
        return result.Output;
    }

    /// <summary>Returns the documents when they pass both checks, or the problems found.</summary>
    public static async Task<(JsonArray? Documents, string Problems)> CheckAsync(string yaml)
    {
        var node = RequiredTool.Find("node", "sudo apt-get install -y nodejs npm");
        var interop = Path.Combine(RequiredTool.RepositoryRoot, "RoomHub.Tests", "interop");
        if (!Directory.Exists(Path.Combine(interop, "node_modules", "kubernetes-models")))
        {
            throw new InvalidOperationException($"The schema validator is not installed: run 'npm ci' in {interop}.");
        }

        var result = await ExternalProcess.RunAsync(node, [Path.Combine(interop, "validate-manifests.mjs")], input: yaml);
        if (result.ExitCode != 0)
        {
            return (null, result.Error);
        }

        var documents = JsonNode.Parse(result.Output)!.AsArray();
        var problems = new List<string>();
        foreach (var document in documents.OfType<JsonObject>())
        {
            if (((string?)document["apiVersion"])?.StartsWith("monitoring.coreos.com/", StringComparison.Ordinal) == true)
            {
                continue; // A custom resource: the client has no model for it, the schema check above covered it.
            }

            try
            {
                KubernetesYaml.LoadAllFromString(document.ToJsonString(), typeMap: null, strict: true);
            }
            catch (Exception ex)
            {
                problems.Add($"{document["kind"]}/{document["metadata"]?["name"]}: {ex.Message} {ex.InnerException?.Message}");
            }
        }

        return problems.Count == 0 ? (documents, "") : (null, string.Join(Environment.NewLine, problems));
    }

    /// <summary>The documents of a kustomization that passed both checks; rendered once per run (read them, do not change them).</summary>
    public static Task<JsonArray> RenderValidAsync(string kustomization) =>
        Rendered.GetOrAdd(kustomization, k => new Lazy<Task<JsonArray>>(() => RenderAndCheckAsync(k))).Value;

    private static async Task<JsonArray> RenderAndCheckAsync(string kustomization)
    {
        var (documents, problems) = await CheckAsync(await RenderAsync(kustomization));
        Assert.True(documents is not null, $"{kustomization} does not pass validation:{Environment.NewLine}{problems}");
        return documents;
    }

    public static JsonObject Single(this JsonArray documents, string kind, string? name = null) =>
        Assert.Single(documents.OfType<JsonObject>(), d => (string?)d["kind"] == kind && (name is null || (string?)d["metadata"]?["name"] == name));

    public static IEnumerable<JsonObject> OfKind(this JsonArray documents, string kind) =>
        documents.OfType<JsonObject>().Where(d => (string?)d["kind"] == kind);
}
