// Builds the floor workers into bench/floor/build/<variant>/ (run alone:
// `node bench/floor/build.mjs`; floor.mjs calls it first).
//
// Three ways in:
// - worker-build 0.8.7, as the product builds (`worker-build --release`,
//   then the product's name-stripping wasm-opt pass);
// - the own pipeline, no worker-build: cargo, the wasm-bindgen CLI with
//   `--target module --experimental-reset-state-function
//   --force-enable-abort-handler` (the flags worker-build passes), one
//   wasm-opt pass, and esbuild over a generated plain entry
//   (the product's workers/common/js/runtime.js);
// - JavaScript, as it is, or bundled behind worker-build's own shim text.
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

export const FLOOR = dirname(fileURLToPath(import.meta.url));
const ROOT = join(FLOOR, "../..");
const BUILD = join(FLOOR, "build");
const BIN = join(ROOT, "node_modules/.bin");
const WASM_BINDGEN = process.env.WASM_BINDGEN_BIN ?? join(homedir(), ".cargo/bin/wasm-bindgen");
const WORKER_BUILD = join(homedir(), ".cargo/bin/worker-build");
const TARGET_WASM = join(FLOOR, "target/wasm32-unknown-unknown/release");

/** The features workerd supports, as worker-build and the product pass them. */
const WASM_FEATURES = [
  "mutable-globals",
  "sign-ext",
  "nontrapping-float-to-int",
  "bulk-memory",
  "multivalue",
  "reference-types",
  "exception-handling",
].map((feature) => `--enable-${feature}`);

const TOOL_ENV = {
  ...process.env,
  PATH: `${BIN}:${join(homedir(), ".cargo/bin")}:${process.env.PATH}`,
  WASM_BINDGEN_BIN: WASM_BINDGEN,
  ESBUILD_BIN: join(BIN, "esbuild"),
  WASM_OPT_BIN: join(BIN, "wasm-opt"),
  // worker-build sets this for its cargo run (async exports through
  // js_sys::futures); the same here keeps one cargo cache for both ways in.
  WASM_BINDGEN_USE_JS_SYS: "1",
};

/** What the KV workers answer: the value of key "k". */
export const KV_VALUE = '{"id":"1","name":"Ada Lovelace","email":"ada@example.com"}';

/** How each variant is built: `kind` and, for Rust, its crate. */
export const VARIANTS = {
  "js-now": { kind: "js", file: "now.js" },
  "js-await": { kind: "js", file: "await.js" },
  "js-shim": { kind: "js-shim", file: "shimmed.js" },
  "rust-event": { kind: "worker-build", crate: "hello-event" },
  "rust-export-shim": { kind: "worker-build", crate: "hello-export" },
  "rust-export-plain": { kind: "own", crate: "hello-export" },
  calls: { kind: "js", file: "calls.js" },
  "kv-js": { kind: "js", file: "kv.js" },
  "kv-event": { kind: "worker-build", crate: "kv-event" },
  "kv-wbf-plain": { kind: "own", crate: "kv-wbf" },
  "kv-exec-plain": { kind: "own", crate: "kv-exec" },
  "kv-exec-shim": { kind: "worker-build", crate: "kv-exec" },
  "await-js": { kind: "js", file: "awaitvalue.js" },
  "await-event": { kind: "worker-build", crate: "await-event" },
  "await-wbf-plain": { kind: "own", crate: "await-wbf" },
  "await-exec-plain": { kind: "own", crate: "await-exec" },
  "await-exec-shim": { kind: "worker-build", crate: "await-exec" },
  "pipeline-demo": { kind: "own", crate: "pipeline-demo" },
};

/**
 * Builds every variant (or those named). Returns, per variant, where its
 * module is and what it weighs, and the seconds each build took (its
 * cargo run included).
 */
export function buildAll(names = Object.keys(VARIANTS)) {
  const timings = {};
  const built = {};
  for (const name of names) {
    const variant = VARIANTS[name];
    const began = performance.now();
    built[name] = BUILDERS[variant.kind](name, variant);
    timings[name] = seconds(began);
  }
  return { built, timings };
}

const BUILDERS = {
  js(_name, { file }) {
    const dir = join(FLOOR, "js");
    return { dir, script: join(dir, file), ...jsSize(join(dir, file)) };
  },

  /** worker-build's shim text around a JavaScript module, bundled as worker-build bundles it. */
  "js-shim"(name, { file }) {
    const dir = fresh(name);
    cpSync(join(FLOOR, "js", file), join(dir, "index.js"));
    const index = readFileSync(join(dir, "index.js"), "utf8");
    writeFileSync(join(dir, "shim.js"), workerBuildShim().replace("$HANDLERS", generateHandlers(index)));
    esbuild(dir, "./shim.js", "index.js", ["--allow-overwrite"]);
    rmSync(join(dir, "shim.js"));
    return { dir, script: join(dir, "index.js"), ...jsSize(join(dir, "index.js")) };
  },

  "worker-build"(name, { crate }) {
    const crateDir = join(FLOOR, "crates", crate);
    run(WORKER_BUILD, ["--release"], { cwd: crateDir });
    const dir = fresh(name);
    cpSync(join(crateDir, "build"), dir, { recursive: true });
    // The product's second pass (scripts/build-worker.sh): drop the names section.
    wasmOpt(join(dir, "index_bg.wasm"), ["--strip-debug", "--strip-producers"]);
    return { dir, script: join(dir, "index.js"), ...rustSize(dir, "index.js") };
  },

  own(name, { crate }) {
    // As worker-build runs cargo: in the crate, its library alone (a
    // workspace-wide build would unify features across crates and differ).
    run("cargo", ["build", "--lib", "--release", "--target", "wasm32-unknown-unknown"], { cwd: join(FLOOR, "crates", crate) });
    const dir = fresh(name);
    const wasm = join(TARGET_WASM, `${crate.replaceAll("-", "_")}.wasm`);
    run(WASM_BINDGEN, [
      wasm,
      "--out-dir",
      dir,
      "--out-name",
      "index",
      "--target",
      "module",
      "--no-typescript",
      "--experimental-reset-state-function",
      "--force-enable-abort-handler",
    ]);
    wasmOpt(join(dir, "index_bg.wasm"), ["-Os", "--strip-debug", "--strip-producers"]);
    writeFileSync(join(dir, "entry.js"), plainEntry(readFileSync(join(dir, "index.js"), "utf8")));
    // wasm-bindgen lists a snippet imported two ways twice in its imports object (the same module).
    esbuild(dir, "./entry.js", "worker.js", ["--log-override:duplicate-object-key=silent"]);
    // As worker-build does: esbuild keeps the source-phase import; workerd takes a plain one.
    const bundle = join(dir, "worker.js");
    writeFileSync(bundle, readFileSync(bundle, "utf8").replace("import source ", "import "));
    for (const leftover of ["index.js", "entry.js", "snippets"]) rmSync(join(dir, leftover), { recursive: true, force: true });
    return { dir, script: bundle, ...rustSize(dir, "worker.js") };
  },
};

/**
 * The generated plain entry: the handlers the module exports, and each
 * class with a Durable Object's method (`fetch`, `alarm`, `webSocket*`) as
 * a Durable Object. (worker-build wraps every exported class, the worker
 * crate's `R2Range` and the like included.)
 */
export function plainEntry(index) {
  const classes = index
    .split(/^(?=export )/m)
    .filter((declaration) => /^ {4}(?:fetch|alarm|webSocketMessage)\(/m.test(declaration))
    .map((declaration) => declaration.match(/^export class ([\w$]+)/)?.[1])
    .filter(Boolean);
  const runtime = JSON.stringify(join(ROOT, "workers/common/js/runtime.js"));
  return [
    'import * as wasm from "./index.js";',
    `import { entry, durableObject } from ${runtime};`,
    "export default entry(wasm);",
    ...classes.map((name) => `export const ${name} = durableObject(wasm, ${JSON.stringify(name)});`),
    "",
  ].join("\n");
}

function exportedNames(text, pattern) {
  return text
    .split("\n")
    .map((line) => line.match(pattern)?.[1])
    .filter(Boolean);
}

/** worker-build 0.8.7's shim.js, from the crate's source in the cargo registry. */
function workerBuildShim() {
  const registry = join(homedir(), ".cargo/registry/src");
  for (const index of readdirSync(registry)) {
    const path = join(registry, index, "worker-build-0.8.7/src/js/shim.js");
    if (existsSync(path)) return readFileSync(path, "utf8");
  }
  throw new Error("worker-build 0.8.7's source is not in the cargo registry (cargo install worker-build --version 0.8.7)");
}

/** A port of worker-build 0.8.7's generate_handlers (main.rs) for a one-line-per-export module. */
function generateHandlers(index) {
  const system = ["__wbg_reset_state", "__worker_init_state"];
  const entrypoints = ["fetch", "queue", "scheduled", "email", "connect"];
  return exportedNames(index, /^export (?:async )?function ([\w$]+)\s*\(/)
    .filter((name) => !system.includes(name))
    .map((name) =>
      entrypoints.includes(name)
        ? `Entrypoint.prototype.${name} = function ${name} (arg) {\n  return exports.${name}.call(this, arg, this.env, this.ctx);\n}\n`
        : `Entrypoint.prototype.${name} = exports.${name};\n`,
    )
    .join("");
}

function esbuild(dir, input, output, extra = []) {
  const args = [input, "--bundle", "--format=esm", "--external:./index_bg.wasm", "--external:cloudflare:*"];
  run(join(BIN, "esbuild"), [...args, `--outfile=${output}`, "--minify", "--log-level=warning", ...extra], { cwd: dir });
}

function wasmOpt(file, passes) {
  run(join(BIN, "wasm-opt"), [file, "-o", file, ...passes, ...WASM_FEATURES]);
}

function rustSize(dir, script) {
  const wasm = readFileSync(join(dir, "index_bg.wasm"));
  const js = readFileSync(join(dir, script));
  return {
    wasmKiB: kib(wasm.length),
    wasmGzipKiB: kib(gzipSync(wasm, { level: 9 }).length),
    jsGzipKiB: kib(gzipSync(js, { level: 9 }).length),
  };
}

function jsSize(file) {
  return { jsGzipKiB: kib(gzipSync(readFileSync(file), { level: 9 }).length) };
}

function fresh(name) {
  const dir = join(BUILD, name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  return dir;
}

function run(command, args, options = {}) {
  execFileSync("nice", [command, ...args], { stdio: ["ignore", "inherit", "inherit"], env: TOOL_ENV, ...options });
}

function seconds(since) {
  return (performance.now() - since) / 1000;
}

function kib(bytes) {
  return bytes / 1024;
}

/** Miniflare options for a built variant. */
export function variantOptions(variant, extra = {}) {
  const { dir, script } = variantModule(variant);
  return {
    name: variant,
    modules: true,
    scriptPath: script,
    modulesRoot: dir,
    modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"] }],
    compatibilityDate: "2026-07-01",
    ...extra,
  };
}

/**
 * Miniflare options for a driver worker that imports the variant's module
 * and calls its `fetch` handler `n` times per request (`?n=`) in the same
 * isolate, as the runtime would: a plain object's method with
 * (request, env, ctx), or a class (worker-build's shim) constructed with
 * (ctx, env) per call. The runtime's own per-request dispatch is left out;
 * what the variant's JS and wasm do per call is nearly all that remains.
 */
export function loopOptions(variant, extra = {}) {
  const { dir, script } = variantModule(variant);
  const loopDir = join(BUILD, `loop-${variant}`);
  rmSync(loopDir, { recursive: true, force: true });
  cpSync(dir, loopDir, { recursive: true, filter: (path) => !path.includes(`${BUILD}/loop-`) });
  const target = script.slice(dir.length + 1);
  writeFileSync(join(loopDir, "driver.js"), loopDriver(`./${target}`));
  const options = variantOptions(variant, extra);
  return {
    ...options,
    name: `loop-${variant}`,
    scriptPath: join(loopDir, "driver.js"),
    modulesRoot: loopDir,
    // The driver imports the variant's .js module, which Miniflare would otherwise take as CommonJS.
    modulesRules: [...options.modulesRules, { type: "ESModule", include: ["**/*.js"] }],
  };
}

function loopDriver(target) {
  return `import target from ${JSON.stringify(target)};
const isClass = typeof target === "function";
export default {
  async fetch(request, env, ctx) {
    const n = Number(new URL(request.url).searchParams.get("n") ?? 100);
    const inner = new Request("http://target/");
    for (let i = 0; i < n; i += 1) {
      let response = isClass ? new target(ctx, env).fetch(inner) : target.fetch(inner, env, ctx);
      if (typeof response?.then === "function") response = await response;
      if (response.status !== 200) return new Response("target answered " + response.status, { status: 502 });
    }
    return new Response("ok");
  },
};
`;
}

function variantModule(variant) {
  const { kind, file } = VARIANTS[variant];
  if (kind === "js") return { dir: join(FLOOR, "js"), script: join(FLOOR, "js", file) };
  const dir = join(FLOOR, "build", variant);
  return { dir, script: join(dir, kind === "own" ? "worker.js" : "index.js") };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const names = process.argv.slice(2);
  const { built, timings } = buildAll(names.length ? names : undefined);
  for (const [name, { script, ...size }] of Object.entries(built)) {
    console.log(name.padEnd(20), JSON.stringify(size), `${timings[name].toFixed(1)} s`, script);
  }
}
