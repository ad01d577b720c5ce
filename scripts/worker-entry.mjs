// Writes a worker's entry module: the handlers and Durable Object classes
// its wasm-bindgen module exports, behind workers/common/js/runtime.js.
//
//   node scripts/worker-entry.mjs <build dir>
import { readFileSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const [dir] = process.argv.slice(2);
const runtime = fileURLToPath(new URL("../workers/common/js/runtime.js", import.meta.url));
const index = readFileSync(join(dir, "index.js"), "utf8");
// Classes with a Durable Object's method are the objects.
const objects = index
  .split(/^(?=export )/m)
  .filter((declaration) => /^ {4}(?:fetch|alarm)\(/m.test(declaration))
  .map((declaration) => declaration.match(/^export class ([\w$]+)/)?.[1])
  .filter(Boolean);
const from = `./${relative(dir, runtime)}`;
writeFileSync(
  join(dir, "entry.js"),
  [
    'import * as wasm from "./index.js";',
    `import { entry, durableObject } from ${JSON.stringify(from)};`,
    "export default entry(wasm);",
    ...objects.map((name) => `export const ${name} = durableObject(wasm, ${JSON.stringify(name)});`),
    "",
  ].join("\n"),
);
console.log(`entry: handlers and ${objects.length ? objects.join(", ") : "no objects"}`);
