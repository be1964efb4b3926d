// Builds the dashboard into the Python package, so that an installed scimeta serves it
// without Node and without any other host:
//
//   src/scimeta/static/dashboard/index.html
//   src/scimeta/static/dashboard/assets/dashboard.js    src/*.js bundled and minified
//   src/scimeta/static/dashboard/assets/dashboard.css   src/dashboard.css minified
//   src/scimeta/static/dashboard/assets/favicon.svg
//   src/scimeta/static/dashboard/assets/documents.json  the trusted documents of
//       frontend-queries/, by `scimeta documents build` (the server's own manifest
//       builder): the page sends their ids, the server knows them by the same file
//   src/scimeta/static/dashboard/build.json             the SHA-256 of each source
//       file it was built from (tests/dashboard checks the build is current)
//
// Run: cd dashboard && npm ci && npm run build
// (SCIMETA names the scimeta command; default: ../.venv/bin/scimeta)

import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..");
const source = join(here, "src");
const output = join(root, "src", "scimeta", "static", "dashboard");
const assets = join(output, "assets");
const queries = join(root, "frontend-queries");
const scimeta = process.env.SCIMETA ?? join(root, ".venv", "bin", "scimeta");

if (!existsSync(scimeta) && !process.env.SCIMETA) {
  throw new Error(`${scimeta} not found: install scimeta (pip install -e .) or set SCIMETA`);
}

rmSync(output, { recursive: true, force: true });
mkdirSync(assets, { recursive: true });

execFileSync(scimeta, ["documents", "build", queries, "-o", join(assets, "documents.json")], {
  stdio: "inherit",
});

const common = { bundle: true, minify: true, legalComments: "none", logLevel: "warning" };
await esbuild.build({
  ...common,
  entryPoints: [join(source, "main.js")],
  outfile: join(assets, "dashboard.js"),
  format: "esm",
  target: ["es2022"],
});
await esbuild.build({
  ...common,
  entryPoints: [join(source, "dashboard.css")],
  outfile: join(assets, "dashboard.css"),
});
copyFileSync(join(source, "favicon.svg"), join(assets, "favicon.svg"));
copyFileSync(join(source, "index.html"), join(output, "index.html"));

const sha256 = (path) => createHash("sha256").update(readFileSync(path)).digest("hex");
const sources = {};
for (const name of readdirSync(source).sort()) {
  sources[relative(root, join(source, name))] = sha256(join(source, name));
}
for (const name of readdirSync(queries, { recursive: true }).sort()) {
  if (name.endsWith(".graphql")) {
    sources[relative(root, join(queries, name))] = sha256(join(queries, name));
  }
}
writeFileSync(join(output, "build.json"), JSON.stringify({ sources }, null, 2) + "\n");
console.log(`built the dashboard into ${relative(root, output)}`);
