// The floor benchmark (issue 12): what a request costs before any handler
// code, worker by worker, measured as bench/bench.mjs measures the product.
//
//   bash -c 'source scripts/env.sh; node bench/floor/floor.mjs'
//
// (scripts/env.sh puts node_modules/.bin first on PATH: Node 22, esbuild,
// wasm-opt; wrk must be installed.) It rebuilds every variant
// (build.mjs), proves the own pipeline's Durable Object, queue and panic
// recovery (demo.mjs), then runs each variant in its own Miniflare 4
// (workerd) on a loopback port and drives it with `wrk -t1 -c8`, all
// targets in turn per round, FLOOR_ROUNDS rounds (7) of FLOOR_DURATION
// seconds (3) after a 1 s warm-up each; medians per target (and the lowest
// CPU per request, as other work on the machine only adds to it). CPU per
// request is the workerd process's user + system time over the requests
// wrk counted. Three views of the floors: over HTTP as the product is
// measured; "amplified", a JS driver calling the variant 20 times over a
// service binding per request; "loop", a driver module calling the
// variant's fetch handler 200 times per request inside one isolate (the
// finest view of the JS and wasm glue). About 25 minutes. It writes
// bench/floor/RESULTS-floor.md (keeping any hand-written reading below
// its marker line).
//
// Settings: FLOOR_ROUNDS, FLOOR_DURATION, FLOOR_SKIP_BUILD=1 (use
// bench/floor/build as it is), FLOOR_ONLY=<regex over target names>,
// FLOOR_RESULTS=<path> (write there instead).
import { Miniflare } from "miniflare";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { loadavg } from "node:os";
import { join } from "node:path";
import { cpuMillis, workerdChildren } from "../cpu.mjs";
import { median } from "../stats.mjs";
import { runWrk, WRK, wrkSettings } from "../wrk.mjs";
import { buildAll, FLOOR, KV_VALUE, loopOptions, VARIANTS, variantOptions } from "./build.mjs";
import { prove } from "./demo.mjs";

const ROUNDS = Number(process.env.FLOOR_ROUNDS ?? 7);
const DURATION = Number(process.env.FLOOR_DURATION ?? 3);
const WARM_UP_SECS = 1;
const ONLY = process.env.FLOOR_ONLY ? new RegExp(process.env.FLOOR_ONLY) : undefined;
const CALLS = [
  "headersGet",
  "headersSet",
  "headersCopy",
  "decode",
  "request",
  "response",
  "abortTimeout",
  "consoleLog",
  "await",
  "closureRegistered",
];
/** Calls per request: 200 lifts a call of 1 µs well above the noise of a request. */
const KS = [1, 200];
/** Handler calls per request in the loop rows (driver and variant in one isolate). */
const LOOP = { floor: 200, kv: 20 };
/** Service-binding calls a driver worker makes per request in the amplified rows. */
const AMPLIFY = 20;
const DRIVER = `export default {
  async fetch(request, env) {
    for (let i = 0; i < ${AMPLIFY}; i += 1) {
      const response = await env.TARGET.fetch("http://target/");
      await response.arrayBuffer();
      if (response.status !== 200) return new Response("target answered " + response.status, { status: 502 });
    }
    return new Response("ok");
  },
};`;

/** The floors: each answers a fixed 200 "ok". */
const FLOORS = [
  ["js-now", "(a) JS, answers at once"],
  ["js-await", "(b) JS, awaits once"],
  ["js-shim", "(c) JS behind worker-build's shim"],
  ["rust-event", "(d) Rust `#[event(fetch)]` (worker-build)"],
  ["rust-export-shim", "(e) Rust sync export, worker-build's shim"],
  ["rust-export-plain", "(f) Rust sync export, own plain entry"],
];

/** One KV get answered as the body. */
const KV = [
  ["kv-js", "JS (reference)"],
  ["kv-event", "Rust `#[event(fetch)]`, worker-build's shim, JsFuture"],
  ["kv-wbf-plain", "Rust async export (wasm-bindgen-futures), own plain entry"],
  ["kv-exec-plain", "Rust sync export + own executor (JsAwait), own plain entry"],
  ["kv-exec-shim", "Rust sync export + own executor, worker-build's shim"],
];

/** One resolved JS promise awaited, its value answered: the await machinery alone. */
const AWAIT = [
  ["await-js", "JS (reference)"],
  ["await-event", "Rust `#[event(fetch)]`, worker-build's shim, JsFuture"],
  ["await-wbf-plain", "Rust async export (wasm-bindgen-futures), own plain entry"],
  ["await-exec-plain", "Rust sync export + own executor (JsAwait), own plain entry"],
  ["await-exec-shim", "Rust sync export + own executor, worker-build's shim"],
];

const running = [];

async function main() {
  const started = performance.now();
  let built = {};
  let timings = {};
  if (process.env.FLOOR_SKIP_BUILD) {
    log("using bench/floor/build as it is");
  } else {
    log("building the floor workers");
    ({ built, timings } = buildAll());
  }
  log("proving the own pipeline: plain entry, Durable Object on SQLite, queue, panic recovery");
  const proofs = await prove();
  for (const line of proofs) console.log(`    ${line}`);

  const targets = await startTargets();
  await checkTargets(targets);
  const { results, load } = await measure(targets);
  const report = render({ results, load, built, timings, proofs });
  const path = process.env.FLOOR_RESULTS ?? join(FLOOR, "RESULTS-floor.md");
  writeFileSync(path, report + keptReading(path));
  console.log(`\n${report}`);
  log(`written to ${path} (${((performance.now() - started) / 1000).toFixed(0)} s)`);
}

/** Every target wrk drives: a variant's Miniflare and a path. */
async function startTargets() {
  const wanted = (name) => !ONLY || ONLY.test(name);
  const specs = [
    ...FLOORS.map(([variant]) => ({ name: variant, variant, path: "/", body: "ok" })),
    { name: "calls none", variant: "calls", path: "/none/1", body: "ok" },
    ...CALLS.flatMap((call) => KS.map((k) => ({ name: `calls ${call} ${k}`, variant: "calls", path: `/${call}/${k}`, body: "ok" }))),
    ...KV.map(([variant]) => ({ name: variant, variant, path: "/", body: KV_VALUE, kv: true })),
    ...AWAIT.map(([variant]) => ({ name: variant, variant, path: "/", body: "value" })),
    ...FLOORS.map(([variant]) => ({ name: `amplified ${variant}`, variant, path: "/", body: "ok", amplified: true })),
    ...FLOORS.map(([variant]) => ({ name: `loop ${variant}`, variant, path: `/?n=${LOOP.floor}`, body: "ok", loop: LOOP.floor })),
    ...AWAIT.map(([variant]) => ({ name: `loop ${variant}`, variant, path: `/?n=${LOOP.floor}`, body: "ok", loop: LOOP.floor })),
    ...KV.map(([variant]) => ({ name: `loop ${variant}`, variant, path: `/?n=${LOOP.kv}`, body: "ok", kv: true, loop: LOOP.kv })),
  ].filter(({ name }) => wanted(name));
  const key = (spec) => `${spec.amplified ? "amplified " : spec.loop ? "loop " : ""}${spec.variant}`;
  log(`starting ${new Set(specs.map(key)).size} Miniflare instances`);
  const systems = {};
  for (const spec of specs) {
    systems[key(spec)] ??= await startVariant(spec.variant, spec);
  }
  return specs.map((spec) => ({ ...spec, url: systems[key(spec)].url + spec.path, pids: systems[key(spec)].pids }));
}

/**
 * A variant in its own Miniflare; `amplified`: behind a driver worker that
 * calls it AMPLIFY times over a service binding per request.
 */
async function startVariant(variant, { kv, amplified, loop }) {
  const before = new Set(workerdChildren());
  const bindings = kv ? { kvNamespaces: { KV: "floor-kv" } } : {};
  const options = loop ? loopOptions(variant, bindings) : variantOptions(variant, bindings);
  const workers = amplified
    ? [{ name: "driver", modules: true, script: DRIVER, compatibilityDate: options.compatibilityDate, serviceBindings: { TARGET: variant } }, options]
    : [options];
  const mf = new Miniflare({ host: "127.0.0.1", port: 0, handleRuntimeStdio: drain, workers });
  const url = (await mf.ready).toString().replace(/\/$/, "");
  if (kv) await (await mf.getKVNamespace("KV", options.name)).put("k", KV_VALUE);
  const system = { url, mf, pids: workerdChildren().filter((pid) => !before.has(pid)) };
  running.push(system);
  return system;
}

function drain(stdout, stderr) {
  stdout.resume();
  stderr.resume();
}

async function checkTargets(targets) {
  for (const target of targets) {
    const response = await fetch(target.url);
    const body = await response.text();
    if (response.status !== 200 || body !== target.body) {
      throw new Error(`${target.name} answered ${response.status} ${JSON.stringify(body.slice(0, 200))}`);
    }
  }
}

async function measure(targets) {
  log(`warm-up: ${WARM_UP_SECS} s per target (${targets.length} targets)`);
  for (const target of targets) await load(target, WARM_UP_SECS);
  const before = loadavg()[0];
  const samples = Object.fromEntries(targets.map(({ name }) => [name, []]));
  for (let round = 1; round <= ROUNDS; round += 1) {
    log(`round ${round} of ${ROUNDS}: ${targets.length} runs of ${DURATION} s (load average ${loadavg()[0].toFixed(1)})`);
    for (const target of targets) {
      const result = await load(target, DURATION);
      samples[target.name].push(result);
      console.log(
        `    ${target.name.padEnd(28)} ${result.rps.toFixed(0).padStart(6)} req/s  p50 ${result.p50.toFixed(2)} ms  CPU ${(result.cpu * 1000).toFixed(0)} µs/req`,
      );
    }
  }
  const results = Object.fromEntries(
    Object.entries(samples).map(([name, runs]) => {
      const of = (field) => median(runs.map((run) => run[field]));
      const lowestCpu = Math.min(...runs.map((run) => run.cpu).filter(Number.isFinite));
      return [name, { rps: of("rps"), p50: of("p50"), cpu: of("cpu"), lowestCpu, runs }];
    }),
  );
  return { results, load: { before, after: loadavg()[0] } };
}

async function load(target, duration) {
  const cpuBefore = cpuMillis(target.pids);
  const result = await runWrk(target.url, { duration });
  result.cpu = (cpuMillis(target.pids) - cpuBefore) / Math.max(result.requests, 1);
  if (result.non2xx || result.errors) console.log(`    ${target.name}: ${result.non2xx} non-2xx, ${result.errors}`);
  return result;
}

const READING_MARK = "<!-- written by hand below this line; floor.mjs keeps it -->";

/** The hand-written reading of an earlier run, kept below the new tables. */
function keptReading(path) {
  const previous = existsSync(path) ? readFileSync(path, "utf8") : "";
  const at = previous.indexOf(READING_MARK);
  return at < 0 ? "" : `\n${previous.slice(at)}`;
}

function render({ results, load, built, timings, proofs }) {
  const version = (pkg) => createRequire(createRequire(import.meta.url).resolve("miniflare"))(`${pkg}/package.json`).version;
  const cores = execFileSync("nproc").toString().trim();
  const lines = [
    "# Floor benchmark: the fixed cost per request (issue 12)",
    "",
    `Written by \`node bench/floor/floor.mjs\` on ${new Date().toISOString().replace(/\.\d+Z$/, "Z")}.`,
    "",
    `- machine: ${cores} cores, shared; Node ${process.version}; workerd ${version("workerd")} through miniflare ${createRequire(import.meta.url)("miniflare/package.json").version}`,
    `- 1-minute load average ${load.before.toFixed(1)} before the rounds, ${load.after.toFixed(1)} after (wrk and workerd add about 2)`,
    `- \`${wrkSettings().replace(/-d\d+s/, `-d${DURATION}s`)}\` against 127.0.0.1, one Miniflare (workerd) per variant, ${ROUNDS} rounds taking turns over all targets after a ${WARM_UP_SECS} s warm-up each; medians`,
    "- CPU/req: the variant's workerd process (user + system) over the requests wrk counted, in µs; it includes workerd's HTTP handling and Miniflare's entry worker, the same for every row, so differences between rows are the figure to read. It moves much less than req/s when the machine is busy.",
    "",
  ];
  const floorBase = results["js-now"];
  if (floorBase) {
    lines.push("## The floors: a fixed 200 \"ok\"", "");
    lines.push("| variant | req/s | × (a) | p50 ms | CPU µs/req | CPU above (a), µs | lowest CPU µs/req | lowest above (a) | wasm gzip KiB | JS gzip KiB |");
    lines.push("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (const [name, label] of FLOORS) {
      const result = results[name];
      if (!result) continue;
      lines.push(row(label, result, floorBase, built[name]));
    }
    lines.push("");
  }
  const callsTable = renderCalls(results);
  if (callsTable.length) lines.push(...callsTable, "");
  for (const [title, variants] of [
    ["One KV get answered as the body", KV],
    ["One resolved JS promise awaited, its value answered", AWAIT],
  ]) {
    const base = results[variants[0][0]];
    if (!base) continue;
    lines.push(`## ${title}`, "");
    lines.push("| variant | req/s | × JS | p50 ms | CPU µs/req | CPU above JS, µs | lowest CPU µs/req | lowest above JS | wasm gzip KiB | JS gzip KiB |");
    lines.push("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (const [name, label] of variants) {
      const result = results[name];
      if (!result) continue;
      lines.push(row(label, result, base, built[name]));
    }
    lines.push("");
  }
  lines.push(...renderAmplified(results, "js-now", FLOORS, "(a)"));
  lines.push(
    ...renderLoop(results, "js-now", FLOORS, "(a)", LOOP.floor, "The floors"),
    ...renderLoop(results, "await-js", AWAIT, "JS", LOOP.floor, "One resolved promise awaited"),
    ...renderLoop(results, "kv-js", KV, "JS", LOOP.kv, "One KV get"),
  );
  lines.push("## Every round", "", "req/s and CPU µs/req per round, in the order run:", "");
  for (const [name, { runs }] of Object.entries(results)) {
    lines.push(`- ${name}: ${runs.map((run) => `${run.rps.toFixed(0)} / ${(run.cpu * 1000).toFixed(0)}`).join(", ")}`);
  }
  lines.push("");
  if (Object.keys(timings).length) {
    lines.push("## Build times (this run; each includes its cargo run, warm cache)", "");
    for (const [name, variant] of Object.entries(VARIANTS)) {
      if (timings[name] !== undefined && variant.kind !== "js") lines.push(`- ${name} (${variant.kind}): ${timings[name].toFixed(1)} s`);
    }
    lines.push("");
  }
  lines.push("## Proofs (demo.mjs)", "", ...proofs.map((line) => `- ${line}`), "");
  return lines.join("\n");
}

/**
 * The amplified rows: CPU per service-binding call (the driver's request
 * divided by AMPLIFY), where the fixed HTTP cost of each wrk request is
 * spread over AMPLIFY calls of the variant.
 */
function renderAmplified(results, baseName, variants, baseLabel) {
  const base = results[`amplified ${baseName}`];
  if (!base) return [];
  const perCall = (value) => (value * 1000) / AMPLIFY;
  const lines = [
    `### The floors, amplified: ${AMPLIFY} service-binding calls per request`,
    "",
    `A JS driver worker in the same workerd calls the variant ${AMPLIFY} times in a row per wrk request; CPU is per call (workerd CPU per request / ${AMPLIFY}), so the HTTP front and Miniflare's entry worker weigh ${AMPLIFY} times less.`,
    "",
    `| variant | calls/s | CPU µs/call | above ${baseLabel}, µs | lowest CPU µs/call | lowest above ${baseLabel} |`,
    "|---|---:|---:|---:|---:|---:|",
  ];
  for (const [name, label] of variants) {
    const result = results[`amplified ${name}`];
    if (!result) continue;
    lines.push(
      `| ${label} | ${(result.rps * AMPLIFY).toFixed(0)} | ${perCall(result.cpu).toFixed(0)} | ${(perCall(result.cpu) - perCall(base.cpu)).toFixed(0)} | ${perCall(result.lowestCpu).toFixed(0)} | ${(perCall(result.lowestCpu) - perCall(base.lowestCpu)).toFixed(0)} |`,
    );
  }
  lines.push("");
  return lines;
}

/** The loop rows: CPU per handler call, the variant called n times per request inside one isolate. */
function renderLoop(results, baseName, variants, baseLabel, n, title) {
  const base = results[`loop ${baseName}`];
  if (!base) return [];
  const perCall = (value) => (value * 1000) / n;
  const lines = [
    `### ${title}, in one isolate: ${n} handler calls per request`,
    "",
    `A driver module imports the variant's module and calls its \`fetch\` handler ${n} times per wrk request, as the runtime would (a plain object's method, or worker-build's class constructed per call); CPU per call = workerd CPU per request / ${n}. The runtime's own dispatch per request is not in it; the variant's JS and wasm work is nearly all of it.`,
    "",
    `| variant | calls/s | CPU µs/call | above ${baseLabel}, µs | lowest CPU µs/call | lowest above ${baseLabel} |`,
    "|---|---:|---:|---:|---:|---:|",
  ];
  for (const [name, label] of variants) {
    const result = results[`loop ${name}`];
    if (!result) continue;
    lines.push(
      `| ${label} | ${(result.rps * n).toFixed(0)} | ${perCall(result.cpu).toFixed(1)} | ${(perCall(result.cpu) - perCall(base.cpu)).toFixed(1)} | ${perCall(result.lowestCpu).toFixed(1)} | ${(perCall(result.lowestCpu) - perCall(base.lowestCpu)).toFixed(1)} |`,
    );
  }
  lines.push("");
  return lines;
}

/** Per call: CPU per request at each K, and the cost of one call: the CPU between the smallest and largest K over their difference. */
function renderCalls(results) {
  const none = results["calls none"];
  if (!none) return [];
  const lines = [
    "## What each runtime call costs (JS, K calls per request)",
    "",
    `GET /<call>/<K> on one JS worker makes K of that call, then answers 200. Baseline (\`/none\`): ${(none.cpu * 1000).toFixed(0)} µs/req, ${none.rps.toFixed(0)} req/s. µs per call = (CPU at K=${KS.at(-1)} − CPU at K=${KS[0]}) / ${KS.at(-1) - KS[0]}, from the medians and from the lowest values.`,
    "",
    `| call | ${KS.map((k) => `CPU µs/req at K=${k}`).join(" | ")} | µs per call (medians) | µs per call (lowest) |`,
    `|---|${KS.map(() => "---:").join("|")}|---:|---:|`,
  ];
  for (const call of CALLS) {
    const at = KS.map((k) => results[`calls ${call} ${k}`]);
    if (at.some((result) => !result)) continue;
    const span = KS.at(-1) - KS[0];
    const perCall = (field) => ((at.at(-1)[field] - at[0][field]) * 1000) / span;
    lines.push(`| \`${call}\` | ${at.map((result) => (result.cpu * 1000).toFixed(0)).join(" | ")} | ${perCall("cpu").toFixed(2)} | ${perCall("lowestCpu").toFixed(2)} |`);
  }
  return lines;
}

function row(label, result, base, size = {}) {
  const cpu = result.cpu * 1000;
  const lowest = result.lowestCpu * 1000;
  return `| ${label} | ${result.rps.toFixed(0)} | ${(result.rps / base.rps).toFixed(2)} | ${result.p50.toFixed(2)} | ${cpu.toFixed(0)} | ${(cpu - base.cpu * 1000).toFixed(0)} | ${lowest.toFixed(0)} | ${(lowest - base.lowestCpu * 1000).toFixed(0)} | ${size.wasmGzipKiB?.toFixed(1) ?? "–"} | ${size.jsGzipKiB?.toFixed(1) ?? "–"} |`;
}

function log(message) {
  console.log(`\n==> ${message}`);
}

async function stopAll() {
  await Promise.allSettled(running.map(({ mf }) => mf.dispose()));
}

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => stopAll().finally(() => process.exit(130)));
}

try {
  await main();
} catch (error) {
  console.error("floor.mjs:", error);
  process.exitCode = 1;
} finally {
  await stopAll();
}
