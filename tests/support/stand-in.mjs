// One JavaScript stand-in for a service (users or products), for the tests
// that need a neighbour that fails on demand or that tells what it received,
// and one control protocol for it, reached directly on the stand-in's worker
// (`mf.getWorker(service)`), never through the gateway: control traffic
// meets no auth, no rate limit, no breaker, and is not counted as a call.
//
// The stand-in answers in its current mode:
// - ok: the service's real shapes (users: `/users`, `/users/:id`, POST 201;
//   products: `/products`, `/products/:id`, `/products?ids=`, POST 201;
//   both: `/health`), every product and user existing;
// - echo: `{ service, method, url, headers, body }`, the request as received;
// - throw, hang (30 s), text500 (500 text/plain "internal meltdown"),
//   garbage (200 application/json "{not json"), problem503 (a 503 problem
//   document of its own, with `x-from-service: yes`), slow:<ms> (answers
//   as it does when healthy after ms), slowbody:<ms> (200 headers at once,
//   the body's end after ms);
// - vary:<value>: as healthy (its base mode), with `Vary: <value>` on the
//   answer (not a failure mode).
// It counts its calls per route ("GET /products/:id" is counted as
// "GET /products/101"; a batch read as "GET /products?ids="), the calls it
// answered in a failure mode, and records for each call the request id and
// traceparent it carried.
//
// Control (any method), on `http://stand-in/__control/…`:
//   mode/<mode>   switch modes (URL-encoded; 400 for an unknown mode)
//   heal          back to the mode it started in
//   state         { service, mode, base, calls, total, faults, seen }
//   reset         forget calls, faults and seen (the mode stays)
//
// rawUpstream (at the end) is not a worker: an HTTP server outside workerd
// for the answers no worker can give (statuses outside 200..599).
import assert from "node:assert/strict";
import net from "node:net";

/**
 * The JavaScript module of a stand-in for `service`, starting in `mode`
 * ("ok" for the real shapes, "echo" for the request as received).
 */
export function standInWorker(service, { mode = "ok" } = {}) {
  assert.ok(["users", "products"].includes(service), `no stand-in for ${service}`);
  return `
const SERVICE = ${JSON.stringify(service)};
const BASE = ${JSON.stringify(mode)};
const MODES = ["ok", "echo", "throw", "hang", "text500", "garbage", "problem503", "slow", "slowbody", "vary"];
const TIMED = ["slow", "slowbody"];
const HEALTHY = ["ok", "echo", "vary"];
let mode = BASE;
let calls = {};
let faults = 0;
let seen = [];

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const json = (status, body, headers = {}) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } });
const stamp = "2026-01-01T00:00:00.000Z";
const user = (id) => ({ id, name: "User " + id, email: "user-" + id + "@example.com", created_at: stamp, updated_at: stamp });
const product = (id) => ({ id, name: "Product " + id, price: { amount: 100, currency: "EUR" }, stock: 1, created_at: stamp, updated_at: stamp });

function known(candidate) {
  const [kind, arg] = splitMode(candidate);
  if (!MODES.includes(kind)) return false;
  if (kind === "vary") return Boolean(arg);
  return TIMED.includes(kind) ? /^\\d+$/.test(arg ?? "") : arg === undefined;
}

/** "kind:arg" as [kind, arg]; the argument may itself hold colons. */
function splitMode(mode) {
  const at = mode.indexOf(":");
  return at < 0 ? [mode, undefined] : [mode.slice(0, at), mode.slice(at + 1)];
}

function control(path) {
  if (path.startsWith("mode/")) {
    const next = decodeURIComponent(path.slice("mode/".length));
    if (!known(next)) return json(400, { error: "unknown mode " + next, modes: MODES });
    mode = next;
    return json(200, { mode });
  }
  if (path === "heal") {
    mode = BASE;
    return json(200, { mode });
  }
  if (path === "reset") {
    calls = {};
    faults = 0;
    seen = [];
    return json(200, { mode });
  }
  if (path === "state") {
    const total = Object.values(calls).reduce((sum, n) => sum + n, 0);
    return json(200, { service: SERVICE, mode, base: BASE, calls, total, faults, seen });
  }
  return json(404, { error: "no such control " + path });
}

function shapes(request, url) {
  const segments = url.pathname.split("/").filter(Boolean);
  if (url.pathname === "/health") return json(200, { status: "ok" });
  if (SERVICE === "users" && segments[0] === "users") {
    if (segments.length === 1 && request.method === "POST") return json(201, user("new"), { location: "/users/new" });
    if (segments.length === 1) return json(200, { items: [user("1")], next_cursor: null });
    return json(200, user(segments[1]));
  }
  if (SERVICE === "products" && segments[0] === "products") {
    const ids = url.searchParams.get("ids");
    if (ids !== null) return json(200, { items: ids.split(",").map(product), missing: [] });
    if (segments.length === 1 && request.method === "POST") return json(201, product("new"), { location: "/products/new" });
    if (segments.length === 1) return json(200, { items: [product("101")], next_cursor: null });
    return json(200, product(segments[1]));
  }
  return json(404, { error: "no such route in the stand-in" });
}

export default {
  async fetch(request) {
    const url = new URL(request.url);
    if (url.pathname.startsWith("/__control/")) return control(url.pathname.slice("/__control/".length));
    const call = request.method + " " + url.pathname + (url.searchParams.has("ids") ? "?ids=" : "");
    calls[call] = (calls[call] ?? 0) + 1;
    seen.push({
      call,
      ids: url.searchParams.get("ids"),
      request_id: request.headers.get("x-request-id"),
      traceparent: request.headers.get("traceparent"),
    });
    const body = await request.text();
    const [kind, arg] = splitMode(mode);
    if (!HEALTHY.includes(kind)) faults += 1;
    const echo = () =>
      Response.json({ service: SERVICE, method: request.method, url: url.pathname + url.search, headers: Object.fromEntries(request.headers), body });
    switch (kind) {
      case "echo":
        return echo();
      case "throw":
        throw new Error("the " + SERVICE + " stand-in is broken");
      case "hang": // a timer, not a bare pending promise: workerd cancels those
        await sleep(30000);
        break;
      case "text500":
        return new Response("internal meltdown", { status: 500, headers: { "content-type": "text/plain" } });
      case "garbage":
        return new Response("{not json", { status: 200, headers: { "content-type": "application/json", "x-stand-in": "garbage" } });
      case "problem503":
        return new Response(
          JSON.stringify({ type: "/problems/stand-in", title: "Stand-in down", status: 503, detail: "from the " + SERVICE + " stand-in" }),
          { status: 503, headers: { "content-type": "application/problem+json", "x-from-service": "yes" } },
        );
      case "slow":
        await sleep(Number(arg));
        break;
      case "slowbody": {
        const encoder = new TextEncoder();
        const stalled = new ReadableStream({
          async start(controller) {
            controller.enqueue(encoder.encode('{"service":"' + SERVICE + '",'));
            await sleep(Number(arg));
            controller.enqueue(encoder.encode('"late":true}'));
            controller.close();
          },
        });
        return new Response(stalled, { status: 200, headers: { "content-type": "application/json" } });
      }
    }
    const healthy = BASE === "echo" ? echo() : shapes(request, url);
    if (kind === "vary") healthy.headers.set("vary", arg);
    return healthy;
  },
};
`;
}

/**
 * The control of the stand-in for `service` in `suite`'s system (a handle
 * whose `system` is the running system, as suiteSystem returns it), usable
 * once the system is up.
 */
export function standInControl(suite, service) {
  let worker;
  let workerOf;
  async function send(path) {
    if (workerOf !== suite.system) {
      worker = await suite.system.mf.getWorker(service);
      workerOf = suite.system;
    }
    const res = await worker.fetch(`http://stand-in/__control/${path}`, { method: "POST" });
    const body = await res.json();
    assert.equal(res.status, 200, `${service} stand-in, control ${path}: ${JSON.stringify(body)}`);
    return body;
  }
  const control = {
    /** Switches to `mode` (see the modes above). */
    setMode: (mode) => send(`mode/${encodeURIComponent(mode)}`),
    /** Back to the mode the stand-in started in. */
    heal: () => send("heal"),
    /** Runs `action` with the stand-in in `mode`, then heals it, whatever happened. */
    async during(mode, action) {
      await control.setMode(mode);
      try {
        return await action();
      } finally {
        await control.heal();
      }
    },
    /** Everything it knows: { mode, base, calls, total, faults, seen }. */
    state: () => send("state"),
    /** Calls per route since the last reset: { "GET /products?ids=": 1, … }. */
    calls: async () => (await control.state()).calls,
    /** How many calls it answered since the last reset, all routes together. */
    total: async () => (await control.state()).total,
    /** How many calls it answered in a failure mode since the last reset. */
    faults: async () => (await control.state()).faults,
    /** For each call since the last reset: { call, ids, request_id, traceparent }. */
    seen: async () => (await control.state()).seen,
    /** Forgets calls, faults and seen; the mode stays. */
    reset: () => send("reset"),
  };
  return control;
}

/**
 * An HTTP/1.1 server outside workerd that answers every request with the
 * bytes of `head` (a status line and header lines, without the blank line)
 * and `body`, verbatim: for answers no worker can give (a Response can only
 * be built with a status from 200 to 599), reached through a service binding
 * of kind `external` (startSystem's `services`). Resolves, once listening,
 * to `{ address, binding, requests, close }`: `binding` is the service
 * binding target, `requests` counts the requests it answered.
 */
export async function rawUpstream(head, body = "") {
  const upstream = { requests: 0 };
  const server = net.createServer((socket) => {
    socket.on("error", () => {});
    socket.once("data", () => {
      upstream.requests += 1;
      const bytes = Buffer.from(body, "utf8");
      socket.end(`${head}\r\ncontent-length: ${bytes.length}\r\nconnection: close\r\n\r\n${body}`);
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  upstream.address = `127.0.0.1:${server.address().port}`;
  upstream.binding = { external: { address: upstream.address, http: {} } };
  upstream.close = () => new Promise((resolve) => server.close(resolve));
  return upstream;
}
