// Proves the wrangler configs keep their environments apart: no environment
// binds another environment's workers, KV namespaces, queues or rate-limit
// namespaces; each name belongs to one environment; every environment
// declares the bindings and vars the code expects (wrangler does not inherit
// them, it only warns); and the worker-level settings of the top level
// (workers_dev, preview_urls, observability) hold in every environment.
// The top level (local development) counts as one environment.
//
//   node scripts/check-environments.mjs [dir]        checks dir/wrangler-*.toml
//   node scripts/check-environments.mjs --names      prints the environment names
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "smol-toml";

export const WORKERS = ["gateway", "users", "products"];
export const REQUIRED_ENVIRONMENTS = ["staging", "production"];
export const TOP_LEVEL = "top level";

export function readConfigs(dir) {
  return Object.fromEntries(
    WORKERS.map((worker) => [worker, parse(readFileSync(join(dir, `wrangler-${worker}.toml`), "utf8"))]),
  );
}

/** The environment names of the configs (the union, top level first). */
export function environmentNames(configs) {
  const named = new Set(Object.values(configs).flatMap((config) => Object.keys(config.env ?? {})));
  return [TOP_LEVEL, ...named];
}

/** One worker in one environment, resolved the way wrangler 4 resolves it. */
export function resolveEnvironment(worker, config, environment) {
  const raw = environment === TOP_LEVEL ? config : (config.env?.[environment] ?? {});
  const inherited = (key) => raw[key] ?? config[key];
  return {
    worker,
    environment,
    name: raw.name ?? (environment === TOP_LEVEL ? config.name : `${config.name}-${environment}`),
    workers_dev: inherited("workers_dev"),
    preview_urls: inherited("preview_urls"),
    observability: inherited("observability"),
    kv_namespaces: raw.kv_namespaces ?? [],
    services: raw.services ?? [],
    durable_objects: raw.durable_objects?.bindings ?? [],
    producers: raw.queues?.producers ?? [],
    consumers: raw.queues?.consumers ?? [],
    ratelimits: raw.ratelimits ?? [],
    vars: raw.vars ?? {},
  };
}

// The binding lists wrangler does not inherit, each with the key naming a binding.
const NOT_INHERITED = {
  kv_namespaces: (kv) => kv.binding,
  services: (service) => service.binding,
  durable_objects: (object) => object.name,
  producers: (producer) => producer.binding,
  ratelimits: (limit) => limit.name,
};

/** Every problem of the configs, as sentences; none when they are sound. */
export function problems(configs) {
  const found = [];
  const environments = environmentNames(configs);
  const resolved = [];
  for (const [worker, config] of Object.entries(configs)) {
    for (const environment of REQUIRED_ENVIRONMENTS) {
      if (!config.env?.[environment]) found.push(`${worker}: has no [env.${environment}]`);
    }
    for (const environment of environments) {
      if (environment !== TOP_LEVEL && !config.env?.[environment]) {
        found.push(`${worker}: has no [env.${environment}], which other configs have`);
        continue;
      }
      resolved.push(resolveEnvironment(worker, config, environment));
    }
  }
  const at = (entry) => `${entry.worker} [${entry.environment}]`;
  const top = (worker) => resolved.find((e) => e.worker === worker && e.environment === TOP_LEVEL);

  for (const entry of resolved.filter((e) => e.environment !== TOP_LEVEL)) {
    found.push(...missingBindings(entry, top(entry.worker), at(entry)));
    found.push(...changedWorkerSettings(entry, top(entry.worker), at(entry)));
  }

  const workerNames = new Map();
  for (const entry of resolved) claim(workerNames, entry.name, entry, found, "worker name");
  const owners = { kv: new Map(), queue: new Map(), ratelimit: new Map() };
  for (const entry of resolved) {
    for (const kv of entry.kv_namespaces) claim(owners.kv, kv.id, entry, found, "KV namespace id");
    const queues = new Set([
      ...entry.producers.map((p) => p.queue),
      ...entry.consumers.flatMap((c) => [c.queue, c.dead_letter_queue].filter(Boolean)),
    ]);
    for (const queue of queues) claim(owners.queue, queue, entry, found, "queue");
    for (const limit of entry.ratelimits) {
      claim(owners.ratelimit, String(limit.namespace_id), entry, found, "rate-limit namespace_id");
    }
  }

  for (const entry of resolved) {
    const ownWorker = (name) => workerNames.get(name)?.environment === entry.environment;
    for (const service of entry.services) {
      if (!ownWorker(service.service)) {
        found.push(`${at(entry)}: service binding ${service.binding} names ${elsewhere(workerNames, service.service)}`);
      }
    }
    for (const object of entry.durable_objects) {
      if (object.script_name !== undefined && !ownWorker(object.script_name)) {
        found.push(`${at(entry)}: Durable Object binding ${object.name} names ${elsewhere(workerNames, object.script_name)}`);
      }
    }
    for (const consumer of entry.consumers) {
      const produced = resolved.some(
        (other) => other.environment === entry.environment && other.producers.some((p) => p.queue === consumer.queue),
      );
      if (!produced) found.push(`${at(entry)}: consumes ${consumer.queue}, which no worker of this environment produces`);
    }
  }
  return found;
}

/** Records that `value` belongs to `entry`'s environment; a second environment is a problem. */
function claim(owners, value, entry, found, what) {
  const owner = owners.get(value);
  if (!owner) {
    owners.set(value, entry);
  } else if (owner.environment !== entry.environment) {
    found.push(
      `${what} ${value} is used by ${owner.worker} [${owner.environment}] and by ${entry.worker} [${entry.environment}]`,
    );
  } else if (what === "worker name") {
    found.push(`worker name ${value} is used by ${owner.worker} and ${entry.worker} [${entry.environment}]`);
  }
}

function elsewhere(workerNames, name) {
  const owner = workerNames.get(name);
  return owner ? `${name}, the worker of ${owner.worker} [${owner.environment}]` : `${name}, which no config defines`;
}

function missingBindings(entry, top, where) {
  const found = [];
  for (const [kind, key] of Object.entries(NOT_INHERITED)) {
    const own = new Set(entry[kind].map(key));
    for (const binding of top[kind].map(key)) {
      if (!own.has(binding)) found.push(`${where}: lacks the ${kind} binding ${binding} the top level has`);
    }
  }
  if (entry.consumers.length < top.consumers.length) {
    found.push(`${where}: has ${entry.consumers.length} queue consumers; the top level has ${top.consumers.length}`);
  }
  for (const name of Object.keys(top.vars)) {
    if (!(name in entry.vars)) found.push(`${where}: lacks the var ${name} the top level has`);
  }
  return found;
}

function changedWorkerSettings(entry, top, where) {
  const found = [];
  for (const key of ["workers_dev", "preview_urls"]) {
    if (top[key] === false && entry[key] !== false) found.push(`${where}: turns ${key} on; the top level has it off`);
  }
  if (top.observability?.enabled && !entry.observability?.enabled) {
    found.push(`${where}: turns observability off; the top level has it on`);
  }
  return found;
}

/** The worker names per environment, one line each. */
export function layout(configs) {
  return environmentNames(configs).map((environment) => {
    const names = Object.entries(configs).map(([worker, config]) => resolveEnvironment(worker, config, environment).name);
    return `  ${environment.padEnd(12)} ${names.join(", ")}`;
  });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
  if (process.argv[2] === "--names") {
    const names = environmentNames(readConfigs(root)).filter((name) => name !== TOP_LEVEL);
    console.log(names.join(" "));
  } else {
    const configs = readConfigs(process.argv[2] ?? root);
    const found = problems(configs);
    if (found.length > 0) {
      console.error(`The environments of the wrangler configs are not kept apart:\n- ${found.join("\n- ")}`);
      process.exit(1);
    }
    console.log(`environments kept apart (${environmentNames(configs).length} per worker):\n${layout(configs).join("\n")}`);
  }
}
