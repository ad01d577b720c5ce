// Fault injection behind the real gateway: a stand-in for users, or for
// products, that throws, hangs, answers 500 text, answers invalid JSON with
// a 200, answers late, or sends its headers and then stalls its body, next
// to the other service running for real. What gateway.test.mjs (stand-ins
// for both services) and favorites.test.mjs (products failing behind the
// real users) already cover is not repeated; this adds a failing USERS
// service, slow answers on either side of each timeout, invalid JSON passed
// through, and the users → products faults that were missing (late
// confirmations, garbage confirmations, removals while products is down, a
// 504 in the middle of a favourite write), each with a check that no
// partial write is left in USERS_KV.
//
// Every call a stand-in answers in a failure mode is counted as one
// injected fault; the total is printed at the end.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { suiteSystem } from "./support/system.mjs";
import { assertProblem } from "./support/problem.mjs";

const SECURITY_HEADERS = ["x-content-type-options", "referrer-policy", "content-security-policy", "strict-transport-security"];
const injected = { users: 0, products: 0 };

/**
 * A stand-in with the service's real shapes. Modes: ok, throw, hang,
 * text500, garbage (200 application/json "{not json"), slow:<ms> (answers
 * after ms), slowbody:<ms> (headers at once, the body's end after ms).
 * Control, straight to the worker (bypassing the gateway, its breaker and
 * the fault count): /__mode/<mode>, /__faults.
 */
const standIn = (service) => `
let mode = "ok";
let faults = 0;
let calls = 0;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const json = (status, body, headers = {}) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } });
const stamp = "2026-01-01T00:00:00.000Z";
const user = (id) => ({ id, name: "User " + id, email: "user-" + id + "@example.com", created_at: stamp, updated_at: stamp });
const product = (id) => ({ id, name: "Product " + id, price: { amount: 100, currency: "EUR" }, stock: 1, created_at: stamp, updated_at: stamp });

function healthy(request, url) {
  const segments = url.pathname.split("/").filter(Boolean);
  if (url.pathname === "/health") return json(200, { status: "ok" });
  if ("${service}" === "users" && segments[0] === "users") {
    if (segments.length === 1 && request.method === "POST") return json(201, user("new"), { location: "/users/new" });
    if (segments.length === 1) return json(200, { items: [user("1")], next_cursor: null });
    return json(200, user(segments[1]));
  }
  if ("${service}" === "products" && segments[0] === "products") {
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
    if (url.pathname === "/__faults") return json(200, { faults, calls, mode });
    if (url.pathname.startsWith("/__mode/")) {
      mode = decodeURIComponent(url.pathname.slice("/__mode/".length));
      return json(200, { mode });
    }
    calls += 1;
    await request.text();
    const [kind, arg] = mode.split(":");
    if (kind !== "ok") faults += 1;
    switch (kind) {
      case "throw":
        throw new Error("the ${service} stand-in is broken");
      case "hang": // a timer, not a bare pending promise: workerd cancels those
        await sleep(30000);
        break;
      case "text500":
        return new Response("internal meltdown", { status: 500, headers: { "content-type": "text/plain" } });
      case "garbage":
        return new Response("{not json", { status: 200, headers: { "content-type": "application/json", "x-stand-in": "garbage" } });
      case "slow":
        await sleep(Number(arg));
        break;
      case "slowbody": {
        const encoder = new TextEncoder();
        const body = new ReadableStream({
          async start(controller) {
            controller.enqueue(encoder.encode('{"service":"${service}",'));
            await sleep(Number(arg));
            controller.enqueue(encoder.encode('"late":true}'));
            controller.close();
          },
        });
        return new Response(body, { status: 200, headers: { "content-type": "application/json" } });
      }
    }
    return healthy(request, url);
  },
};`;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function timed(action) {
  const started = Date.now();
  const res = await action();
  return { res, elapsed: Date.now() - started };
}

/**
 * A system for the enclosing describe, with `faulty` replaced by a
 * stand-in. Adds its injected faults to the total before stopping it.
 */
function useSystem(faulty, vars = {}) {
  const context = suiteSystem(
    {
      standIns: { [faulty]: standIn(faulty) },
      // Each failure must show its own answer, not an open breaker's 503
      // (the breaker has its own tests in gateway.test.mjs).
      vars: { ...vars, gateway: { BREAKER_THRESHOLD: "1000", ...vars.gateway } },
      ratelimits: { gateway: { RATE_LIMITER: { limit: 1000000 } } },
    },
    {
      beforeStop: async () => {
        const { faults } = await control(context, faulty, "/__faults");
        injected[faulty] += faults;
      },
    },
  );
  context.setMode = (mode) => control(context, faulty, `/__mode/${encodeURIComponent(mode)}`);
  /** Runs `action` while the stand-in is in `mode`, then heals it. */
  context.during = async (mode, action) => {
    await context.setMode(mode);
    try {
      return await action();
    } finally {
      await context.setMode("ok");
    }
  };
  return context;
}

async function control(context, service, path) {
  const worker = await context.system.mf.getWorker(service);
  return (await worker.fetch(`http://stand-in${path}`)).json();
}

/** The healthy service answers fast, repeatedly, while `pending` is open. */
async function assertFastMeanwhile(request, method, path, expected, budgetMs) {
  const times = [];
  for (let i = 0; i < 5; i++) {
    const { res, elapsed } = await timed(() => request(method, path));
    assert.equal(res.status, expected, res.text);
    times.push(elapsed);
  }
  assert.ok(Math.max(...times) < budgetMs, `${method} ${path} took ${times.join(", ")} ms (budget ${budgetMs} ms)`);
  return times;
}

/**
 * With the stand-in 1 s late, under the gateway's 3 s timeout: GET `path`
 * is a 200 with the item `id`, after 1 s and within 3 s.
 */
async function assertLateInTime(context, path, id) {
  const { res, elapsed } = await context.during("slow:1000", () => timed(() => context.request("GET", path)));
  assert.equal(res.status, 200, res.text);
  assert.equal(res.json.id, id);
  assert.ok(elapsed >= 1000 && elapsed < 3000, `answered in ${elapsed} ms`);
}

/**
 * With the stand-in 500 ms late behind the gateway's 300 ms timeout: GET
 * `path` is a 504 problem after about 300 ms, and `healthyPath` (the other
 * service) answers fast meanwhile.
 */
async function assertLateIs504(request, path, healthyPath) {
  const late = timed(() => request("GET", path));
  await assertFastMeanwhile(request, "GET", healthyPath, 200, 300);
  const { res, elapsed } = await late;
  assertProblem(res, 504, { instance: path });
  assert.ok(elapsed >= 280 && elapsed < 1000, `504 after ${elapsed} ms`);
}

const uniqueEmail = (tag) => `${tag}-${randomUUID()}@example.com`;

describe("a failing users service behind the real gateway (timeout 3000 ms), real products", () => {
  const context = useSystem("users");

  for (const [mode, name] of [["throw", "throws"], ["text500", "answers 500 text"]]) {
    test(`users that ${name}: a 502 gateway problem on reads and writes, products unaffected`, async () => {
      const { request } = context;
      await context.during(mode, async () => {
        for (const [method, path, options] of [
          ["GET", "/users/1", {}],
          ["GET", "/users/1/favorites", {}],
          ["POST", "/users", { body: { name: "Ada", email: uniqueEmail("fault") } }],
          ["PUT", "/users/1/favorites/101", {}],
        ]) {
          const res = await request(method, path, options);
          assertProblem(res, 502, { instance: path });
          assert.equal(res.json.type, "/problems/bad-gateway");
          assert.ok(!res.text.includes("meltdown") && !res.text.includes("broken"), "the service's own text is not passed on");
          for (const header of SECURITY_HEADERS) assert.ok(res.headers.get(header), `${header} on the 502`);
        }
        await assertFastMeanwhile(request, "GET", "/products/101", 200, 1000);
      });
    });
  }

  test("users that answers 200 with invalid JSON: passed through as-is (the gateway does not read bodies)", async () => {
    const { request } = context;
    await context.during("garbage", async () => {
      for (const path of ["/users/1", "/users"]) {
        const res = await request("GET", path, { headers: { "x-request-id": "garbage-through" } });
        assert.equal(res.status, 200, "the service's status, not a 5xx made by the gateway");
        assert.equal(res.text, "{not json");
        assert.equal(res.headers.get("content-type"), "application/json");
        assert.equal(res.headers.get("x-stand-in"), "garbage", "the service's headers are kept");
        assert.equal(res.headers.get("x-request-id"), "garbage-through");
        for (const header of SECURITY_HEADERS) assert.ok(res.headers.get(header), `${header} on the passed-through answer`);
      }
    });
  });

  test("users that answers 1 s late, under the 3 s timeout: success", async () => {
    await assertLateInTime(context, "/users/7", "7");
  });

  test("users that hangs: a 504 problem after about 3 s, while products answers fast throughout", async () => {
    const { request } = context;
    await context.during("hang", async () => {
      const hung = timed(() => request("PATCH", "/users/1", { body: { name: "Never" } }));
      const times = await assertFastMeanwhile(request, "GET", "/products/101", 200, 1000);
      await assertFastMeanwhile(request, "GET", "/products?ids=101,102", 200, 1000);
      const { res, elapsed } = await hung;
      assertProblem(res, 504, { instance: "/users/1" });
      assert.equal(res.json.type, "/problems/upstream-timeout");
      assert.ok(elapsed >= 2950 && elapsed < 4500, `504 after ${elapsed} ms`);
      console.log(`products during the users hang: ${times.join(", ")} ms`);
    });
  });

  test("/health is 503 degraded with users in error and products ok while users throws", async () => {
    const { request } = context;
    const res = await context.during("throw", () => request("GET", "/health"));
    assert.equal(res.status, 503, res.text);
    assert.deepEqual(res.json.services.products, { status: "ok" });
    assert.equal(res.json.services.users.status, "error");
  });

  test("users that sends its headers and then stalls its body: the 200 is passed on whole, however long the body takes", async () => {
    // The upstream timeout bounds the wait for the answer's headers only;
    // once a service has answered 200 the body streams through as it comes.
    const { request } = context;
    const { res, elapsed } = await context.during("slowbody:1500", () => timed(() => request("GET", "/users/1")));
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json, { service: "users", late: true });
    console.log(`users stalling its body for 1500 ms (timeout 3000 ms): 200 after ${elapsed} ms`);
  });
});

describe("a slow users service behind a gateway with UPSTREAM_TIMEOUT_MS 300, real products", () => {
  const context = useSystem("users", { gateway: { UPSTREAM_TIMEOUT_MS: "300" } });

  test("users 500 ms late: a 504 problem after about 300 ms, products fast meanwhile", async () => {
    const { request } = context;
    await context.during("slow:500", async () => {
      await assertLateIs504(request, "/users/1", "/products/102");
      const write = await timed(() => request("POST", "/users", { body: { name: "Late", email: uniqueEmail("late") } }));
      assertProblem(write.res, 504, { instance: "/users" });
    });
  });

  test("users 100 ms late, within 300 ms: success", async () => {
    const { request } = context;
    const { res, elapsed } = await context.during("slow:100", () => timed(() => request("GET", "/users/1")));
    assert.equal(res.status, 200, res.text);
    assert.ok(elapsed >= 100 && elapsed < 300, `answered in ${elapsed} ms`);
  });

  test("users that stalls its body past the 300 ms timeout: still a whole 200, after the stall", async () => {
    const { request } = context;
    const { res, elapsed } = await context.during("slowbody:800", () => timed(() => request("GET", "/users/1")));
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json, { service: "users", late: true });
    assert.ok(elapsed >= 800, `answered in ${elapsed} ms`);
    console.log(`users stalling its body for 800 ms under UPSTREAM_TIMEOUT_MS 300: 200 after ${elapsed} ms (the timeout does not bound bodies)`);
  });
});

describe("a failing products service behind the real gateway (timeout 3000 ms), real users", () => {
  const context = useSystem("products");

  async function newUser() {
    const res = await context.request("POST", "/users", { body: { name: "Fan", email: uniqueEmail("fan") } });
    assert.equal(res.status, 201, res.text);
    return res.json.id;
  }
  async function stored(userId) {
    const text = await (await context.system.kv("users", "USERS_KV")).get(`favorites:${userId}`);
    return text === null ? null : JSON.parse(text);
  }
  const favorite = (userId, productId) => context.request("PUT", `/users/${userId}/favorites/${productId}`);

  test("products that answers 200 with invalid JSON: passed through as-is, real users unaffected", async () => {
    const { request } = context;
    await context.during("garbage", async () => {
      const res = await request("GET", "/products/101");
      assert.equal(res.status, 200);
      assert.equal(res.text, "{not json");
      assert.equal(res.headers.get("x-stand-in"), "garbage");
      const created = await request("POST", "/users", { body: { name: "Unaffected", email: uniqueEmail("ok") } });
      assert.equal(created.status, 201, created.text);
    });
  });

  test("products that answers 1 s late, under the 3 s timeout: success", async () => {
    await assertLateInTime(context, "/products/5", "5");
  });

  test("products that hangs: a 504 problem after about 3 s, while real users reads and writes fast", async () => {
    const { request } = context;
    await context.during("hang", async () => {
      const hung = timed(() => request("GET", "/products/101"));
      await assertFastMeanwhile(request, "GET", "/users/1", 200, 1000);
      const t = Date.now();
      const created = await request("POST", "/users", { body: { name: "During Hang", email: uniqueEmail("hang") } });
      assert.equal(created.status, 201, created.text);
      assert.ok(Date.now() - t < 1000, `POST /users took ${Date.now() - t} ms`);
      const { res, elapsed } = await hung;
      assertProblem(res, 504, { instance: "/products/101" });
      assert.ok(elapsed >= 2950 && elapsed < 4500, `504 after ${elapsed} ms`);
    });
  });

  test("a favourite confirmed 1 s late (under users' 1.5 s PRODUCTS_TIMEOUT_MS) is stored: 204", async () => {
    const userId = await newUser();
    const { res, elapsed } = await context.during("slow:1000", () => timed(() => favorite(userId, "late-but-fine")));
    assert.equal(res.status, 204, res.text);
    assert.ok(elapsed >= 1000 && elapsed < 3000, `took ${elapsed} ms`);
    assert.deepEqual(await stored(userId), ["late-but-fine"]);
  });

  test("a favourite not confirmed within users' 1.5 s is a 503 problem before the gateway's 3 s, and nothing is written", async () => {
    const userId = await newUser();
    assert.equal((await favorite(userId, "kept")).status, 204);
    const { res, elapsed } = await context.during("slow:2000", () => timed(() => favorite(userId, "too-late")));
    assertProblem(res, 503, { instance: `/users/${userId}/favorites/too-late` });
    assert.ok(elapsed >= 1400 && elapsed < 2900, `503 after ${elapsed} ms`);
    assert.deepEqual(await stored(userId), ["kept"]);
    await sleep(800); // past the stand-in's late answer: still nothing written
    assert.deepEqual(await stored(userId), ["kept"]);
  });

  test("favourites read while products is 2 s late degrade to bare ids within users' timeout; 1 s late they expand", async () => {
    const userId = await newUser();
    for (const id of ["a1", "b2"]) assert.equal((await favorite(userId, id)).status, 204);
    const slow = await context.during("slow:2000", () => timed(() => context.request("GET", `/users/${userId}/favorites`)));
    assert.equal(slow.res.status, 200, slow.res.text);
    assert.deepEqual(slow.res.json, { user_id: userId, items: [{ id: "a1" }, { id: "b2" }], missing: [], degraded: true });
    assert.ok(slow.elapsed < 2900, `took ${slow.elapsed} ms`);
    const late = await context.during("slow:1000", () => context.request("GET", `/users/${userId}/favorites`));
    assert.equal(late.status, 200, late.text);
    assert.equal(late.json.degraded, false);
    assert.deepEqual(late.json.items.map((item) => item.name), ["Product a1", "Product b2"]);
  });

  test("a favourite 'confirmed' by a 200 with invalid JSON: the answer and USERS_KV agree (all or nothing)", async () => {
    const userId = await newUser();
    assert.equal((await favorite(userId, "before")).status, 204);
    const res = await context.during("garbage", () => favorite(userId, "garbage-confirmed"));
    assert.ok([204, 503].includes(res.status), `${res.status}: ${res.text}`);
    const list = await stored(userId);
    if (res.status === 204) {
      assert.deepEqual(list, ["before", "garbage-confirmed"]);
    } else {
      assertProblem(res, 503);
      assert.deepEqual(list, ["before"]);
    }
    console.log(`PUT favourite while products answers 200 "{not json": ${res.status} (users checks the status only)`);
  });

  for (const [mode, name] of [["throw", "throws"], ["hang", "hangs"]]) {
    test(`while products ${name}: removing a favourite, re-adding a known one and deleting the user all work`, async () => {
      const { request, system } = context;
      const userId = await newUser();
      for (const id of ["p1", "p2"]) assert.equal((await favorite(userId, id)).status, 204);
      await context.during(mode, async () => {
        const removed = await timed(() => request("DELETE", `/users/${userId}/favorites/p1`));
        assert.equal(removed.res.status, 204, removed.res.text);
        assert.ok(removed.elapsed < 1000, `removal took ${removed.elapsed} ms`);
        assert.deepEqual(await stored(userId), ["p2"]);
        const again = await timed(() => favorite(userId, "p2"));
        assert.equal(again.res.status, 204, "a favourite already there needs no confirmation");
        assert.ok(again.elapsed < 1000, `re-adding took ${again.elapsed} ms`);
        assert.deepEqual(await stored(userId), ["p2"]);
        assert.equal((await request("DELETE", `/users/${userId}`)).status, 204);
      });
      assert.equal(await stored(userId), null);
      assert.equal(await (await system.kv("users", "USERS_KV")).get(`user:${userId}`), null);
    });
  }
});

describe("a late products service behind a gateway with UPSTREAM_TIMEOUT_MS 300, real users", () => {
  const context = useSystem("products", { gateway: { UPSTREAM_TIMEOUT_MS: "300" } });

  test("products 500 ms late: a 504 problem after about 300 ms, users fast meanwhile", async () => {
    const { request } = context;
    await context.during("slow:500", async () => {
      await assertLateIs504(request, "/products/101", "/users/2");
    });
  });

  test("a favourite write cut off by the gateway's 504 leaves all or nothing in USERS_KV", async () => {
    // users waits up to 1.5 s for products; the gateway gives up after
    // 300 ms. The client learns nothing of the outcome (504); what matters
    // is that the list is either untouched or has exactly the new id.
    const { request, system } = context;
    const created = await request("POST", "/users", { body: { name: "Cut Off", email: uniqueEmail("cut") } });
    assert.equal(created.status, 201, created.text);
    const userId = created.json.id;
    assert.equal((await request("PUT", `/users/${userId}/favorites/first`)).status, 204);
    const { res, elapsed } = await context.during("slow:800", () => timed(() => request("PUT", `/users/${userId}/favorites/second`)));
    assertProblem(res, 504, { instance: `/users/${userId}/favorites/second` });
    assert.ok(elapsed < 1000, `504 after ${elapsed} ms`);
    await sleep(1500); // past products' late answer and users' own timeout
    const list = JSON.parse(await (await system.kv("users", "USERS_KV")).get(`favorites:${userId}`));
    assert.ok(
      JSON.stringify(list) === '["first"]' || JSON.stringify(list) === '["first","second"]',
      `partial or corrupt favourites: ${JSON.stringify(list)}`,
    );
    const read = await request("GET", `/users/${userId}/favorites`);
    assert.equal(read.status, 200, read.text);
    assert.deepEqual(read.json.items.map((item) => item.id), list);
    console.log(`favourite write after the gateway's 504: ${list.length === 2 ? "applied later" : "not applied"} (${JSON.stringify(list)})`);
  });
});

test("faults injected", () => {
  const total = injected.users + injected.products;
  console.log(`faults injected: ${total} (users stand-in ${injected.users}, products stand-in ${injected.products})`);
  assert.ok(total > 0);
});
