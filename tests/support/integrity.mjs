// What the integrity tests need besides the system: whole KV namespaces read
// directly, full listings through the gateway, the cursor MACs a forger
// would compute, and a staged Durable Object class that fails.
import assert from "node:assert/strict";

/** Every key of a KV namespace with its value: `{ key: value }`, keys in order. */
export async function kvSnapshot(system, worker, binding, prefix = "") {
  const namespace = await system.kv(worker, binding);
  const snapshot = {};
  let cursor;
  do {
    const page = await namespace.list({ prefix, cursor });
    const values = await pool(page.keys.length, 16, (i) => namespace.get(page.keys[i].name));
    page.keys.forEach(({ name }, i) => (snapshot[name] = values[i]));
    cursor = page.list_complete ? undefined : page.cursor;
  } while (cursor);
  return snapshot;
}

/** The parsed records of a KV namespace under `prefix`: `[{ key, record }]`. */
export async function storedRecords(system, worker, binding, prefix) {
  const snapshot = await kvSnapshot(system, worker, binding, prefix);
  return Object.entries(snapshot).map(([key, value]) => ({ key, record: JSON.parse(value) }));
}

/** Every item of a listing through the gateway, page by page (100 a page). */
export async function listAll(request, path) {
  const items = [];
  let cursor = null;
  for (let pages = 0; ; pages++) {
    assert.ok(pages < 1000, `${path}: the listing ends`);
    const res = await request("GET", `${path}?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    assert.equal(res.status, 200, res.text);
    items.push(...res.json.items);
    cursor = res.json.next_cursor;
    if (!cursor) return items;
  }
}

/** Runs `count` tasks with at most `limit` in flight; their results in order. */
export async function pool(count, limit, task) {
  const results = new Array(count);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      results[i] = await task(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, count) }, worker));
  return results;
}

/** How many times each status occurs: `{ 201: 1, 409: 49 }`. */
export function tally(responses) {
  const counts = {};
  for (const res of responses) counts[res.status] = (counts[res.status] ?? 0) + 1;
  return counts;
}

// ---------------------------------------------------------------- cursor MACs

const MASK = (1n << 64n) - 1n;
const rotl = (x, b) => ((x << BigInt(b)) | (x >> BigInt(64 - b))) & MASK;

/** SipHash-2-4 of `bytes` under the key (k0, k1), as the siphasher crate computes it. */
export function siphash24(k0, k1, bytes) {
  let v0 = k0 ^ 0x736f6d6570736575n;
  let v1 = k1 ^ 0x646f72616e646f6dn;
  let v2 = k0 ^ 0x6c7967656e657261n;
  let v3 = k1 ^ 0x7465646279746573n;
  const round = () => {
    v0 = (v0 + v1) & MASK; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32);
    v2 = (v2 + v3) & MASK; v3 = rotl(v3, 16); v3 ^= v2;
    v0 = (v0 + v3) & MASK; v3 = rotl(v3, 21); v3 ^= v0;
    v2 = (v2 + v1) & MASK; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32);
  };
  const tail = bytes.length % 8;
  const end = bytes.length - tail;
  for (let i = 0; i < end; i += 8) {
    let m = 0n;
    for (let j = 7; j >= 0; j--) m = (m << 8n) | BigInt(bytes[i + j]);
    v3 ^= m; round(); round(); v0 ^= m;
  }
  let last = BigInt(bytes.length & 0xff) << 56n;
  for (let j = 0; j < tail; j++) last |= BigInt(bytes[end + j]) << BigInt(8 * j);
  v3 ^= last; round(); round(); v0 ^= last;
  v2 ^= 0xffn;
  round(); round(); round(); round();
  return (v0 ^ v1 ^ v2 ^ v3) & MASK;
}

const utf8 = (text) => [...Buffer.from(text, "utf8")];
const hex16 = (n) => n.toString(16).padStart(16, "0");

/**
 * The cursor the services hand out for KV's `kvCursor` in the listing
 * `scope` (its key prefix, "user:" or "product:"), sealed under `secret`:
 * workers/common/src/cursor.rs, computed independently.
 */
export function sipSealed(secret, scope, kvCursor) {
  const half = (domain) => siphash24(domain, ~domain & MASK, utf8(secret));
  const k0 = half(0x637572736f722d30n);
  const k1 = half(0x637572736f722d31n);
  return `${kvCursor}.${hex16(siphash24(k0, k1, [...utf8(scope), 0, ...utf8(kvCursor)]))}`;
}

/** The cursor a reader of the old code would forge: unkeyed FNV-1a 64 over `<scope>\0<kv cursor>`. */
export function fnvSealed(scope, kvCursor) {
  let hash = 0xcbf29ce484222325n;
  for (const byte of [...utf8(scope), 0, ...utf8(kvCursor)]) {
    hash = ((hash ^ BigInt(byte)) * 0x100000001b3n) & MASK;
  }
  return `${kvCursor}.${hex16(hash)}`;
}

// ---------------------------------------------------------------- failing objects

/** How long the hanging object takes to answer: past the services' 5 s object budget. */
export const HANG_MS = 8000;

/**
 * A worker exporting Durable Object classes that fail: `Broken` throws on
 * every call, `Hanging` answers after HANG_MS. Bound in place of a real
 * object namespace through startSystem's `objects` and `extraWorkers`.
 */
export const FAILING_OBJECTS = {
  name: "failing-objects",
  script: `
export class Broken {
  async fetch() { throw new Error("staged failure: the object throws"); }
}
export class Hanging {
  async fetch() {
    await new Promise((resolve) => setTimeout(resolve, ${HANG_MS}));
    return new Response("{}", { headers: { "content-type": "application/json" } });
  }
}
export default { fetch: () => new Response("no such route", { status: 404 }) };
`,
};

/** startSystem options that bind `binding` of `worker` to the failing class `className`. */
export function failingObject(worker, binding, className, extra = {}) {
  return {
    ...extra,
    objects: { [worker]: { [binding]: { className, scriptName: FAILING_OBJECTS.name } } },
    extraWorkers: [FAILING_OBJECTS],
  };
}
