// Copies the GraphiQL files scimeta serves from the packages `npm ci` installed here
// (exact versions, package-lock.json) into the Python package, so that the server needs
// neither Node nor any other host to serve GraphiQL:
//
//   src/scimeta/static/graphiql/assets/vendor/<package>-<version>/<file>
//   src/scimeta/static/graphiql/assets/vendor/manifest.json  (versions, licenses, sha256)
//
// A file's directory names its version, so a browser may keep it for good. Source map
// comments are removed: the maps stay out of the package, and a comment naming a missing
// map would only make developer tools ask for it. The build fails unless the page
// (src/scimeta/static/graphiql/index.html) loads exactly the files it wrote, so a
// version change cannot leave the page pointing at files that are gone.
//
// Run: cd graphiql && npm ci && npm run build

import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const graphiqlDir = join(here, "..", "src", "scimeta", "static", "graphiql");
const vendorDir = join(graphiqlDir, "assets", "vendor");

// package -> [source file in the package, name it is served by], in the page's load order
const FILES = {
  react: [["umd/react.production.min.js", "react.production.min.js"]],
  "react-dom": [["umd/react-dom.production.min.js", "react-dom.production.min.js"]],
  graphiql: [
    ["graphiql.min.css", "graphiql.min.css"],
    ["graphiql.min.js", "graphiql.min.js"],
  ],
  "@graphiql/plugin-explorer": [
    ["dist/style.css", "style.css"],
    ["dist/index.umd.js", "index.umd.js"],
  ],
};

const SOURCE_MAP_COMMENT = /\n?(\/\/# sourceMappingURL=[^\n]*|\/\*# sourceMappingURL=[^*]*\*\/)\s*$/;

function packageJson(name) {
  return JSON.parse(readFileSync(join(here, "node_modules", name, "package.json"), "utf8"));
}

function directoryName(name, version) {
  return `${name.replace(/^@/, "").replace("/", "-")}-${version}`;
}

const pinned = JSON.parse(readFileSync(join(here, "package.json"), "utf8")).dependencies;
rmSync(vendorDir, { recursive: true, force: true });
const manifest = {};
const served = [];
for (const [name, files] of Object.entries(FILES)) {
  const meta = packageJson(name);
  if (pinned[name] !== meta.version) {
    throw new Error(`${name}: package.json pins ${pinned[name]}, node_modules has ${meta.version}; run npm ci`);
  }
  const directory = directoryName(name, meta.version);
  mkdirSync(join(vendorDir, directory), { recursive: true });
  const entry = { version: meta.version, license: meta.license, directory, files: {} };
  for (const [source, target] of files) {
    const text = readFileSync(join(here, "node_modules", name, source), "utf8").replace(
      SOURCE_MAP_COMMENT,
      "\n",
    );
    writeFileSync(join(vendorDir, directory, target), text);
    entry.files[target] = createHash("sha256").update(text).digest("hex");
    served.push(`graphiql/vendor/${directory}/${target}`);
  }
  const license = join(here, "node_modules", name, "LICENSE");
  if (existsSync(license)) {
    writeFileSync(join(vendorDir, directory, "LICENSE"), readFileSync(license));
  }
  manifest[name] = entry;
}
writeFileSync(join(vendorDir, "manifest.json"), JSON.stringify(manifest, null, 2) + "\n");

const page = readFileSync(join(graphiqlDir, "index.html"), "utf8");
const referenced = [...page.matchAll(/(?:src|href)="(graphiql\/vendor\/[^"]+)"/g)].map((m) => m[1]);
const missing = served.filter((path) => !referenced.includes(path));
const stale = referenced.filter((path) => !served.includes(path));
if (missing.length || stale.length) {
  throw new Error(
    `index.html must load exactly the files built: add ${JSON.stringify(missing)}, ` +
      `remove ${JSON.stringify(stale)}`,
  );
}
console.log(`wrote ${served.length} files to ${vendorDir}`);
