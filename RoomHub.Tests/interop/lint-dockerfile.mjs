// Lints a Dockerfile with dockerfile-utils (the checks of the Dockerfile language server: unknown instructions and
// flags, bad arguments, durations, ports, signals, stage names). Prints one line per problem and exits 1 if any.
// Usage: node lint-dockerfile.mjs path/to/Dockerfile
import { readFileSync } from "node:fs";
import { validate } from "dockerfile-utils";

const file = process.argv[2];
if (!file) {
  console.error("usage: node lint-dockerfile.mjs <Dockerfile>");
  process.exit(2);
}

const diagnostics = validate(readFileSync(file, "utf8"));
for (const d of diagnostics) {
  const severity = d.severity === 1 ? "error" : d.severity === 2 ? "warning" : "info";
  console.error(`${file}:${d.range.start.line + 1}:${d.range.start.character + 1}: ${severity}: ${d.message}`);
}
process.exit(diagnostics.length ? 1 : 0);
