// Builds the gateway's static assets: the API reference page at /docs
// (workers/gateway/docs) with Swagger UI's browser bundle from node_modules,
// into the [assets] directory wrangler-gateway.toml names (gitignored).
// Nothing is loaded from elsewhere at run time.
//
//   node scripts/docs-assets.mjs
import { copyFileSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { parse } from "smol-toml";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const config = parse(readFileSync(join(root, "wrangler-gateway.toml"), "utf8"));
const out = join(root, config.assets.directory, "docs");
const page = join(root, "workers/gateway/docs");
const swaggerUi = dirname(createRequire(import.meta.url).resolve("swagger-ui-dist/package.json"));

// Swagger UI's files: its bundle, its style sheet without the source-map
// comment (the map is not shipped), its icon and licences.
const VENDORED = {
  "swagger-ui-bundle.js": null,
  "swagger-ui.css": (text) => text.replace(/\/\*# sourceMappingURL=[^*]*\*\/\s*$/, ""),
  "swagger-ui-bundle.js.LICENSE.txt": null,
  "favicon-32x32.png": null,
};

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
for (const [name, edit] of Object.entries(VENDORED)) {
  const from = join(swaggerUi, name);
  if (edit) writeFileSync(join(out, name), edit(readFileSync(from, "utf8")));
  else copyFileSync(from, join(out, name));
}
copyFileSync(join(swaggerUi, "LICENSE"), join(out, "swagger-ui-LICENSE.txt"));
for (const name of readdirSync(page)) copyFileSync(join(page, name), join(out, name));

const files = readdirSync(out);
const bytes = files.reduce((sum, name) => sum + statSync(join(out, name)).size, 0);
const gzip = files.reduce((sum, name) => sum + gzipSync(readFileSync(join(out, name))).length, 0);
const version = JSON.parse(readFileSync(join(swaggerUi, "package.json"), "utf8")).version;
console.log(`docs assets: Swagger UI ${version}, ${files.length} files, ${(bytes / 1024).toFixed(0)} KiB (gzip ${(gzip / 1024).toFixed(0)} KiB)`);
