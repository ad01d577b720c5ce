// Starts the three real wasm builds in Miniflare (workerd) with the bindings
// the wrangler configs declare, read from those configs, and serves the
// gateway over HTTP on a free loopback port.
import { before, after } from "node:test";
import assert from "node:assert/strict";
import { Miniflare } from "miniflare";
import { parse as parseToml } from "smol-toml";
import { readFileSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseJson } from "./helpers.mjs";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const WORKERS = ["gateway", "users", "products"];

export function readConfig(name) {
  return parseToml(readFileSync(join(ROOT, `wrangler-${name}.toml`), "utf8"));
}

/** `KEY="value"` lines of a dotenv file. */
export function readDotenv(path) {
  const vars = {};
  for (const line of readFileSync(path, "utf8").split("\n")) {
    const match = line.match(/^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*"?(.*?)"?\s*$/);
    if (match) vars[match[1]] = match[2];
  }
  return vars;
}

/** The secrets local runs use: .dev.vars, else the committed example. */
export function devSecrets() {
  const path = existsSync(join(ROOT, ".dev.vars")) ? ".dev.vars" : ".dev.vars.example";
  return readDotenv(join(ROOT, path));
}

/** The dev API key: the first `label:key` pair of API_KEYS. */
export function devApiKey() {
  return devSecrets().API_KEYS.split(",")[0].split(":").slice(1).join(":");
}

/** Miniflare options for one worker, derived from its wrangler config. */
export function workerOptions(name, { vars = {}, ratelimits = {}, outbound, assets = true } = {}) {
  const config = readConfig(name);
  const main = join(ROOT, config.main);
  const options = {
    name: config.name,
    modules: true,
    scriptPath: main,
    modulesRoot: dirname(main),
    modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"] }],
    compatibilityDate: config.compatibility_date,
    compatibilityFlags: config.compatibility_flags ?? [],
    bindings: { ...(config.vars ?? {}), ...devSecrets(), ...vars },
    kvNamespaces: Object.fromEntries((config.kv_namespaces ?? []).map((kv) => [kv.binding, kv.id])),
    durableObjects: durableObjects(config),
    queueProducers: Object.fromEntries((config.queues?.producers ?? []).map((q) => [q.binding, q.queue])),
    queueConsumers: Object.fromEntries(
      (config.queues?.consumers ?? []).map((q) => [
        q.queue,
        {
          maxBatchSize: q.max_batch_size,
          maxBatchTimeout: q.max_batch_timeout,
          maxRetries: q.max_retries,
          deadLetterQueue: q.dead_letter_queue,
        },
      ]),
    ),
    ...(config.assets && assets ? { assets: assetsOptions(config) } : {}),
    ...(outbound ? { outboundService: outbound } : {}),
    serviceBindings: Object.fromEntries((config.services ?? []).map((s) => [s.binding, s.service])),
    ratelimits: Object.fromEntries(
      (config.ratelimits ?? [])
        .filter((r) => ratelimits[r.name] !== null)
        .map((r) => [r.name, { namespace_id: String(r.namespace_id), simple: { ...r.simple, ...ratelimits[r.name] } }]),
    ),
  };
  return options;
}

/** A config's static assets, as wrangler hands them to Miniflare. */
function assetsOptions(config) {
  const { directory, binding, run_worker_first = false, html_handling, not_found_handling } = config.assets;
  assert.equal(typeof run_worker_first, "boolean", "run_worker_first as a list of routes is not derived here");
  return {
    directory: join(ROOT, directory),
    binding,
    routerConfig: { has_user_worker: true, invoke_user_worker_ahead_of_assets: run_worker_first },
    assetConfig: {
      html_handling,
      not_found_handling,
      compatibility_date: config.compatibility_date,
      compatibility_flags: config.compatibility_flags ?? [],
    },
  };
}

/** The Durable Object bindings of a config, SQLite-backed as its migrations say. */
function durableObjects(config) {
  const sqlite = new Set((config.migrations ?? []).flatMap((m) => m.new_sqlite_classes ?? []));
  return Object.fromEntries(
    (config.durable_objects?.bindings ?? []).map((b) => [b.name, { className: b.class_name, useSQLite: sqlite.has(b.class_name) }]),
  );
}

/** A stand-in for a worker: same name and bindings, a JavaScript body. */
export function standIn(name, script) {
  const { scriptPath, modulesRoot, modulesRules, durableObjects, queueConsumers, ...rest } = workerOptions(name);
  return { ...rest, script };
}

/** `options` with each of `wraps`' bindings (`{ BINDING: scriptName }`) made a wrapped binding. */
function wrapBindings(options, wraps) {
  const declared = ["queueProducers", "kvNamespaces", "serviceBindings"];
  const without = { ...options };
  for (const binding of Object.keys(wraps)) {
    const owner = declared.find((kind) => binding in (options[kind] ?? {}));
    assert.ok(owner, `${options.name} declares no binding ${binding} to wrap`);
    without[owner] = Object.fromEntries(Object.entries(without[owner]).filter(([name]) => name !== binding));
  }
  return Object.keys(wraps).length === 0 ? options : { ...without, wrappedBindings: { ...wraps } };
}

export function seedEntries(name) {
  const path = join(ROOT, "seed", `${name}.json`);
  return existsSync(path) ? JSON.parse(readFileSync(path, "utf8")) : [];
}

/**
 * Starts the system. `standIns` maps a worker name to a JavaScript module
 * that replaces it; `vars` maps a worker name to variables that override
 * its config's (for example a shorter breaker cooldown); `ratelimits` maps
 * a worker name to `{ BINDING: { limit } }` overrides of its rate limits
 * (`{ BINDING: null }` leaves the binding out); `outbound` maps a worker
 * name to a function that answers that worker's outgoing `fetch`es
 * (Miniflare's `outboundService`).
 * `objects` maps a worker name to `{ BINDING: { className, scriptName } }`
 * overrides of its Durable Object bindings, and `extraWorkers` adds workers
 * (`{ name, script, ...options }`, options as Miniflare takes them, e.g.
 * `queueConsumers` for a test consumer): together, how a failing object is
 * staged. `services` maps a worker name to `{ BINDING: target }` overrides
 * of its service bindings, a target as Miniflare takes it (for example
 * `{ external: { address, http: {} } }`, an HTTP server outside workerd:
 * how an answer no worker could give is staged). `wrapped` maps a worker
 * name to `{ BINDING: scriptName }`: that binding (a queue producer, a KV
 * namespace or a service the config declares) becomes a wrapped binding of
 * the extra worker `scriptName`, which must forward to what the config
 * binds (how a queue that fails on demand, or tells what it was sent, is
 * staged). `log` is Miniflare's (a `Log` that keeps the queue broker's
 * lines, for instance).
 * `assets: false` leaves the gateway's static assets out (Miniflare puts a
 * router worker in front of a worker with assets; for benchmarks).
 * `keepLogs: false` drops what the workers print (for benchmarks);
 * `inspectorPort` opens workerd's V8 inspector (for profiles).
 */
export async function startSystem({
  standIns = {},
  vars = {},
  ratelimits = {},
  outbound = {},
  objects = {},
  services = {},
  extraWorkers = [],
  wrapped = {},
  log,
  seed = true,
  keepLogs = true,
  assets = true,
  inspectorPort,
} = {}) {
  const output = [];
  const collect = (stream) =>
    keepLogs ? stream.on("data", (chunk) => output.push(chunk.toString())) : stream.resume();
  const workers = WORKERS.map((name) => {
    if (standIns[name]) return standIn(name, standIns[name]);
    const options = workerOptions(name, {
      vars: vars[name],
      ratelimits: ratelimits[name],
      outbound: outbound[name],
      assets,
    });
    return wrapBindings(
      {
        ...options,
        durableObjects: { ...options.durableObjects, ...objects[name] },
        serviceBindings: { ...options.serviceBindings, ...services[name] },
      },
      wrapped[name] ?? {},
    );
  });
  workers.push(
    ...extraWorkers.map(({ name, script, ...rest }) => ({
      name,
      modules: true,
      script,
      compatibilityDate: readConfig("gateway").compatibility_date,
      ...rest,
    })),
  );
  // Local workerd keeps each Durable Object's SQLite database in a file and
  // syncs it on every commit; on a disk, dozens of concurrent object writes
  // stall the runtime until it resets connections. In memory (tmpfs) they
  // do not. Production storage is another thing entirely.
  const storage = mkdtempSync(join(existsSync("/dev/shm") ? "/dev/shm" : tmpdir(), "edge-system-"));
  const mf = new Miniflare({
    host: "127.0.0.1",
    port: 0,
    inspectorPort,
    durableObjectsPersist: storage,
    ...(log ? { log } : {}),
    workers,
    handleRuntimeStdio: (stdout, stderr) => {
      collect(stdout);
      collect(stderr);
    },
  });
  const url = await mf.ready.then(
    (ready) => ready.toString().replace(/\/$/, ""),
    async (error) => {
      await mf.dispose().catch(() => {});
      throw error;
    },
  );
  if (seed) {
    for (const name of WORKERS.filter((n) => !standIns[n])) {
      for (const kv of readConfig(name).kv_namespaces ?? []) {
        const namespace = await mf.getKVNamespace(kv.binding, name);
        for (const { key, value } of seedEntries(name)) {
          await namespace.put(key, typeof value === "string" ? value : JSON.stringify(value));
        }
      }
    }
  }
  return {
    url,
    mf,
    /** Everything the workers printed so far. */
    logs: () => output.join(""),
    /** The gateway's access-log entries so far: the JSON lines with a request_id and a caller. */
    accessLog: () => accessLogOf(output.join("")),
    kv: (worker, binding) => mf.getKVNamespace(binding, worker),
    stop: async () => {
      await mf.dispose();
      rmSync(storage, { recursive: true, force: true });
    },
  };
}

/** The access-log entries in `logs`: lines that are JSON objects with a request_id and a caller. */
function accessLogOf(logs) {
  return logs
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .flatMap((line) => {
      try {
        return [JSON.parse(line)];
      } catch {
        return [];
      }
    })
    .filter((entry) => "request_id" in entry && "caller" in entry);
}

/** A request through the gateway; writes carry the dev API key unless `auth: false`. */
export function client(system) {
  const key = devApiKey();
  return async function request(method, path, { body, headers = {}, auth = true, raw } = {}) {
    const init = { method, headers: { ...headers } };
    if (auth && ["POST", "PUT", "PATCH", "DELETE"].includes(method)) {
      init.headers.authorization ??= `Bearer ${key}`;
    }
    if (raw !== undefined) {
      init.body = raw;
    } else if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers["content-type"] ??= "application/json";
    }
    const response = await fetch(system.url + path, init).catch((error) => {
      throw new Error(`${method} ${path}: ${error.message} (${error.cause?.code ?? error.cause?.message ?? "no cause"})`, { cause: error });
    });
    const text = await response.text();
    return { status: response.status, headers: response.headers, text, json: parseJson(text) };
  };
}


/** The API keys of `count` callers, as label and key. */
function callerKeys(count) {
  return Array.from({ length: count }, (_, i) => [`caller${i + 1}`, `caller-key-${i + 1}`]);
}

/** `options` with the gateway knowing `count` more callers' keys (the dev key stays). */
function withCallers(options, count) {
  const keys = [devSecrets().API_KEYS, ...callerKeys(count).map(([label, key]) => `${label}:${key}`)];
  const vars = options.vars ?? {};
  return { ...options, vars: { ...vars, gateway: { ...vars.gateway, API_KEYS: keys.join(",") } } };
}

/**
 * A client that sends each request as the next of `count` callers in turn,
 * each with its own key and address (198.18.0.n), as that many clients
 * would: each stays within the shipped rate limit, which one client
 * sending all of it would rightly reach (gateway.test.mjs tests that).
 */
function crowdClient(system, count) {
  const send = client(system);
  const keys = callerKeys(count);
  let next = 0;
  return function request(method, path, options = {}) {
    const caller = next++ % count;
    const headers = { "cf-connecting-ip": `198.18.0.${caller + 1}`, ...options.headers };
    if (options.auth !== false) headers.authorization ??= `Bearer ${keys[caller][1]}`;
    return send(method, path, { ...options, headers });
  };
}

/** Fails when any worker reported a Rust panic. */
export function assertNoPanic(system, assert) {
  const logs = system.logs();
  assert.ok(!/panicked at|Rust panic/.test(logs), `a worker panicked:\n${logs.slice(-2000)}`);
}

/**
 * A system for the enclosing `describe` (or, called at the top of a file, for
 * the file): node:test hooks start it before the first test with `options`
 * (as startSystem takes them) and, after the last, check that no worker
 * panicked and stop it. `afterStart(suite)` runs in the first hook once the
 * system is up (for setup that needs it: at the top of a file, node:test
 * does not wait for one root `before` hook before starting the next, so a
 * separate hook could run before the system is up); `beforeStop(system)`
 * runs first in the last hook, and the system is stopped even when it or
 * the panic check fails.
 *
 * `options` may also be a function that returns them (or a promise of
 * them), called in that first hook: for options known only then, such as
 * the address of a server the hook starts.
 *
 * `callers: n` makes `request` speak for n clients in turn (`crowdClient`),
 * for traffic that many clients would send under the shipped rate limit.
 *
 * Returns a handle: `system` is the running system once started, and
 * `request` a client of it (see `client`), callable once the system is up
 * (in the tests, in afterStart and in later hooks of a describe), so it may
 * be taken out at once: `const { request } = suiteSystem()`.
 */
export function suiteSystem(options = {}, { afterStart, beforeStop, callers = 0 } = {}) {
  let send;
  const suite = {
    system: undefined,
    request(...args) {
      assert.ok(send, "the suite's system has not started");
      return send(...args);
    },
  };
  before(async () => {
    const resolved = typeof options === "function" ? await options() : options;
    suite.system = await startSystem(callers ? withCallers(resolved, callers) : resolved);
    send = callers ? crowdClient(suite.system, callers) : client(suite.system);
    await afterStart?.(suite);
  });
  after(async () => {
    if (!suite.system) return;
    try {
      await beforeStop?.(suite.system);
      assertNoPanic(suite.system, assert);
    } finally {
      await suite.system.stop();
    }
  });
  return suite;
}
