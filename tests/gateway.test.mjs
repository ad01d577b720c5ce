// The gateway's cross-cutting concerns, observed over HTTP: routing, request
// ids and trace context, CORS, auth, rate limits, body limits, failure
// isolation (timeouts, 502s, the circuit breaker), security headers, the
// access log and /health.
//
// Most tests run against one system whose users and products workers are
// stand-ins (support/stand-in.mjs) that echo what they received and count
// their calls; the products stand-in is switched into failure modes. Rate limits and
// the healthy /health answer use a second system with the real services, the
// shipped rate limit (1,100 refused requests, bounded drains) and HEAD a
// third, and the access log of answers that cannot be built a fourth, whose
// services are HTTP servers outside workerd.
import { describe, test, before, after, beforeEach, afterEach } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { suiteSystem, devApiKey, readConfig } from "./support/system.mjs";
import { assertProblem } from "./support/problem.mjs";
import { standInWorker, standInControl, rawUpstream } from "./support/stand-in.mjs";
import {
  sleep,
  withinOneWindow,
  heldUpload,
  within,
  UUID,
  RFC3339_UTC,
  TRACEPARENT,
  accessLogLines,
  retryAfterSecs,
  rawRequest,
  parseJson,
} from "./support/helpers.mjs";

const LIMIT = 64 * 1024;
const TIMEOUT_MS = 300;
const COOLDOWN_MS = 500;
const ALLOWED_ORIGIN = "http://localhost:3000";
const OTHER_ORIGIN = "https://evil.example";
const WRITES = ["POST", "PUT", "PATCH", "DELETE"];

function accessControlHeaders(headers) {
  return [...headers.keys()].filter((name) => name.startsWith("access-control-"));
}

/** A rawRequest answer as assertProblem reads one (headers with get). */
const answerOf = (res) => ({ ...res, headers: new Headers(Object.entries(res.headers).map(([name, value]) => [name, String(value)])) });

/** How many times `vary` names Origin (case-insensitively). */
const originsIn = (vary) => (vary ?? "").split(",").filter((token) => token.trim().toLowerCase() === "origin").length;

/** A body sent as a stream, so fetch sends no Content-Length (chunked). */
async function postStream(system, path, bytes, headers = {}) {
  const chunk = 8 * 1024;
  const body = new ReadableStream({
    start(controller) {
      for (let at = 0; at < bytes.length; at += chunk) controller.enqueue(bytes.subarray(at, at + chunk));
      controller.close();
    },
  });
  const response = await fetch(system.url + path, {
    method: "POST",
    body,
    duplex: "half",
    headers: { authorization: `Bearer ${devApiKey()}`, "content-type": "text/plain", ...headers },
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, text, json: parseJson(text) };
}

describe("gateway with stand-in services", () => {
  const suite = suiteSystem({
    standIns: {
      users: standInWorker("users", { mode: "echo" }),
      products: standInWorker("products", { mode: "echo" }),
    },
    vars: {
      gateway: {
        UPSTREAM_TIMEOUT_MS: String(TIMEOUT_MS),
        BREAKER_THRESHOLD: "3",
        BREAKER_COOLDOWN_MS: String(COOLDOWN_MS),
      },
    },
  });
  const { request } = suite;

  const usersStandIn = standInControl(suite, "users");
  const productsStandIn = standInControl(suite, "products");
  const totalCalls = async () => (await usersStandIn.total()) + (await productsStandIn.total());

  /** Makes products healthy and waits until its breaker lets calls through again. */
  async function recoverProducts() {
    await productsStandIn.heal();
    for (let i = 0; i < 30; i++) {
      if ((await request("GET", "/products/recover")).status === 200) return;
      await sleep(100);
    }
    assert.fail("products did not recover");
  }

  describe("routing", () => {
    const routed = [
      ["/users", "users"],
      ["/users/1", "users"],
      ["/users/1/favorites", "users"],
      ["/products", "products"],
      ["/products/101", "products"],
      ["/products?ids=101,102&limit=5", "products"],
    ];
    for (const [path, service] of routed) {
      test(`GET ${path} reaches ${service} with its path and query`, async () => {
        const res = await request("GET", path);
        assert.equal(res.status, 200, res.text);
        assert.equal(res.json.service, service);
        assert.equal(res.json.url, path);
      });
    }

    test("method, path, query, body and headers arrive unchanged", async () => {
      const body = JSON.stringify({ name: "Ada", note: "ü → ✓" });
      for (const method of WRITES) {
        const res = await request(method, "/users/42/things?b=2&a=1&x=%20y", {
          raw: body,
          headers: { "content-type": "application/json", "x-custom": "custom value", "if-match": '"v1"' },
        });
        assert.equal(res.status, 200, res.text);
        const seen = res.json;
        assert.equal(seen.service, "users");
        assert.equal(seen.method, method);
        assert.equal(seen.url, "/users/42/things?b=2&a=1&x=%20y");
        assert.equal(seen.body, body);
        assert.equal(seen.headers["content-type"], "application/json");
        assert.equal(seen.headers["x-custom"], "custom value");
        assert.equal(seen.headers["if-match"], '"v1"');
        assert.equal(seen.headers.authorization, undefined, "Authorization is not forwarded");
      }
    });

    // workerd's HTTP server and fetch over a service binding strip none of
    // these headers on their own: with the gateway's lists emptied, a stand-in
    // receives every one of them. So each assertion below fails when the
    // gateway forwards the header it names.
    test("hop-by-hop headers and Authorization are not forwarded", async () => {
      const res = await rawRequest(suite.system, "GET", "/users/1", {
        // Names no header sent here: each one below goes by the fixed list alone.
        Connection: "x-not-sent",
        "Keep-Alive": "timeout=5",
        TE: "trailers",
        Upgrade: "example/1",
        "Proxy-Authorization": "Basic cHJveHk6c2VjcmV0",
        "Proxy-Authenticate": "Basic",
        "Proxy-Connection": "keep-alive",
        Authorization: `Bearer ${devApiKey()}`,
        "X-Kept": "yes",
      });
      assert.equal(res.status, 200, res.text);
      const forwarded = res.json.headers;
      const hopByHop = ["connection", "keep-alive", "te", "upgrade", "proxy-authorization", "proxy-authenticate", "proxy-connection", "authorization"];
      assert.deepEqual(hopByHop.filter((name) => name in forwarded), [], `forwarded: ${JSON.stringify(forwarded)}`);
      assert.equal(forwarded["x-kept"], "yes");
    });

    test("headers named in Connection are not forwarded", async () => {
      const res = await rawRequest(suite.system, "GET", "/users/1", {
        Connection: "X-Hop-Secret, x-hop-other",
        "X-Hop-Secret": "per-connection",
        "X-Hop-Other": "per-connection too",
        "X-Kept": "yes",
      });
      assert.equal(res.status, 200, res.text);
      const forwarded = res.json.headers;
      const named = ["x-hop-secret", "x-hop-other", "connection"];
      assert.deepEqual(named.filter((name) => name in forwarded), [], `forwarded: ${JSON.stringify(forwarded)}`);
      assert.equal(forwarded["x-kept"], "yes");
    });

    test("X-Request-Id, traceparent and Authorization named in Connection: the id and the trace travel on, the key is still checked", async () => {
      const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
      const res = await rawRequest(suite.system, "POST", "/users", {
        Connection: "X-Request-Id, traceparent, Authorization, , bad name(",
        "X-Request-Id": "named-in-connection",
        traceparent: `00-${traceId}-00f067aa0ba902b7-01`,
        Authorization: `Bearer ${devApiKey()}`,
        "content-type": "application/json",
      }, "{}");
      assert.equal(res.status, 200, res.text);
      assert.equal(res.headers["x-request-id"], "named-in-connection");
      const forwarded = res.json.headers;
      assert.equal(forwarded["x-request-id"], "named-in-connection");
      assert.equal(forwarded.traceparent.match(TRACEPARENT)?.[1], traceId, forwarded.traceparent);
      assert.equal(forwarded.authorization, undefined);
      assert.equal(forwarded.connection, undefined);
      const refused = await rawRequest(suite.system, "POST", "/users", { Connection: "authorization", Authorization: "Bearer wrong" }, "{}");
      assertProblem(answerOf(refused), 401);
    });

    test("a chunked body is forwarded whole, without Transfer-Encoding and Trailer", async () => {
      const body = "chunked body ✓";
      const res = await rawRequest(
        suite.system,
        "POST",
        "/users",
        { authorization: `Bearer ${devApiKey()}`, "content-type": "text/plain", trailer: "x-checksum" },
        body,
      );
      assert.equal(res.status, 200, res.text);
      const forwarded = res.json.headers;
      assert.deepEqual(["transfer-encoding", "trailer"].filter((name) => name in forwarded), [], `forwarded: ${JSON.stringify(forwarded)}`);
      assert.equal(res.json.body, body);
    });

    for (const path of ["/", "/nowhere", "/usersx", "/Users", "/health/x"]) {
      test(`GET ${path} is a 404 problem and reaches no service`, async () => {
        const before = await totalCalls();
        const res = await request("GET", path);
        assertProblem(res, 404, { instance: path });
        assert.equal(await totalCalls(), before);
      });
    }
  });

  describe("request id and trace context", () => {
    const kept = [
      ["a short id", "abc.DEF_123-x"],
      ["a 128-character id", "r".repeat(128)],
      ["a one-character id", "z"],
    ];
    for (const [name, id] of kept) {
      test(`${name} is kept: response, service and problem body`, async () => {
        const ok = await request("GET", "/users/1", { headers: { "x-request-id": id } });
        assert.equal(ok.headers.get("x-request-id"), id);
        assert.equal(ok.json.headers["x-request-id"], id);
        const missing = await request("GET", "/nowhere", { headers: { "x-request-id": id } });
        assert.equal(missing.headers.get("x-request-id"), id);
        assert.equal(missing.json.request_id, id);
      });
    }

    const replaced = [
      ["a 129-character id", "r".repeat(129)],
      ["an id with a space", "a b"],
      ["an id with a slash", "a/b"],
      ["an empty id", ""],
    ];
    for (const [name, id] of replaced) {
      test(`${name} is replaced by a new UUID`, async () => {
        const ok = await request("GET", "/users/1", { headers: { "x-request-id": id } });
        const fresh = ok.headers.get("x-request-id");
        assert.match(fresh ?? "", UUID);
        assert.equal(ok.json.headers["x-request-id"], fresh);
        const missing = await request("GET", "/nowhere", { headers: { "x-request-id": id } });
        assert.match(missing.json.request_id, UUID);
        assert.equal(missing.json.request_id, missing.headers.get("x-request-id"));
        assert.notEqual(missing.json.request_id, fresh, "each request gets its own id");
      });
    }

    test("a request without an id gets a UUID", async () => {
      const res = await request("GET", "/users/1");
      assert.match(res.headers.get("x-request-id") ?? "", UUID);
      assert.equal(res.json.headers["x-request-id"], res.headers.get("x-request-id"));
    });

    test("a valid traceparent is continued with the same trace id and a new span id", async () => {
      const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
      const parentId = "00f067aa0ba902b7";
      const res = await request("GET", "/products/101", { headers: { traceparent: `00-${traceId}-${parentId}-01` } });
      const [, forwardedTrace, forwardedSpan] = res.json.headers.traceparent.match(TRACEPARENT) ?? [];
      assert.equal(forwardedTrace, traceId, res.json.headers.traceparent);
      assert.ok(forwardedSpan, res.json.headers.traceparent);
      assert.notEqual(forwardedSpan, parentId, "a new span id");
      assert.notEqual(forwardedSpan, "0".repeat(16));
    });

    const invalidTraces = [
      ["absent", undefined],
      ["garbage", "garbage"],
      ["all-zero trace id", `00-${"0".repeat(32)}-00f067aa0ba902b7-01`],
      ["all-zero parent id", `00-4bf92f3577b34da6a3ce929d0e0e4736-${"0".repeat(16)}-01`],
      ["upper-case hex", "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01"],
      ["short trace id", "00-4bf92f3577b34da6-00f067aa0ba902b7-01"],
      ["unknown version", "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"],
    ];
    for (const [name, incoming] of invalidTraces) {
      test(`a traceparent that is ${name} starts a new trace`, async () => {
        const headers = incoming === undefined ? {} : { traceparent: incoming };
        const res = await request("GET", "/products/101", { headers });
        const forwarded = res.json.headers.traceparent ?? "";
        const [, traceId, spanId] = forwarded.match(TRACEPARENT) ?? [];
        assert.ok(traceId, `a valid traceparent is forwarded: ${forwarded}`);
        assert.notEqual(traceId, "0".repeat(32));
        assert.notEqual(spanId, "0".repeat(16));
        assert.ok(!incoming || !incoming.toLowerCase().includes(traceId), "a new trace id");
      });
    }

    test("two requests without traceparent get different trace ids", async () => {
      const one = await request("GET", "/users/1");
      const two = await request("GET", "/users/1");
      assert.notEqual(one.json.headers.traceparent.split("-")[1], two.json.headers.traceparent.split("-")[1]);
    });
  });

  describe("CORS", () => {
    const preflights = [
      ["/users", "POST"],
      ["/users/1", "DELETE"],
      ["/products/101", "PATCH"],
      ["/nowhere", "GET"],
    ];
    for (const [path, method] of preflights) {
      test(`a preflight for ${method} ${path} from an allowed origin is answered 204 by the gateway`, async () => {
        const before = await totalCalls();
        const res = await request("OPTIONS", path, {
          headers: {
            origin: ALLOWED_ORIGIN,
            "access-control-request-method": method,
            "access-control-request-headers": "authorization, content-type",
          },
        });
        assert.equal(res.status, 204, res.text);
        assert.equal(res.text, "");
        assert.equal(res.headers.get("access-control-allow-origin"), ALLOWED_ORIGIN);
        const methods = (res.headers.get("access-control-allow-methods") ?? "").split(",").map((m) => m.trim());
        for (const m of ["GET", ...WRITES]) assert.ok(methods.includes(m), `Allow-Methods has ${m}: ${methods}`);
        const allowed = (res.headers.get("access-control-allow-headers") ?? "").toLowerCase().split(",").map((h) => h.trim());
        for (const h of ["authorization", "content-type"]) assert.ok(allowed.includes(h), `Allow-Headers has ${h}: ${allowed}`);
        assert.equal(await totalCalls(), before, "no service was called");
      });
    }

    test("a preflight from a disallowed origin gets no Access-Control-* headers and reaches no service", async () => {
      const before = await totalCalls();
      const res = await request("OPTIONS", "/users", {
        headers: { origin: OTHER_ORIGIN, "access-control-request-method": "POST" },
      });
      assert.equal(res.status, 204, res.text);
      assert.deepEqual(accessControlHeaders(res.headers), []);
      assert.equal(await totalCalls(), before, "no service was called");
    });

    const answers = [
      ["a success", "GET", "/users/1", 200],
      ["a gateway problem", "GET", "/nowhere", 404],
      ["an auth problem", "POST", "/users", 401],
    ];
    for (const [name, method, path, status] of answers) {
      test(`${name} carries Access-Control-Allow-Origin for an allowed origin only`, async () => {
        const allowed = await request(method, path, { auth: false, headers: { origin: ALLOWED_ORIGIN } });
        assert.equal(allowed.status, status, allowed.text);
        assert.equal(allowed.headers.get("access-control-allow-origin"), ALLOWED_ORIGIN);
        const other = await request(method, path, { auth: false, headers: { origin: OTHER_ORIGIN } });
        assert.equal(other.status, status, other.text);
        assert.deepEqual(accessControlHeaders(other.headers), []);
        const none = await request(method, path, { auth: false });
        assert.deepEqual(accessControlHeaders(none.headers), []);
      });
    }

    // ALLOWED_ORIGINS is set (as shipped): what CORS adds depends on the
    // Origin, so every answer says so, whichever origin was sent, if any.
    const origins = [["an allowed origin", ALLOWED_ORIGIN], ["another origin", OTHER_ORIGIN], ["no origin", undefined]];
    const kinds = [
      ["a service's 200", "GET", "/users/1", {}, 200],
      ["a 404 problem", "GET", "/nowhere", {}, 404],
      ["a 401 problem", "POST", "/users", { auth: false }, 401],
      ["a 413 problem", "POST", "/users", { raw: "x".repeat(LIMIT + 1), headers: { "content-type": "text/plain" } }, 413],
      ["a preflight", "OPTIONS", "/users", { headers: { "access-control-request-method": "POST" } }, 204],
      ["a 405 problem", "POST", "/health", {}, 405],
      ["a HEAD", "HEAD", "/users/1", {}, 200],
    ];
    for (const [kind, method, path, options, status] of kinds) {
      test(`${kind} (${method} ${path}) carries Vary naming Origin once, for an allowed, another or no origin`, async () => {
        for (const [name, origin] of origins) {
          const headers = { ...options.headers, ...(origin ? { origin } : {}) };
          const res = await request(method, path, { ...options, headers });
          assert.equal(res.status, status, `${name}: ${res.text.slice(0, 300)}`);
          assert.equal(originsIn(res.headers.get("vary")), 1, `${name}: Vary ${res.headers.get("vary")}`);
        }
      });
    }

    test("a 502 problem and the breaker's 503 carry Vary naming Origin once", async () => {
      await recoverProducts();
      try {
        await productsStandIn.setMode("throw");
        for (const [name, origin] of origins) {
          const res = await request("GET", "/products/101", { headers: origin ? { origin } : {} });
          assertProblem(res, 502, { context: name });
          assert.equal(originsIn(res.headers.get("vary")), 1, `${name}: Vary ${res.headers.get("vary")}`);
        }
        const open = await request("GET", "/products/101", { headers: { origin: ALLOWED_ORIGIN } });
        assert.equal(assertProblem(open, 503).type, "/problems/circuit-open");
        assert.equal(originsIn(open.headers.get("vary")), 1, `Vary ${open.headers.get("vary")}`);
      } finally {
        await recoverProducts();
      }
    });

    const upstreamVary = [
      ["Accept-Encoding", "Accept-Encoding, Origin"],
      ["Accept-Encoding, Accept-Language", "Accept-Encoding, Accept-Language, Origin"],
      ["Origin", "Origin"],
      ["accept, origin", "accept, origin"],
      ["*", "*"],
    ];
    for (const [sent, arrives] of upstreamVary) {
      test(`a service's Vary: ${sent} arrives as Vary: ${arrives}`, async () => {
        await usersStandIn.during(`vary:${sent}`, async () => {
          for (const [name, origin] of origins) {
            const res = await request("GET", "/users/1", { headers: origin ? { origin } : {} });
            assert.equal(res.status, 200, res.text);
            assert.equal(res.headers.get("vary"), arrives, name);
          }
        });
      });
    }
  });

  describe("auth", () => {
    const targets = [
      ["POST", "/users"],
      ["PUT", "/users/1"],
      ["PATCH", "/products/101"],
      ["DELETE", "/products/101"],
    ];
    const credentials = [
      ["no Authorization", undefined],
      ["a wrong key", "Bearer not-the-key"],
      ["an empty bearer", "Bearer "],
      ["the right key in the Basic scheme", `Basic ${devApiKey()}`],
      ["the right key without a scheme", devApiKey()],
    ];
    for (const [method, path] of targets) {
      for (const [name, authorization] of credentials) {
        test(`${method} ${path} with ${name} is a 401 problem that reaches no service`, async () => {
          const before = await totalCalls();
          const headers = authorization === undefined ? {} : { authorization };
          const res = await request(method, path, { auth: false, headers, body: { name: "x" } });
          assertProblem(res, 401, { instance: path });
          assert.equal(res.headers.get("www-authenticate"), "Bearer");
          assert.equal(await totalCalls(), before);
        });
      }
      test(`${method} ${path} with the dev key is forwarded without Authorization`, async () => {
        const res = await request(method, path, { body: { name: "x" } });
        assert.equal(res.status, 200, res.text);
        assert.equal(res.json.method, method);
        assert.equal(res.json.headers.authorization, undefined);
      });
    }

    test("GETs are public, and an Authorization sent with one is not forwarded", async () => {
      const anonymous = await request("GET", "/products/101");
      assert.equal(anonymous.status, 200, anonymous.text);
      const withKey = await request("GET", "/users/1", { headers: { authorization: `Bearer ${devApiKey()}` } });
      assert.equal(withKey.status, 200, withKey.text);
      assert.equal(withKey.json.headers.authorization, undefined);
    });
  });

  describe("body limits", () => {
    const over = new Uint8Array(LIMIT + 1).fill(0x61);

    test("a body over 64 KiB with Content-Length is a 413 problem that reaches no service", async () => {
      const before = await totalCalls();
      const res = await request("POST", "/users", { raw: over, headers: { "content-type": "text/plain" } });
      assertProblem(res, 413, { instance: "/users" });
      assert.equal(await totalCalls(), before);
    });

    test("a body over 64 KiB without Content-Length is a 413 problem that reaches no service", async () => {
      const before = await totalCalls();
      // Just over the limit: with far larger bodies workerd's local HTTP
      // server may reset the connection (the gateway answers 413 before the
      // upload ends) and fetch fails before it reads the answer.
      const res = await postStream(suite.system, "/products", new Uint8Array(LIMIT + 4096).fill(0x62));
      assertProblem(res, 413, { instance: "/products" });
      const justOver = await postStream(suite.system, "/users", over);
      assertProblem(justOver, 413, { instance: "/users" });
      assert.equal(await totalCalls(), before);
    });

    const fitting = [
      ["just under 64 KiB", LIMIT - 1],
      ["exactly 64 KiB", LIMIT],
    ];
    for (const [name, size] of fitting) {
      const text = "0123456789abcdef".repeat(Math.ceil(size / 16)).slice(0, size);
      test(`a body of ${name} with Content-Length is forwarded intact`, async () => {
        const res = await request("POST", "/users", { raw: text, headers: { "content-type": "text/plain" } });
        assert.equal(res.status, 200, res.text.slice(0, 500));
        assert.equal(res.json.body.length, size);
        assert.equal(res.json.body, text);
      });
      test(`a body of ${name} without Content-Length is forwarded intact`, async () => {
        const res = await postStream(suite.system, "/products", new TextEncoder().encode(text));
        assert.equal(res.status, 200, res.text.slice(0, 500));
        assert.equal(res.json.body.length, size);
        assert.equal(res.json.body, text);
      });
    }
  });

  describe("failure isolation", () => {
    beforeEach(recoverProducts);
    afterEach(recoverProducts);

    const failures = [
      ["throws", "throw", 502],
      ["answers 500 text", "text500", 502],
    ];
    for (const [name, mode, status] of failures) {
      test(`products that ${name} is a ${status} problem`, async () => {
        await productsStandIn.setMode(mode);
        const res = await request("GET", "/products/101");
        assertProblem(res, status, { instance: "/products/101" });
        assert.ok(!res.text.includes("meltdown"), "the service's text is not passed on");
      });
    }

    test("a 5xx problem document from products passes through unchanged", async () => {
      await productsStandIn.setMode("problem503");
      const res = await request("GET", "/products/101");
      assert.equal(res.status, 503);
      assert.match(res.headers.get("content-type"), /^application\/problem\+json/);
      assert.equal(res.headers.get("x-from-service"), "yes");
      assert.deepEqual(res.json, {
        type: "/problems/stand-in",
        title: "Stand-in down",
        status: 503,
        detail: "from the products stand-in",
      });
    });

    test("products that hangs is a 504 problem after about the timeout, while users stays fast", async () => {
      await productsStandIn.setMode("hang");
      const started = Date.now();
      const hung = request("GET", "/products/101").then((res) => ({ res, elapsed: Date.now() - started }));
      for (let i = 0; i < 3; i++) {
        const t = Date.now();
        const users = await request("GET", "/users/1");
        assert.equal(users.status, 200, users.text);
        assert.ok(Date.now() - t < TIMEOUT_MS, `users answered in ${Date.now() - t} ms`);
      }
      const { res, elapsed } = await hung;
      assertProblem(res, 504, { instance: "/products/101" });
      assert.ok(elapsed >= TIMEOUT_MS - 20 && elapsed < TIMEOUT_MS + 1000, `504 after ${elapsed} ms`);
    });

    test("users stays 200 while products throws", async () => {
      await productsStandIn.setMode("throw");
      const [fromProducts, fromUsers] = await Promise.all([request("GET", "/products/101"), request("GET", "/users/1")]);
      assertProblem(fromProducts, 502);
      assert.equal(fromUsers.status, 200, fromUsers.text);
    });

    test("the breaker opens after 3 failures, refuses without calling, tries once after the cooldown, and closes", async () => {
      await productsStandIn.setMode("throw");
      const start = await productsStandIn.total();
      for (let i = 0; i < 3; i++) assertProblem(await request("GET", "/products/101"), 502);
      assert.equal(await productsStandIn.total(), start + 3);

      // Open: refused at once, without a call.
      let t = Date.now();
      const refused = await request("GET", "/products/101");
      assertProblem(refused, 503, { instance: "/products/101" });
      assert.ok(retryAfterSecs(refused) <= Math.ceil(COOLDOWN_MS / 1000));
      assert.ok(Date.now() - t < 200, `refused in ${Date.now() - t} ms`);
      assertProblem(await request("POST", "/products", { body: {} }), 503);
      assert.equal(await productsStandIn.total(), start + 3, "an open breaker calls nothing");

      // Users is unaffected while products' breaker is open.
      t = Date.now();
      const users = await request("GET", "/users/1");
      assert.equal(users.status, 200, users.text);
      assert.ok(Date.now() - t < TIMEOUT_MS);

      // After the cooldown one trial call goes out; it fails, so it reopens.
      await sleep(COOLDOWN_MS + 100);
      assertProblem(await request("GET", "/products/101"), 502);
      assert.equal(await productsStandIn.total(), start + 4);
      assertProblem(await request("GET", "/products/101"), 503);
      assert.equal(await productsStandIn.total(), start + 4);

      // Healthy again: the next trial succeeds and the breaker closes.
      await productsStandIn.heal();
      await sleep(COOLDOWN_MS + 100);
      const trial = await request("GET", "/products/101");
      assert.equal(trial.status, 200, trial.text);
      for (let i = 0; i < 3; i++) assert.equal((await request("GET", "/products/101")).status, 200);
      assert.equal(await productsStandIn.total(), start + 8);
    });

    test("a hanging products opens the breaker too, and users stays 200 meanwhile", async () => {
      await productsStandIn.setMode("hang");
      const hung = await Promise.all([1, 2, 3].map(() => request("GET", "/products/101")));
      for (const res of hung) assertProblem(res, 504);
      const t = Date.now();
      assertProblem(await request("GET", "/products/101"), 503);
      assert.ok(Date.now() - t < 200, "refused without waiting for the timeout");
      assert.equal((await request("GET", "/users/1")).status, 200);
    });
  });

  describe("health", () => {
    beforeEach(recoverProducts);
    afterEach(recoverProducts);

    for (const mode of ["throw", "text500", "hang"]) {
      test(`products in mode ${mode} makes /health 503 degraded`, async () => {
        await productsStandIn.setMode(mode);
        const res = await request("GET", "/health");
        assert.equal(res.status, 503, res.text);
        assert.equal(res.json.status, "degraded");
        assert.equal(res.json.services.users.status, "ok");
        assert.equal(res.json.services.products.status, "error");
      });
    }
  });

  describe("security headers", () => {
    const answers = [
      ["a success", "GET", "/users/1", {}, 200],
      ["a 404", "GET", "/nowhere", {}, 404],
      ["a 401 problem", "POST", "/users", { auth: false }, 401],
      ["a 413 problem", "POST", "/users", { raw: "x".repeat(LIMIT + 1) }, 413],
      ["a preflight", "OPTIONS", "/users", { headers: { origin: ALLOWED_ORIGIN, "access-control-request-method": "POST" } }, 204],
      ["a 405", "POST", "/health", {}, 405],
      ["/health", "GET", "/health", {}, 200],
      ["/openapi.json", "GET", "/openapi.json", {}, 200],
    ];
    for (const [name, method, path, options, status] of answers) {
      test(`${name} (${method} ${path}) carries the security headers`, async () => {
        const res = await request(method, path, options);
        assert.equal(res.status, status, res.text.slice(0, 500));
        assert.equal(res.headers.get("x-content-type-options"), "nosniff");
        assert.equal(res.headers.get("referrer-policy"), "no-referrer");
        assert.equal(res.headers.get("content-security-policy"), "default-src 'none'; frame-ancestors 'none'");
        assert.match(res.headers.get("strict-transport-security") ?? "", /max-age=\d+/);
      });
    }

    test("a 502 problem carries the security headers", async () => {
      await recoverProducts();
      await productsStandIn.setMode("throw");
      try {
        const res = await request("GET", "/products/101");
        assert.equal(res.status, 502);
        assert.equal(res.headers.get("x-content-type-options"), "nosniff");
        assert.ok(res.headers.get("strict-transport-security"));
      } finally {
        await recoverProducts();
      }
    });
  });

  describe("access log", () => {
    const marker = `BODY-MARKER-${randomUUID()}`;

    test("a keyed write logs one line with every field and caller key:dev", async () => {
      const id = `log-keyed-${randomUUID()}`;
      const res = await request("POST", "/users", { body: { marker }, headers: { "x-request-id": id } });
      assert.equal(res.status, 200, res.text);
      const lines = await accessLogLines(suite.system, id);
      assert.equal(lines.length, 1, JSON.stringify(lines));
      const [line] = lines;
      assert.match(line.time, RFC3339_UTC);
      assert.ok(Math.abs(Date.parse(line.time) - Date.now()) < 60_000, `time: ${line.time}`);
      assert.deepEqual(
        { ...line, time: undefined, duration_ms: undefined },
        {
          time: undefined,
          request_id: id,
          method: "POST",
          path: "/users",
          status: 200,
          duration_ms: undefined,
          service: "users",
          service_status: 200,
          caller: "key:dev",
        },
      );
      assert.ok(Number.isInteger(line.duration_ms) && line.duration_ms >= 0);
    });

    test("an anonymous read logs the caller by CF-Connecting-IP", async () => {
      const id = `log-ip-${randomUUID()}`;
      await request("GET", "/products/101", { headers: { "x-request-id": id, "cf-connecting-ip": "192.0.2.44" } });
      const [line] = await accessLogLines(suite.system, id);
      assert.equal(line.caller, "ip:192.0.2.44");
      assert.equal(line.service, "products");
      assert.equal(line.service_status, 200);
      assert.equal(line.method, "GET");
      assert.equal(line.path, "/products/101");
    });

    const unforwarded = [
      ["a 404", "GET", "/nowhere", {}, 404],
      ["a 401", "DELETE", "/users/1", { auth: false }, 401],
      ["a preflight", "OPTIONS", "/users", { headers: { origin: ALLOWED_ORIGIN, "access-control-request-method": "POST" } }, 204],
    ];
    for (const [name, method, path, options, status] of unforwarded) {
      test(`${name} the gateway answers itself logs one line without a service`, async () => {
        const id = `log-own-${randomUUID()}`;
        await request(method, path, { ...options, headers: { ...options.headers, "x-request-id": id } });
        const lines = await accessLogLines(suite.system, id);
        assert.equal(lines.length, 1);
        assert.equal(lines[0].status, status);
        assert.equal(lines[0].method, method);
        assert.equal(lines[0].path, path);
        assert.equal(lines[0].service, null);
        assert.equal(lines[0].service_status, null);
      });
    }

    test("the logs never hold the API key, the word Bearer or a request body", async () => {
      const id = `log-secret-${randomUUID()}`;
      await request("PUT", "/users/1", { body: { marker }, headers: { "x-request-id": id } });
      await request("POST", "/users", { auth: false, headers: { authorization: `Bearer ${devApiKey()}x` }, body: { marker } });
      await accessLogLines(suite.system, id);
      const logs = suite.system.logs();
      assert.ok(!logs.includes(devApiKey()), "the API key is not logged");
      assert.ok(!/bearer/i.test(logs), "no Authorization value is logged");
      assert.ok(!logs.includes(marker), "no request body is logged");
    });
  });
});

/** The shipped rate limit: `limit` requests per `period` seconds per caller. */
const RATE_LIMIT = readConfig("gateway").ratelimits.find((r) => r.name === "RATE_LIMITER").simple;

describe("gateway with the real services and a rate limit of 3", () => {
  // Each test spends the budget of callers (keys, addresses) no other test
  // uses, so that none passes or fails because of another; and each starts
  // in a window of the limiter with room for all its requests (see
  // withinOneWindow), so that no count is forgotten halfway.
  const suite = suiteSystem({
    vars: { gateway: { API_KEYS: "a:key-a,b:key-b,c:key-c,d:key-d,e:key-e,f:key-f" } },
    ratelimits: { gateway: { RATE_LIMITER: { limit: 3 } } },
  });
  const { request } = suite;
  beforeEach(() => withinOneWindow(RATE_LIMIT.period, 5000));

  // A keyed write that changes nothing: deleting a user who does not exist.
  const keyedWrite = (key, ip) =>
    request("DELETE", "/users/no-such-user", { headers: { authorization: `Bearer ${key}`, "cf-connecting-ip": ip } });

  /** Spends `key`'s whole budget, each write from another address of `net` (`net` + 1, + 2, + 3). */
  async function spendBudget(key, net) {
    for (let i = 1; i <= 3; i++) {
      const res = await keyedWrite(key, `${net}${i}`);
      assert.equal(res.status, 404, `request ${i}, admitted and answered by users: ${res.text}`);
    }
  }

  test("the 4th write with one key is a 429 problem with Retry-After, whatever the address", async () => {
    await spendBudget("key-a", "198.51.100.");
    const limited = await keyedWrite("key-a", "198.51.100.4");
    assertProblem(limited, 429, { instance: "/users/no-such-user" });
    assert.equal(retryAfterSecs(limited), 60);
    const id = limited.headers.get("x-request-id");
    const [line] = await accessLogLines(suite.system, id);
    assert.equal(line.caller, "key:a");
    assert.equal(line.status, 429);
  });

  test("another key is another caller", async () => {
    await spendBudget("key-b", "198.51.100.1");
    assertProblem(await keyedWrite("key-b", "198.51.100.14"), 429);
    const other = await keyedWrite("key-c", "198.51.100.15");
    assert.equal(other.status, 404, `admitted and answered by users: ${other.text}`);
  });

  test("anonymous callers are limited by CF-Connecting-IP", async () => {
    const read = (ip) => request("GET", "/products/101", { headers: { "cf-connecting-ip": ip } });
    for (let i = 1; i <= 3; i++) assert.equal((await read("203.0.113.10")).status, 200);
    const limited = await read("203.0.113.10");
    assertProblem(limited, 429);
    retryAfterSecs(limited);
    assert.equal((await read("203.0.113.11")).status, 200, "another address is another caller");
  });

  test("an address's budget spent by anonymous reads refuses a keyed write from it too (429), without charging the key", async () => {
    const ip = "203.0.113.20";
    for (let i = 1; i <= 3; i++) assert.equal((await request("GET", "/products/101", { headers: { "cf-connecting-ip": ip } })).status, 200);
    const limited = await keyedWrite("key-d", ip);
    assertProblem(limited, 429, { instance: "/users/no-such-user" });
    assert.equal(retryAfterSecs(limited), RATE_LIMIT.period);
    const [line] = await accessLogLines(suite.system, limited.headers.get("x-request-id"));
    assert.equal(line.status, 429);
    assert.equal(line.caller, `ip:${ip}`, "refused before the key was looked at");
    await spendBudget("key-d", "203.0.113.2");
  });

  test("keyed writes count against their address: after 3, an anonymous read from it is a 429", async () => {
    const ip = "203.0.113.30";
    for (let i = 1; i <= 3; i++) {
      const res = await keyedWrite("key-e", ip);
      assert.equal(res.status, 404, res.text);
    }
    assertProblem(await request("GET", "/products/101", { headers: { "cf-connecting-ip": ip } }), 429);
  });

  const refusedKinds = [
    ["a 404, a 405 and a preflight", "203.0.113.40", [
      ["GET", "/nowhere", {}, 404],
      ["POST", "/health", {}, 405],
      ["OPTIONS", "/users", { headers: { origin: ALLOWED_ORIGIN, "access-control-request-method": "POST" } }, 204],
    ]],
    ["a 401, a 413 and a HEAD", "203.0.113.41", [
      ["POST", "/users", { auth: false, headers: { authorization: "Bearer wrong" }, body: {} }, 401],
      ["POST", "/users", { raw: "x".repeat(LIMIT + 1), headers: { "content-type": "text/plain", authorization: "Bearer key-f" } }, 413],
      ["HEAD", "/users/1", {}, 200],
    ]],
  ];
  for (const [name, ip, requests] of refusedKinds) {
    test(`${name} count against the address: the next request from it is a 429`, async () => {
      for (const [method, path, options, status] of requests) {
        const res = await request(method, path, { ...options, headers: { ...options.headers, "cf-connecting-ip": ip } });
        assert.equal(res.status, status, `${method} ${path}: ${res.text.slice(0, 300)}`);
      }
      const limited = await request("GET", "/users/1", { headers: { "cf-connecting-ip": ip } });
      assertProblem(limited, 429);
      retryAfterSecs(limited);
    });
  }

  test("GET /health is 200 with every service ok", async () => {
    const res = await request("GET", "/health", { headers: { "cf-connecting-ip": "203.0.113.50" } });
    assert.equal(res.status, 200, res.text);
    assert.match(res.headers.get("content-type") ?? "", /^application\/json/);
    assert.deepEqual(res.json, { status: "ok", services: { users: { status: "ok" }, products: { status: "ok" } } });
  });
});

describe("gateway with the real services and the shipped rate limit", () => {
  const suite = suiteSystem();
  const { request } = suite;
  const refusedWrite = (ip) =>
    request("POST", "/users", { auth: false, headers: { authorization: "Bearer wrong-key", "cf-connecting-ip": ip }, body: { name: "x" } });

  test(`${RATE_LIMIT.limit + 100} POST /users with wrong keys from one address: ${RATE_LIMIT.limit} answer 401, the last 100 answer 429 with Retry-After`, async () => {
    assert.deepEqual({ ...RATE_LIMIT }, { limit: 1000, period: 60 }, "the shipped limit");
    // Exact counts: all 1,100 must fall in one window of the limiter (they
    // take about 10 s here). They go in rounds of 10 at once, one round
    // after the other, so "the first 1,000" is exact at round boundaries.
    await withinOneWindow(RATE_LIMIT.period, 30_000);
    const ip = "198.51.100.200";
    const statuses = [];
    let lastLimited;
    for (let round = 0; round < (RATE_LIMIT.limit + 100) / 10; round++) {
      const answers = await Promise.all(Array.from({ length: 10 }, () => refusedWrite(ip)));
      statuses.push(...answers.map((res) => res.status));
      lastLimited = answers.find((res) => res.status === 429) ?? lastLimited;
    }
    const unauthorized = statuses.slice(0, RATE_LIMIT.limit);
    const limited = statuses.slice(RATE_LIMIT.limit);
    assert.deepEqual([...new Set(unauthorized)], [401], `the first ${RATE_LIMIT.limit}: ${unauthorized.filter((s) => s !== 401).length} not 401`);
    assert.deepEqual([...new Set(limited)], [429], `the last 100: ${limited.filter((s) => s !== 429).length} not 429`);
    assertProblem(lastLimited, 429, { instance: "/users" });
    assert.equal(retryAfterSecs(lastLimited), RATE_LIMIT.period);

    // A 429 reads nothing of a body declared over 64 KiB, nor of one not
    // declared at all (chunked): it answers while the body is held open.
    // (The small bodies above it drains, so that the connections they came
    // on stay usable: none of those fetches failed.)
    for (const [declared, what] of [[10 * 1024 * 1024, "declared 10 MiB"], [null, "chunked"]]) {
      const held = heldUpload(suite.system, "/users", { authorization: "Bearer wrong-key", "cf-connecting-ip": ip }, declared, 1024);
      try {
        const answered = await within(5000, held.answer);
        assert.ok(answered, `${what}: the 429 came while the body was still being sent`);
        assert.equal(answered.status, 429, `${what}: ${answered.text}`);
      } finally {
        held.close();
      }
    }
    // Another address is another caller.
    assert.equal((await refusedWrite("198.51.100.201")).status, 401);
  });

  test("a refused request's unread body is drained before the 401, but at most 1 MiB of it", async () => {
    const headers = { authorization: "Bearer wrong-key", "cf-connecting-ip": "198.51.100.210", "content-type": "text/plain" };
    const held = heldUpload(suite.system, "/users", headers, 8 * 1024 * 1024, 256 * 1024);
    try {
      assert.equal(await within(500, held.answer), undefined, "no answer while the gateway still reads the first MiB");
      await held.send(1024 * 1024);
      const answered = await within(5000, held.answer);
      assert.ok(answered, "answered after 1 MiB, without the other 6.75 MiB");
      assertProblem({ ...answered, headers: new Headers(Object.entries(answered.headers)) }, 401, { instance: "/users" });
    } finally {
      held.close();
    }
  });

  describe("HEAD on every GET route", () => {
    // The seeded user 2 gets a favourite, so that its list is expanded by products.
    before(async () => {
      const res = await request("PUT", "/users/2/favorites/101");
      assert.equal(res.status, 204, res.text);
    });

    const routes = [
      ["/users/1", 200],
      ["/users/999", 404],
      ["/users", 200],
      ["/users/1/favorites", 200],
      ["/users/2/favorites", 200],
      ["/products/101", 200],
      ["/products?ids=101,102", 200],
      ["/products/999", 404],
      ["/health", 200],
      ["/openapi.json", 200],
    ];
    for (const [path, status] of routes) {
      test(`HEAD ${path} answers as GET (${status}): status, ETag, Content-Type, Content-Length of the GET body; no body`, async () => {
        const get = await fetch(suite.system.url + path);
        const body = new Uint8Array(await get.arrayBuffer());
        const head = await fetch(suite.system.url + path, { method: "HEAD" });
        const headBody = new Uint8Array(await head.arrayBuffer());
        assert.equal(get.status, status);
        assert.equal(head.status, status);
        assert.ok(body.length > 0, "the GET has a body");
        assert.equal(headBody.length, 0, "no body");
        assert.equal(head.headers.get("content-length"), String(body.length));
        assert.equal(head.headers.get("etag"), get.headers.get("etag"));
        assert.equal(head.headers.get("content-type"), get.headers.get("content-type"));
        if (["/users/1", "/products/101"].includes(path)) assert.match(head.headers.get("etag") ?? "", /^"[^"]+"$/);
      });
    }

    for (const path of ["/users/1", "/products/101"]) {
      test(`HEAD ${path} with If-None-Match of its ETag is a 304 without a body`, async () => {
        const etag = (await fetch(suite.system.url + path)).headers.get("etag");
        assert.ok(etag);
        const head = await fetch(suite.system.url + path, { method: "HEAD", headers: { "if-none-match": etag } });
        assert.equal(head.status, 304);
        assert.equal(head.headers.get("etag"), etag);
        assert.equal((await head.arrayBuffer()).byteLength, 0);
        const stale = await fetch(suite.system.url + path, { method: "HEAD", headers: { "if-none-match": '"stale"' } });
        assert.equal(stale.status, 200);
      });
    }

    const refused = [
      ["POST", "/health", "GET, HEAD"],
      ["POST", "/openapi.json", "GET, HEAD"],
      ["DELETE", "/users", "GET, HEAD, POST"],
      ["POST", "/users/1", "GET, HEAD, PUT, PATCH, DELETE"],
      ["POST", "/users/1/favorites", "GET, HEAD"],
      ["PUT", "/products", "GET, HEAD, POST"],
    ];
    for (const [method, path, allow] of refused) {
      test(`${method} ${path} is a 405 whose Allow lists HEAD with GET: ${allow}`, async () => {
        const res = await request(method, path, { body: {} });
        assertProblem(res, 405, { instance: path });
        assert.equal(res.headers.get("allow"), allow);
      });
    }
  });
});

describe("gateway with services that answer a status no Response can be built with", () => {
  // Over a service binding to an HTTP server outside workerd, users answers
  // `199` and products `600` with a problem document: both statuses the
  // gateway passes on (below 500, or a problem), and neither one a Response
  // can carry. The gateway then answers a 500 problem of its own; each
  // request still gets its access-log line, with the status the client got.
  const upstreams = {};
  const suite = suiteSystem(async () => {
    upstreams.users = await rawUpstream("HTTP/1.1 199 Odd\r\ncontent-type: text/plain", "odd");
    upstreams.products = await rawUpstream("HTTP/1.1 600 Odd\r\ncontent-type: application/problem+json", '{"type":"/problems/odd","status":600}');
    return { services: { gateway: { USERS: upstreams.users.binding, PRODUCTS: upstreams.products.binding } } };
  });
  after(() => Promise.all(Object.values(upstreams).map((upstream) => upstream.close())));

  for (const [service, path, upstreamStatus] of [["users", "/users/1", 199], ["products", "/products/101", 600]]) {
    test(`${service} answering ${upstreamStatus}: a 500 problem, and its access-log line says 500`, async () => {
      const id = `log-unbuildable-${randomUUID()}`;
      const res = await suite.request("GET", path, { headers: { "x-request-id": id } });
      const body = assertProblem(res, 500, { instance: path, requestId: id });
      assert.equal(body.type, "/problems/internal");
      assert.ok(upstreams[service].requests >= 1, `${service} was called`);
      const lines = await accessLogLines(suite.system, id);
      assert.equal(lines.length, 1, JSON.stringify(lines));
      assert.equal(lines[0].status, 500);
      assert.equal(lines[0].service, service);
      assert.equal(lines[0].service_status, upstreamStatus);
    });
  }
});
