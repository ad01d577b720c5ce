// The gateway's cross-cutting concerns, observed over HTTP: routing, request
// ids and trace context, CORS, auth, rate limits, body limits, failure
// isolation (timeouts, 502s, the circuit breaker), security headers, the
// access log and /health.
//
// Most tests run against one system whose users and products workers are
// stand-ins (support/stand-in.mjs) that echo what they received and count
// their calls; the products stand-in is switched into failure modes. Rate limits and
// the healthy /health answer use a second system with the real services.
import { describe, test, beforeEach, afterEach } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { suiteSystem, devApiKey } from "./support/system.mjs";
import { assertProblem } from "./support/problem.mjs";
import { standInWorker, standInControl } from "./support/stand-in.mjs";
import {
  sleep,
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

describe("gateway with the real services and a rate limit of 3", () => {
  // Each test spends the budget of callers (keys, addresses) no other test
  // uses, so that none passes or fails because of another.
  const suite = suiteSystem({
    vars: { gateway: { API_KEYS: "a:key-a,b:key-b,c:key-c" } },
    ratelimits: { gateway: { RATE_LIMITER: { limit: 3 } } },
  });
  const { request } = suite;

  // A keyed write that changes nothing: deleting a user who does not exist.
  const keyedWrite = (key, ip) =>
    request("DELETE", "/users/no-such-user", { headers: { authorization: `Bearer ${key}`, "cf-connecting-ip": ip } });

  /** Spends `key`'s whole budget, each write from another address of `net` (`net` + 1, + 2, + 3). */
  async function spendBudget(key, net) {
    for (let i = 1; i <= 3; i++) {
      const res = await keyedWrite(key, `${net}${i}`);
      assert.notEqual(res.status, 429, `request ${i}: ${res.text}`);
      assert.notEqual(res.status, 401, res.text);
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
    assert.notEqual(other.status, 429, other.text);
    assert.notEqual(other.status, 401, other.text);
  });

  test("anonymous callers are limited by CF-Connecting-IP", async () => {
    const read = (ip) => request("GET", "/products/101", { headers: { "cf-connecting-ip": ip } });
    for (let i = 1; i <= 3; i++) assert.equal((await read("203.0.113.10")).status, 200);
    const limited = await read("203.0.113.10");
    assertProblem(limited, 429);
    retryAfterSecs(limited);
    assert.equal((await read("203.0.113.11")).status, 200, "another address is another caller");
  });

  test("GET /health is 200 with every service ok", async () => {
    const res = await request("GET", "/health", { headers: { "cf-connecting-ip": "203.0.113.50" } });
    assert.equal(res.status, 200, res.text);
    assert.match(res.headers.get("content-type") ?? "", /^application\/json/);
    assert.deepEqual(res.json, { status: "ok", services: { users: { status: "ok" }, products: { status: "ok" } } });
  });
});
