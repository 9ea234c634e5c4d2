// Validates Kubernetes manifests offline against the Kubernetes API schemas (kubernetes-models, generated from the
// Kubernetes OpenAPI document) and the prometheus-operator CRD schemas (ServiceMonitor).
// Input: multi-document YAML on stdin (e.g. `kubectl kustomize deploy/k8s/base`) or in the files named as arguments.
// Output: on success, the documents as one JSON array on stdout and exit code 0; otherwise one line per problem on
// stderr, naming the document, and exit code 1. A kind it has no schema for is a problem, not a pass.
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";

const sources = process.argv.length > 2
  ? process.argv.slice(2).map(file => ({ name: file, text: readFileSync(file, "utf8") }))
  : [{ name: "stdin", text: readFileSync(0, "utf8") }];

// apiVersion group → module with the models of that group/version.
function modulePath(apiVersion) {
  if (apiVersion.startsWith("monitoring.coreos.com/")) {
    return `@kubernetes-models/prometheus-operator/${apiVersion}`;
  }
  return `kubernetes-models/${apiVersion}`;
}

const problems = [];
const documents = [];

for (const source of sources) {
  for (const [index, parsed] of parseAllDocuments(source.text).entries()) {
    const where = `${source.name} document ${index + 1}`;
    if (parsed.errors.length) {
      problems.push(...parsed.errors.map(e => `${where}: YAML: ${e.message}`));
      continue;
    }
    const doc = parsed.toJS();
    if (doc === null || doc === undefined) {
      continue;
    }
    const { apiVersion, kind } = doc;
    const name = `${kind ?? "?"}/${doc.metadata?.name ?? "?"} (${where})`;
    if (typeof apiVersion !== "string" || typeof kind !== "string") {
      problems.push(`${name}: apiVersion and kind are required`);
      continue;
    }
    let models;
    try {
      models = await import(modulePath(apiVersion));
    } catch {
      problems.push(`${name}: no schema for apiVersion ${apiVersion}`);
      continue;
    }
    const Model = models[kind];
    if (typeof Model !== "function") {
      problems.push(`${name}: no schema for kind ${kind} in ${apiVersion}`);
      continue;
    }
    try {
      new Model(doc).validate();
      documents.push(doc);
    } catch (error) {
      const details = error.errors?.map(e => `${e.instancePath || "/"} ${e.message}`) ?? [error.message];
      problems.push(...details.map(d => `${name}: ${d}`));
    }
  }
}

if (problems.length) {
  for (const problem of problems) {
    console.error(problem);
  }
  process.exit(1);
}
if (!documents.length) {
  console.error("no manifests in the input");
  process.exit(1);
}
process.stdout.write(JSON.stringify(documents));
