// The systems under load, each in its own Miniflare (workerd) on a loopback
// port: ours through tests/support/system.mjs, our users worker without the
// gateway in front, and the Hono peer's three bundled TypeScript workers.
import { Miniflare } from "miniflare";
import { parse as parseToml } from "smol-toml";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { readConfig, seedEntries, startSystem, workerOptions } from "../tests/support/system.mjs";

/**
 * Our gateway's rate limiter. Miniflare simulates the binding with a Durable
 * Object: two more worker invocations per request, which the production
 * binding (a counter cached in the location) does not cost. So the main
 * table runs without it (the gateway lets requests through when the binding
 * is absent), and one row measures it bound with a limit never reached.
 */
const WITHOUT_LIMITER = { gateway: { RATE_LIMITER: null } };
const LIMITER_NEVER_REACHED = { gateway: { RATE_LIMITER: { limit: 100_000_000 } } };

export const PEER_WORKERS = ["gateway", "users", "products"];

/**
 * The gateway's static assets (/docs): Miniflare puts a router worker in
 * front of a worker that has some, one more invocation per request; in
 * production a worker that runs first (`run_worker_first`) is invoked
 * directly. So the main table runs without them, and one row with them.
 */
export function startOurs() {
  return startSystem({ ratelimits: WITHOUT_LIMITER, assets: false, keepLogs: false });
}

export function startOursWithLimiter() {
  return startSystem({ ratelimits: LIMITER_NEVER_REACHED, assets: false, keepLogs: false });
}

export function startOursWithAssets() {
  return startSystem({ ratelimits: WITHOUT_LIMITER, keepLogs: false });
}

/**
 * Our system as it was at an earlier commit (BENCH_BEFORE), from its own
 * checkout, builds and test harness: the before of a before/after.
 */
export async function startEarlier(dir) {
  const { startSystem: startThen } = await import(join(dir, "tests/support/system.mjs"));
  return startThen({ ratelimits: WITHOUT_LIMITER, keepLogs: false });
}

/** Our users worker (and products, which it calls), with no gateway in front. */
export async function startOurUsersDirect() {
  const names = ["users", "products"];
  const mf = new Miniflare({ ...LOOPBACK, workers: names.map((name) => workerOptions(name)) });
  const url = await readyUrl(mf);
  for (const name of names) {
    for (const { binding } of readConfig(name).kv_namespaces ?? []) {
      await putAll(await mf.getKVNamespace(binding, name), seedEntries(name));
    }
  }
  return { url, stop: () => mf.dispose() };
}

/** The peer, from its toml files and the bundles in `<dir>/dist/` (`options`: more Miniflare options). */
export function startPeer(dir, options = {}) {
  return startPeerWorkers(dir, PEER_WORKERS, options);
}

/**
 * The parity peer (bench/parity/): the peer's Hono with our concerns added
 * the way a Hono developer would (Hono's middleware for the request id,
 * CORS, security headers and ETag; a timeout, deadline and breaker; an
 * access-log line; stored records checked before they are answered), on
 * our seed data as it is. Bundles in `<dir>/parity-dist/`; GET routes only.
 */
export async function startParity(dir) {
  const bundle = (name) => join(dir, "parity-dist", `${name}.js`);
  const worker = (name, more) => ({
    name: `parity-${name}`,
    modules: true,
    scriptPath: bundle(name),
    modulesRoot: join(dir, "parity-dist"),
    compatibilityDate: readConfig("gateway").compatibility_date,
    ...more,
  });
  const mf = new Miniflare({
    ...LOOPBACK,
    workers: [
      worker("gateway", { serviceBindings: { USERS: "parity-users", PRODUCTS: "parity-products" } }),
      worker("users", { kvNamespaces: { USERS_KV: "parity-users" } }),
      worker("products", { kvNamespaces: { PRODUCTS_KV: "parity-products" } }),
    ],
  });
  const url = await readyUrl(mf);
  for (const [name, binding] of [["users", "USERS_KV"], ["products", "PRODUCTS_KV"]]) {
    await putAll(await mf.getKVNamespace(binding, `parity-${name}`), seedEntries(name));
  }
  return { url, stop: () => mf.dispose() };
}

/** The peer's users worker (and products, which it calls), with no gateway in front. */
export function startPeerUsersDirect(dir) {
  return startPeerWorkers(dir, ["users", "products"]);
}

/** The peer's workers `names`, the first one answering on the port, seeded. */
async function startPeerWorkers(dir, names, options = {}) {
  const configs = Object.fromEntries(names.map((name) => [name, peerConfig(dir, name)]));
  const workers = names.map((name) => peerWorkerOptions(dir, name, configs[name]));
  const mf = new Miniflare({ ...LOOPBACK, ...options, workers });
  const url = await readyUrl(mf);
  for (const [name, entries] of Object.entries(peerSeed())) {
    const { binding } = configs[name].kv_namespaces[0];
    await putAll(await mf.getKVNamespace(binding, configs[name].name), entries);
  }
  return { url, stop: () => mf.dispose() };
}

const LOOPBACK = { host: "127.0.0.1", port: 0, handleRuntimeStdio: drain };

function drain(stdout, stderr) {
  stdout.resume();
  stderr.resume();
}

async function readyUrl(mf) {
  return (await mf.ready).toString().replace(/\/$/, "");
}

async function putAll(namespace, entries) {
  for (const { key, value } of entries) {
    await namespace.put(key, typeof value === "string" ? value : JSON.stringify(value));
  }
}

function peerConfig(dir, name) {
  return parseToml(readFileSync(join(dir, `wrangler-${name}.toml`), "utf8"));
}

function peerWorkerOptions(dir, name, config) {
  return {
    name: config.name,
    modules: true,
    scriptPath: join(dir, "dist", `${name}.js`),
    modulesRoot: join(dir, "dist"),
    compatibilityDate: config.compatibility_date,
    compatibilityFlags: config.compatibility_flags ?? [],
    kvNamespaces: Object.fromEntries((config.kv_namespaces ?? []).map((kv) => [kv.binding, kv.id])),
    serviceBindings: Object.fromEntries((config.services ?? []).map((s) => [s.binding, s.service])),
  };
}

/** Our seed data in the peer's shape: records by bare id. */
function peerSeed() {
  const records = (name, prefix) =>
    seedEntries(name)
      .filter(({ key }) => key.startsWith(prefix))
      .map(({ value }) => value);
  return {
    users: records("users", "user:").map(({ id, name, email }) => ({ key: id, value: { id, name, email } })),
    products: records("products", "product:").map(({ id, name, price }) => ({
      key: id,
      value: { id, name, price_cents: price.amount },
    })),
  };
}
