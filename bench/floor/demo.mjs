// Proofs for the own pipeline (no worker-build), on the builds in
// bench/floor/build: run alone with `node bench/floor/demo.mjs`, or through
// floor.mjs. Throws on the first proof that fails; returns one line per
// proof that held.
//
// - pipeline-demo: a hand-written `fetch` export on the own executor, a
//   `#[durable_object]` class answering from SQLite storage, a
//   `#[event(queue)]` consumer, all behind the generated plain entry;
//   panics before the first await and after one, each followed by a
//   request that is answered (SQLite state survives, memory does not);
//   30 concurrent requests each answered once.
// - the three Rust KV variants: a KV value of "panic" makes the handler
//   panic after its await; the request fails, the next one is answered.
import assert from "node:assert/strict";
import { Miniflare } from "miniflare";
import { fileURLToPath } from "node:url";
import { KV_VALUE, variantOptions } from "./build.mjs";

const PANIC_ANSWER_WITHIN_MS = 10_000;

export async function prove() {
  const lines = [];
  lines.push(...(await provePipelineDemo()));
  for (const variant of ["kv-event", "kv-wbf-plain", "kv-exec-plain"]) {
    lines.push(await proveKvPanic(variant));
  }
  return lines;
}

async function provePipelineDemo() {
  const logs = [];
  const mf = new Miniflare({
    host: "127.0.0.1",
    port: 0,
    handleRuntimeStdio: collect(logs),
    ...variantOptions("pipeline-demo", {
      durableObjects: { COUNTER: { className: "Counter", useSQLite: true } },
      queueProducers: { JOBS: "floor-jobs" },
      queueConsumers: { "floor-jobs": { maxBatchSize: 1, maxBatchTimeout: 1 } },
    }),
  });
  try {
    const url = (await mf.ready).toString().replace(/\/$/, "");
    const get = async (path) => {
      const response = await fetch(url + path);
      return { status: response.status, body: await response.text() };
    };
    const lines = [];
    assert.deepEqual(await get("/count"), { status: 200, body: "1" });
    assert.deepEqual(await get("/count"), { status: 200, body: "2" });
    lines.push("pipeline-demo: the Durable Object (SQLite storage) counts 1, 2 through the plain entry");

    assert.equal((await get("/enqueue")).status, 202);
    const deadline = Date.now() + 15_000;
    let peek;
    while (Date.now() < deadline) {
      peek = await get("/peek");
      if (peek.body === "12") break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.deepEqual(peek, { status: 200, body: "12" }, "the queue consumer added 10");
    lines.push("pipeline-demo: a message sent to the queue reached the `queue` export, which added 10 in the object (12)");

    const now = await timed(() => get("/panic-now"));
    assert.equal(now.value.status, 500);
    assert.deepEqual(await get("/count"), { status: 200, body: "13" });
    lines.push(`pipeline-demo: a panic before any await answered 500 in ${now.ms.toFixed(0)} ms; the next request was answered (13: SQLite kept, the instance reset)`);

    const later = await timed(() => get("/panic-later"));
    assert.equal(later.value.status, 500);
    assert.ok(later.ms < PANIC_ANSWER_WITHIN_MS, `the pending request ended in ${later.ms} ms`);
    assert.deepEqual(await get("/count"), { status: 200, body: "14" });
    lines.push(`pipeline-demo: a panic after an await (own executor, pending) answered 500 in ${later.ms.toFixed(0)} ms; the next request was answered (14)`);

    const concurrent = await Promise.all(Array.from({ length: 30 }, () => get("/count")));
    assert.ok(concurrent.every(({ status }) => status === 200), "30 concurrent requests all answered 200");
    const counts = concurrent.map(({ body }) => Number(body)).sort((a, b) => a - b);
    assert.deepEqual(counts, Array.from({ length: 30 }, (_, i) => 15 + i), "each saw its own increment");
    lines.push("pipeline-demo: 30 concurrent requests on the own executor (each awaiting the object through the worker crate's JsFuture) answered 15..44, once each");

    const resets = logs.join("").split("Reinitializing Wasm application").length - 1;
    assert.ok(resets >= 2, `expected two resets in the logs, saw ${resets}`);
    lines.push(`pipeline-demo: the logs show ${resets} resets ("Reinitializing Wasm application")`);
    return lines;
  } finally {
    await mf.dispose();
  }
}

async function proveKvPanic(variant) {
  const logs = [];
  const mf = new Miniflare({
    host: "127.0.0.1",
    port: 0,
    handleRuntimeStdio: collect(logs),
    ...variantOptions(variant, { kvNamespaces: { KV: "floor-kv" } }),
  });
  try {
    const url = (await mf.ready).toString().replace(/\/$/, "");
    const kv = await mf.getKVNamespace("KV");
    await kv.put("k", KV_VALUE);
    const ok = await fetch(url);
    assert.equal(await ok.text(), KV_VALUE);
    const bodies = await Promise.all(Array.from({ length: 50 }, () => fetch(url).then((response) => response.text())));
    assert.ok(bodies.every((body) => body === KV_VALUE), `${variant}: 50 concurrent requests got the value`);
    await kv.put("k", "panic");
    const failed = await timed(async () => {
      const response = await fetch(url);
      await response.arrayBuffer();
      return response.status;
    });
    assert.equal(failed.value, 500);
    await kv.put("k", KV_VALUE);
    const after = await fetch(url);
    assert.deepEqual({ status: after.status, body: await after.text() }, { status: 200, body: KV_VALUE });
    const resets = logs.join("").split("Reinitializing Wasm application").length - 1;
    assert.ok(resets >= 1, `${variant}: no reset in the logs`);
    return `${variant}: 50 concurrent requests got the value; a panic after the KV await answered 500 in ${failed.ms.toFixed(0)} ms, then the instance reset and the next request got the value`;
  } finally {
    await mf.dispose();
  }
}

async function timed(action) {
  const started = performance.now();
  const value = await action();
  return { value, ms: performance.now() - started };
}

function collect(logs) {
  return (stdout, stderr) => {
    stdout.on("data", (chunk) => logs.push(chunk.toString()));
    stderr.on("data", (chunk) => logs.push(chunk.toString()));
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const line of await prove()) console.log(line);
}
