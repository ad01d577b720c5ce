// Staging for the product-events tests: what products sends on its queue,
// what reaches the dead-letter queue, a queue that fails on demand, a
// product's fans object that fails or waits on demand, and the queue
// broker's own account of deliveries, retries and dead letters.
//
// The system stays what the wrangler configs say: products' PRODUCT_EVENTS
// becomes a wrapped binding (the "event-tap" worker) that forwards every
// message to the queue the config names, unchanged, and notes it; the
// dead-letter queue, which no shipped worker consumes, gets a test consumer
// (the "event-recorder" worker) that notes what arrives. Both note into one
// KV namespace that the test reads. The recorder also holds a producer
// binding of the events queue (INJECT) from which a test sends messages of
// its own (a duplicate, a held event, garbage).
//
// Keys of the tap's KV namespace:
//   mode                  "pass" (default), "down" (send throws), "hold"
//                         (noted as published, not forwarded: the test
//                         delivers it itself)
//   published:<t>:<uuid>  the text of each message the queue accepted
//   refused:<t>:<uuid>    the text of each send refused while down
//   dead:<t>:<id>         { body, kind, bytes, json, attempts } of each dead
//                         letter (body when it is text, bytes when it is
//                         bytes, json when it is another JSON value)
//   plan:<product>        how the staged fans object of <product> behaves
//   fans:<product>:<n>    { kind, at, outcome } of each call it got
import assert from "node:assert/strict";
import { stripVTControlCharacters } from "node:util";
import { Log, LogLevel } from "miniflare";
import { readConfig } from "./system.mjs";
import { sleep } from "./helpers.mjs";

const producer = readConfig("products").queues.producers.find((q) => q.binding === "PRODUCT_EVENTS");
const consumer = readConfig("users").queues.consumers.find((q) => q.queue === producer.queue);
/** The queue products publishes on and users consumes, as the configs name it. */
export const EVENTS_QUEUE = producer.queue;
/** Its dead-letter queue, as users' config names it. */
export const DEAD_LETTER_QUEUE = consumer.dead_letter_queue;
/** Deliveries of one message before it is dead-lettered: the first and max_retries more. */
export const MAX_DELIVERIES = consumer.max_retries + 1;
export const TAP_WORKER = "event-tap";
export const RECORDER_WORKER = "event-recorder";
export const FLAKY_WORKER = "flaky-fans";
const TAP_NAMESPACE = "events-tap-local";

const TAP_SCRIPT = `
const stamp = () => String(Date.now()).padStart(15, "0") + ":" + crypto.randomUUID();
const text = (body) => (typeof body === "string" ? body : JSON.stringify(body));
export default function (env) {
  async function pass(bodies, send) {
    const mode = (await env.TAP.get("mode")) ?? "pass";
    if (mode === "down") {
      for (const body of bodies) await env.TAP.put("refused:" + stamp(), text(body));
      throw new Error("the queue is unavailable (staged by the test)");
    }
    if (mode !== "hold") await send();
    for (const body of bodies) await env.TAP.put("published:" + stamp(), text(body));
  }
  return {
    send: (body, options) => pass([body], () => env.QUEUE.send(body, options)),
    sendBatch: (messages, options) => pass(messages.map((m) => m.body), () => env.QUEUE.sendBatch(messages, options)),
  };
}
`;

const RECORDER_SCRIPT = `
export default {
  async queue(batch, env) {
    for (const message of batch.messages) {
      const body = typeof message.body === "string" ? message.body : null;
      const kind = message.body instanceof ArrayBuffer ? "bytes" : typeof message.body;
      const bytes = message.body instanceof ArrayBuffer ? [...new Uint8Array(message.body)] : null;
      const json = kind === "object" ? message.body : null;
      const key = "dead:" + String(Date.now()).padStart(15, "0") + ":" + message.id;
      await env.TAP.put(key, JSON.stringify({ body, kind, bytes, json, attempts: message.attempts, queue: batch.queue }));
      message.ack();
    }
  },
  fetch() {
    return new Response("event recorder");
  },
};
`;

// A product's fans object that forwards to the real one (users'
// ProductFans) unless its plan says otherwise:
//   deleted: "fail-twice" | "fail-always"   answers 500 to product_deleted
//   enlist: "after-deletion"         forwards an enlist only once the
//                                    deletion has been forwarded
//   enlist: "answer-after-deletion"  forwards an enlist at once, answers it
//                                    only once the deletion has been answered
const FLAKY_SCRIPT = `
import { DurableObject } from "cloudflare:workers";
const WAIT_LIMIT_MS = 8000;
const within = (promise) =>
  Promise.race([promise, new Promise((_, reject) => setTimeout(() => reject(new Error("waited too long")), WAIT_LIMIT_MS))]);
export class FlakyFans extends DurableObject {
  calls = 0;
  deletedCalls = 0;
  constructor(ctx, env) {
    super(ctx, env);
    this.deletion = new Promise((resolve) => (this.deletionForwarded = resolve));
  }
  async note(product, kind, outcome) {
    const n = String(++this.calls).padStart(4, "0");
    await this.env.TAP.put("fans:" + product + ":" + n, JSON.stringify({ kind, at: Date.now(), outcome }));
  }
  async fetch(request) {
    const text = await request.text();
    const command = JSON.parse(text);
    const kind = Object.keys(command)[0];
    const product = command[kind].product;
    const plan = JSON.parse((await this.env.TAP.get("plan:" + product)) ?? "{}");
    const forward = async () => {
      const answer = await this.env.REAL_FANS.getByName(product).fetch(request.url, {
        method: "POST",
        headers: request.headers,
        body: text,
      });
      return { status: answer.status, headers: answer.headers, body: await answer.text() };
    };
    const respond = (answer) => new Response(answer.body, { status: answer.status, headers: answer.headers });
    if (kind === "product_deleted") {
      this.deletedCalls += 1;
      const failing = plan.deleted === "fail-always" || (plan.deleted === "fail-twice" && this.deletedCalls <= 2);
      if (failing) {
        await this.note(product, kind, "failed");
        return new Response("staged failure", { status: 500 });
      }
      const answer = await forward();
      await this.note(product, kind, answer.status + " " + answer.body);
      this.deletionForwarded();
      return respond(answer);
    }
    await this.note(product, kind, "received");
    if (plan.enlist === "after-deletion") {
      await within(this.deletion);
      const answer = await forward();
      await this.note(product, kind, "forwarded after the deletion: " + answer.body);
      return respond(answer);
    }
    const answer = await forward();
    if (plan.enlist === "answer-after-deletion") {
      await within(this.deletion);
      await this.note(product, kind, "answered after the deletion: " + answer.body);
    }
    return respond(answer);
  }
}
export default {
  fetch() {
    return new Response("flaky fans");
  },
};
`;

/** Miniflare's log, kept: the queue broker reports each batch, retry and dead letter there. */
export class KeptLog extends Log {
  lines = [];
  constructor() {
    super(LogLevel.DEBUG);
  }
  log(message) {
    this.lines.push(stripVTControlCharacters(message));
  }
}

/**
 * startSystem options for the events tests: the tap on products' queue, the
 * recorder on the dead-letter queue, the broker's log kept, and with
 * `flaky`, users' PRODUCT_FANS staged by FlakyFans (which forwards to the
 * real ProductFans) and a longer gateway budget for the PUTs it holds.
 */
export function eventSystemOptions({ flaky = false } = {}) {
  const tapKv = { TAP: TAP_NAMESPACE };
  const extraWorkers = [
    {
      name: TAP_WORKER,
      script: TAP_SCRIPT,
      queueProducers: { QUEUE: EVENTS_QUEUE },
      kvNamespaces: tapKv,
      // A wrapped binding runs with the date of the worker that has it.
      compatibilityDate: undefined,
    },
    {
      name: RECORDER_WORKER,
      script: RECORDER_SCRIPT,
      kvNamespaces: tapKv,
      queueProducers: { INJECT: EVENTS_QUEUE },
      queueConsumers: { [DEAD_LETTER_QUEUE]: { maxBatchSize: 10, maxBatchTimeout: 1, maxRetries: 0 } },
    },
  ];
  const options = { wrapped: { products: { PRODUCT_EVENTS: TAP_WORKER } }, extraWorkers, log: new KeptLog() };
  if (!flaky) return options;
  extraWorkers.push({
    name: FLAKY_WORKER,
    script: FLAKY_SCRIPT,
    kvNamespaces: tapKv,
    durableObjects: {
      REAL_FANS: { className: "ProductFans", scriptName: "users", useSQLite: true },
    },
  });
  return {
    ...options,
    objects: { users: { PRODUCT_FANS: { className: "FlakyFans", scriptName: FLAKY_WORKER } } },
  };
}

/** What the tests read and stage through the tap's KV namespace. */
export function eventsOf(system, log) {
  const kv = () => system.kv(RECORDER_WORKER, "TAP");
  async function entries(prefix) {
    const namespace = await kv();
    const found = [];
    let cursor;
    do {
      const page = await namespace.list({ prefix, cursor });
      for (const { name } of page.keys) found.push({ key: name, value: await namespace.get(name) });
      cursor = page.list_complete ? undefined : page.cursor;
    } while (cursor);
    return found;
  }
  const parsed = (text) => {
    try {
      return JSON.parse(text);
    } catch {
      return undefined;
    }
  };
  return {
    /** The text of every message the queue accepted from products, oldest first. */
    publishedTexts: async () => (await entries("published:")).map((e) => e.value),
    /** Every event products published (parsed), oldest first. */
    published: async () => (await entries("published:")).map((e) => parsed(e.value)),
    /** The events published about `product`, by version. */
    async publishedAbout(product) {
      return (await this.published()).filter((e) => e?.product_id === product).sort((a, b) => a.version - b.version);
    },
    /** The text of every send refused while the queue was down. */
    refused: async () => (await entries("refused:")).map((e) => e.value),
    /** Every dead letter: `{ body, kind, bytes, json, attempts }`. */
    deadLetters: async () => (await entries("dead:")).map((e) => JSON.parse(e.value)),
    /** Every call the staged fans object of `product` got: `{ kind, at, outcome }`. */
    fansCalls: async (product) => (await entries(`fans:${product}:`)).map((e) => JSON.parse(e.value)),
    setMode: async (mode) => (await kv()).put("mode", mode),
    plan: async (product, plan) => (await kv()).put(`plan:${product}`, JSON.stringify(plan)),
    /** Sends `bodies` on the events queue in one sendBatch, as another producer would. */
    async inject(bodies, contentType) {
      const queue = await system.mf.getQueueProducer("INJECT", RECORDER_WORKER);
      await queue.sendBatch(bodies.map((body) => (contentType ? { body, contentType } : { body })));
    },
    /** The broker's account so far, from line `from` of its log. */
    broker: (from = 0) => brokerAccount(log.lines.slice(from)),
    /** Where the broker's log is now (for `broker(from)`). */
    mark: () => log.lines.length,
  };
}

/**
 * The queue broker's lines, summed: batches delivered to a consumer
 * (`QUEUE <queue> <acked>/<delivered>`), retries scheduled, messages moved
 * to a dead-letter queue; per queue.
 */
export function brokerAccount(lines) {
  const account = {};
  const of = (queue) => (account[queue] ??= { batches: [], delivered: 0, acked: 0, retried: 0, movedToDlq: 0 });
  for (const line of lines) {
    let match;
    if ((match = line.match(/QUEUE (\S+) (\d+)\/(\d+)/))) {
      const queue = of(match[1]);
      queue.batches.push({ acked: Number(match[2]), size: Number(match[3]) });
      queue.acked += Number(match[2]);
      queue.delivered += Number(match[3]);
    } else if ((match = line.match(/Retrying message "[^"]+" on queue "([^"]+)"/))) {
      of(match[1]).retried += 1;
    } else if ((match = line.match(/Moving message "[^"]+" on queue "([^"]+)" to dead letter queue/))) {
      of(match[1]).movedToDlq += 1;
    }
  }
  return account;
}

/** Polls `probe` every 100 ms until it answers a truthy value, for at most `ms`. */
export async function eventually(probe, { ms = 15000, what = "the condition" } = {}) {
  const deadline = Date.now() + ms;
  let last;
  while (Date.now() < deadline) {
    last = await probe();
    if (last) return last;
    await sleep(100);
  }
  assert.fail(`${what} did not hold within ${ms} ms (last: ${JSON.stringify(last)})`);
}
