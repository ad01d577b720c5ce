// The benchmark behind `npm run bench`: ours against the Hono peer, side by
// side in Miniflare on loopback ports, driven by wrk in turns. scripts/bench.sh
// builds both first and passes the peer's folder (BENCH_PEER_DIR) and a
// scratch folder (BENCH_WORK_DIR), and, when asked for a before/after, a
// checkout of an earlier commit with its builds (BENCH_BEFORE_DIR). It
// prints and writes bench/RESULTS.md; it never fails on a number.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { loadavg } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { client, devApiKey } from "../tests/support/system.mjs";
import { renderRun, writeResults } from "./report.mjs";
import { ourSizes, peerSizes } from "./sizes.mjs";
import { median } from "./stats.mjs";
import {
  PEER_WORKERS,
  startEarlier,
  startOurUsersDirect,
  startOurs,
  startOursWithAssets,
  startOursWithLimiter,
  startPeer,
  startParity,
  startPeerUsersDirect,
} from "./systems.mjs";
import { WRK, runWrk, wrkSettings } from "./wrk.mjs";
import { cpuMillis, workerdChildren } from "./cpu.mjs";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const PEER_DIR = required("BENCH_PEER_DIR");
const WORK_DIR = required("BENCH_WORK_DIR");
const COLD_STARTS = 3;
const WARM_UP_SECS = 1;
const FAVORITES = 10;
const BEFORE_DIR = process.env.BENCH_BEFORE_DIR;
const BEFORE_REF = process.env.BENCH_BEFORE ?? "";
const script = (name) => fileURLToPath(new URL(`./${name}`, import.meta.url));

/** The routes both gateways serve, with the status each should answer. */
const ROUTES = [
  { route: "GET /users/1", path: "/users/1", status: 200 },
  { route: "GET /users/999", path: "/users/999", status: 404 },
  { route: "POST /users", path: "/users", status: 201, script: script("post-user.lua"), unique: true },
  { route: "GET /products/101", path: "/products/101", status: 200 },
];
/** The reads the parity peer serves (it has no writes). */
const PARITY_ROUTES = ROUTES.filter(({ script }) => !script);
const DIRECT = { route: "GET /users/1", path: "/users/1", status: 200 };
const FAVORITES_ROUTE = { route: "GET /users/1/favorites", path: "/users/1/favorites", status: 200 };
/** Writes only we serve: what the writer objects cost, before and after. */
const WRITES = [
  ROUTES[2],
  { route: "PATCH /users/1", path: "/users/1", status: 200, script: script("patch-user.lua") },
  { route: "PUT|DELETE /users/2/favorites/101", path: "/users/2/favorites/101", status: 204, script: script("favorite.lua") },
];

const running = new Set();
const notes = [];

async function main() {
  const started = performance.now();
  log("sizes and wasm compile times");
  const sizes = { ours: await ourSizes(WORK_DIR), peer: await peerSizes(PEER_DIR, PEER_WORKERS) };
  log(`cold starts (${COLD_STARTS} fresh instances each)`);
  const coldStart = { ours: await coldStarts(startOurs), peer: await coldStarts(startPeerHere) };
  const targets = await prepareLoad();
  const { results, load } = await measure(targets);
  const run = renderRun({
    date: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
    environment: environment(load),
    routes: ROUTES.map(({ route }) => ({ route, ours: results[`ours ${route}`], peer: results[`peer ${route}`] })),
    parity: PARITY_ROUTES.map(({ route }) => ({ route, ours: results[`ours ${route}`], parity: results[`parity ${route}`] })),
    gateway: {
      through: results[`ours ${DIRECT.route}`],
      direct: results[`direct ${DIRECT.route}`],
      peerThrough: results[`peer ${DIRECT.route}`],
      peerDirect: results[`peer-direct ${DIRECT.route}`],
      limited: results[`limited ${DIRECT.route}`],
    },
    favorites: results[`ours ${FAVORITES_ROUTE.route}`],
    assets: results[`assets ${DIRECT.route}`],
    before: BEFORE_DIR && {
      ref: BEFORE_REF,
      routes: [DIRECT, ...WRITES].map(({ route }) => ({
        route,
        now: results[`ours ${route}`],
        before: results[`before ${route}`],
      })),
    },
    sizes,
    coldStart,
    notes,
  });
  console.log(`\n${run}`);
  log(`written to ${writeResults(run)} (${((performance.now() - started) / 1000).toFixed(0)} s in bench.mjs)`);
}

/** Starts both systems and each side's users worker alone; seeds; checks every target once. */
async function prepareLoad() {
  log("starting both systems, and each side's users worker on its own");
  const ours = await track(startOurs());
  const peer = await track(startPeerHere());
  const parity = await track(startParity(PEER_DIR));
  const direct = await track(startOurUsersDirect());
  const peerDirect = await track(startPeerUsersDirect(PEER_DIR));
  const limited = await track(startOursWithLimiter());
  const assets = await track(startOursWithAssets());
  const before = BEFORE_DIR && (await track(startEarlier(BEFORE_DIR)));
  await seedFavorites(ours);
  const targets = loadTargets({ ours, peer, parity, direct, peerDirect, limited, assets, before });
  await checkStatuses(targets);
  return targets;
}

function startPeerHere() {
  return startPeer(PEER_DIR);
}

/** What wrk drives: each shared route on each side, then ours alone. */
function loadTargets({ ours, peer, parity, direct, peerDirect, limited, assets, before }) {
  const target = (side, system, route) => ({
    side,
    key: `${side} ${route.route}`,
    url: system.url + route.path,
    pids: system.pids,
    ...route,
  });
  return [
    ...ROUTES.flatMap((route) => [
      target("ours", ours, route),
      target("peer", peer, route),
      ...(PARITY_ROUTES.includes(route) ? [target("parity", parity, route)] : []),
    ]),
    target("direct", direct, DIRECT),
    target("peer-direct", peerDirect, DIRECT),
    target("limited", limited, DIRECT),
    target("assets", assets, DIRECT),
    target("ours", ours, FAVORITES_ROUTE),
    ...WRITES.slice(1).map((route) => target("ours", ours, route)),
    ...(before ? [DIRECT, ...WRITES].map((route) => target("before", before, route)) : []),
  ];
}

/**
 * A warm-up, then ROUNDS rounds of every target in turn: medians per target,
 * and the 1-minute load average before and after.
 */
async function measure(targets) {
  log(`warm-up: ${WARM_UP_SECS} s per target`);
  for (const target of targets) await load(target, "warm-up", WARM_UP_SECS);
  const before = loadavg()[0];
  const samples = Object.fromEntries(targets.map(({ key }) => [key, []]));
  for (let round = 1; round <= ROUNDS; round += 1) {
    log(`round ${round} of ${ROUNDS}: ${targets.length} runs of ${WRK.duration} s`);
    for (const target of targets) {
      const result = await load(target, `round ${round}`, WRK.duration);
      samples[target.key].push(result);
      console.log(
        `    ${target.key.padEnd(28)} ${result.rps.toFixed(0).padStart(6)} req/s  p50 ${result.p50.toFixed(2)} ms  p99 ${result.p99.toFixed(2)} ms  workerd CPU ${result.cpuMsPerRequest.toFixed(3)} ms/req`,
      );
    }
  }
  const results = Object.fromEntries(Object.entries(samples).map(([key, runs]) => [key, medians(runs)]));
  for (const { key, wrongStatus } of targets) results[key].wrongStatus = wrongStatus;
  return { results, load: { before, after: loadavg()[0] } };
}

async function load(target, label, duration) {
  const options = { duration };
  if (target.script) {
    options.script = target.script;
    options.scriptArgs = [devApiKey(), `${target.side}-${label.replace(/\W/g, "")}-${Date.now()}`];
  }
  const cpuBefore = cpuMillis(target.pids);
  const result = await runWrk(target.url, options);
  result.cpuMsPerRequest = (cpuMillis(target.pids) - cpuBefore) / Math.max(result.requests, 1);
  noteSurprises(target, label, result);
  return result;
}

/** wrk counts answers outside 2xx/3xx: all of them on a 404 route, else none. */
function noteSurprises(target, label, result) {
  const expected = target.status >= 400 ? result.requests : 0;
  if (result.non2xx !== expected) {
    notes.push(`${target.key}, ${label}: ${result.non2xx} of ${result.requests} answers outside 2xx/3xx (expected ${expected})`);
  }
  if (result.errors) notes.push(`${target.key}, ${label}: wrk reported ${result.errors}`);
}

/** Medians over the rounds, and the spread of req/s across them. */
function medians(runs) {
  const of = (field) => median(runs.map((run) => run[field]));
  const rates = runs.map((run) => run.rps).filter(Number.isFinite);
  return {
    rps: of("rps"),
    rpsRange: [Math.min(...rates), Math.max(...rates)],
    p50: of("p50"),
    p99: of("p99"),
    cpu: of("cpuMsPerRequest"),
  };
}

/** One request to each target first: a wrong status is noted, not hidden. */
async function checkStatuses(targets) {
  // A scripted write checks itself: wrk counts answers outside 2xx.
  for (const target of targets.filter((t) => !t.script || t.unique)) {
    const response = await fetch(target.url, target.unique ? postInit(`check-${target.side}`) : {});
    await response.arrayBuffer();
    if (response.status !== target.status) {
      target.wrongStatus = response.status;
      notes.push(`${target.key} answered ${response.status} before the load (expected ${target.status})`);
    }
  }
}

function postInit(tag) {
  return {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${devApiKey()}` },
    body: JSON.stringify({ name: "Bench User", email: `${tag}-${Date.now()}@example.com` }),
  };
}

/** Creates FAVORITES products through our gateway and makes them user 1's favourites. */
async function seedFavorites(system) {
  const request = client(system);
  for (let i = 1; i <= FAVORITES; i += 1) {
    const body = { name: `Bench product ${i}`, price: { amount: 1000 + i, currency: "EUR" }, stock: i };
    const product = await request("POST", "/products", { body });
    await request("PUT", `/users/1/favorites/${product.json?.id}`);
  }
  const { status, json } = await request("GET", FAVORITES_ROUTE.path);
  if (status !== 200 || json?.items?.length !== FAVORITES || json?.degraded) {
    notes.push(`favourites seeding: GET ${FAVORITES_ROUTE.path} answered ${status} with ${json?.items?.length} items`);
  }
}

/** Median ms from `new Miniflare(...)` to the first 200 of GET /users/1 through the gateway. */
async function coldStarts(start) {
  const samples = [];
  for (let i = 0; i < COLD_STARTS; i += 1) {
    const began = performance.now();
    const system = await track(start());
    try {
      await firstOk(`${system.url}/users/1`);
      samples.push(performance.now() - began);
    } catch (error) {
      notes.push(`cold start: ${error.message}`);
    } finally {
      await system.stop();
    }
  }
  return median(samples);
}

async function firstOk(url, deadline = Date.now() + 30_000) {
  while (Date.now() < deadline) {
    const response = await fetch(url).catch(() => undefined);
    await response?.arrayBuffer();
    if (response?.status === 200) return;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error(`no 200 from ${url} within 30 s`);
}

/** `load`: the 1-minute load average before and after the load runs. */
function environment(load) {
  const version = (pkg, from = import.meta.url) => createRequire(from)(`${pkg}/package.json`).version;
  const miniflare = createRequire(import.meta.url).resolve("miniflare");
  const hono = JSON.parse(readFileSync(join(PEER_DIR, "node_modules/hono/package.json"), "utf8")).version;
  const cores = execFileSync("nproc").toString().trim();
  return [
    `- machine: ${cores} cores (nproc); Node ${process.version}; workerd ${version("workerd", miniflare)} through miniflare ${version("miniflare")}; peer: hono ${hono}`,
    `- 1-minute load average: ${load.before.toFixed(1)} before the load runs, ${load.after.toFixed(1)} at their end (wrk and workerd add about 2; anything above that is other work on the machine, which skews every number)`,
    `- load: \`${wrkSettings()}\` against 127.0.0.1, ${ROUNDS} rounds taking turns (ours, peer, …) after a ${WARM_UP_SECS} s warm-up per target; medians over the rounds`,
    "- workerd CPU/req: user + system CPU time of each system's workerd process (all its workers, Miniflare's KV simulation included) over the requests wrk counted; it moves far less than req/s when other work shares the machine",
    "- ours: three wasm workers (gateway → users/products over service bindings, writes through Durable Objects) without the rate-limiter binding, which Miniflare simulates with a Durable Object round trip per request, and without the gateway's /docs assets, for which Miniflare puts a router worker in front (each has its own row below); peer: three Hono workers with the same bindings and seed data",
  ].join("\n");
}

/** Starts a system and remembers it until it is stopped, for the exit handlers. */
async function track(starting) {
  const before = new Set(workerdChildren());
  const system = await starting;
  system.pids = workerdChildren().filter((pid) => !before.has(pid));
  running.add(system);
  const stop = system.stop;
  system.stop = async () => {
    running.delete(system);
    await stop();
  };
  return system;
}

async function stopAll() {
  await Promise.allSettled([...running].map((system) => system.stop()));
}

function required(name) {
  if (!process.env[name]) {
    console.error(`bench.mjs: ${name} is not set; run it through scripts/bench.sh`);
    process.exit(2);
  }
  return process.env[name];
}

function log(message) {
  console.log(`\n==> ${message}`);
}

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => stopAll().finally(() => process.exit(130)));
}

try {
  await main();
} catch (error) {
  console.error("bench.mjs:", error);
  process.exitCode = 1;
} finally {
  await stopAll();
}
