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
import { describe, test, afterEach } from "node:test";
import assert from "node:assert/strict";
import { suiteSystem, readConfig } from "./support/system.mjs";
import { assertProblem } from "./support/problem.mjs";
import { standInWorker, standInControl } from "./support/stand-in.mjs";
import {
  sleep,
  timed,
  uniqueEmail,
  createUser,
  storedFavorites,
  storedUser,
  retryAfterSecs,
} from "./support/helpers.mjs";

const SECURITY_HEADERS = ["x-content-type-options", "referrer-policy", "content-security-policy", "strict-transport-security"];

/** The gateway's shipped breaker: this many failures in a row open it. */
const BREAKER_THRESHOLD = Number(readConfig("gateway").vars.BREAKER_THRESHOLD);

/**
 * A system for the enclosing describe, with `faulty` replaced by a stand-in
 * (support/stand-in.mjs); `context.standIn` is its control. The breaker has
 * its shipped threshold: after each test the stand-in is healed and one
 * call to it succeeds, which closes the count of failures in a row, so that
 * each test sees its own failures answered as such (each stays under the
 * threshold) and none depends on what the one before it left.
 */
function useSystem(faulty, vars = {}) {
  const context = suiteSystem({ standIns: { [faulty]: standInWorker(faulty) }, vars });
  context.standIn = standInControl(context, faulty);
  afterEach(async () => {
    await context.standIn.heal();
    const res = await context.request("GET", `/${faulty}/1`);
    assert.equal(res.status, 200, `a call to the healed ${faulty} succeeds: ${res.text}`);
  });
  return context;
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
  const { res, elapsed } = await context.standIn.during("slow:1000", () => timed(() => context.request("GET", path)));
  assert.equal(res.status, 200, res.text);
  assert.equal(res.json.id, id);
  assert.ok(elapsed >= 1000 && elapsed < 3000, `answered in ${elapsed} ms`);
}

/**
 * With the users stand-in sending its 200 headers at once and its body's end
 * `ms` later: GET /users/1 is that whole 200, after the stall. The upstream
 * timeout bounds the wait for the answer's headers only; once a service has
 * answered, the body streams through as it comes.
 */
async function assertStalledBodyPassedOn(context, ms) {
  const { res, elapsed } = await context.standIn.during(`slowbody:${ms}`, () => timed(() => context.request("GET", "/users/1")));
  assert.equal(res.status, 200, res.text);
  assert.deepEqual(res.json, { service: "users", late: true });
  assert.ok(elapsed >= ms, `answered in ${elapsed} ms, before the body's end`);
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

describe("a failing users service behind the real gateway (timeout 3000 ms), real products", () => {
  const context = useSystem("users");

  for (const [mode, name] of [["throw", "throws"], ["text500", "answers 500 text"]]) {
    test(`users that ${name}: a 502 gateway problem on reads and writes, products unaffected`, async () => {
      const { request } = context;
      await context.standIn.during(mode, async () => {
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
    await context.standIn.during("garbage", async () => {
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
    await context.standIn.during("hang", async () => {
      const hung = timed(() => request("PATCH", "/users/1", { body: { name: "Never" } }));
      await assertFastMeanwhile(request, "GET", "/products/101", 200, 1000);
      await assertFastMeanwhile(request, "GET", "/products?ids=101,102", 200, 1000);
      const { res, elapsed } = await hung;
      assertProblem(res, 504, { instance: "/users/1" });
      assert.equal(res.json.type, "/problems/upstream-timeout");
      assert.ok(elapsed >= 2950 && elapsed < 4500, `504 after ${elapsed} ms`);
    });
  });

  test("/health is 503 degraded with users in error and products ok while users throws", async () => {
    const { request } = context;
    const res = await context.standIn.during("throw", () => request("GET", "/health"));
    assert.equal(res.status, 503, res.text);
    assert.deepEqual(res.json.services.products, { status: "ok" });
    assert.equal(res.json.services.users.status, "error");
  });

  test("users that sends its headers and then stalls its body: the 200 is passed on whole, however long the body takes", async () => {
    await assertStalledBodyPassedOn(context, 1500);
  });
});

// Five failures in a row are the point here, so this system has no test
// after the breaker opens (its cooldown, 10 s shipped, would outlast it).
describe("users' breaker with the shipped threshold, real products", () => {
  const context = suiteSystem({ standIns: { users: standInWorker("users") } });
  context.standIn = standInControl(context, "users");

  test(`users that throws ${BREAKER_THRESHOLD} times in a row opens its breaker: 503 circuit-open with Retry-After, users not called, products unaffected`, async () => {
    const { request } = context;
    await context.standIn.during("throw", async () => {
      for (let i = 1; i <= BREAKER_THRESHOLD; i++) {
        const res = await request("GET", "/users/1");
        assert.equal(assertProblem(res, 502).type, "/problems/bad-gateway", `failure ${i}`);
      }
      await context.standIn.reset();
      for (const [method, path, options] of [
        ["GET", "/users/1", {}],
        ["POST", "/users", { body: { name: "Ada", email: uniqueEmail("open") } }],
      ]) {
        const res = await request(method, path, options);
        assert.equal(assertProblem(res, 503, { instance: path }).type, "/problems/circuit-open");
        retryAfterSecs(res);
      }
      assert.equal(await context.standIn.total(), 0, "an open breaker calls nothing");
      await assertFastMeanwhile(request, "GET", "/products/101", 200, 1000);
    });
  });
});

describe("a slow users service behind a gateway with UPSTREAM_TIMEOUT_MS 300, real products", () => {
  const context = useSystem("users", { gateway: { UPSTREAM_TIMEOUT_MS: "300" } });

  test("users 500 ms late: a 504 problem after about 300 ms, products fast meanwhile", async () => {
    const { request } = context;
    await context.standIn.during("slow:500", async () => {
      await assertLateIs504(request, "/users/1", "/products/102");
      const write = await timed(() => request("POST", "/users", { body: { name: "Late", email: uniqueEmail("late") } }));
      assertProblem(write.res, 504, { instance: "/users" });
    });
  });

  test("users 100 ms late, within 300 ms: success", async () => {
    const { request } = context;
    const { res, elapsed } = await context.standIn.during("slow:100", () => timed(() => request("GET", "/users/1")));
    assert.equal(res.status, 200, res.text);
    assert.ok(elapsed >= 100 && elapsed < 300, `answered in ${elapsed} ms`);
  });

  test("users that stalls its body past the 300 ms timeout: still a whole 200, after the stall", async () => {
    await assertStalledBodyPassedOn(context, 800);
  });
});

describe("a failing products service behind the real gateway (timeout 3000 ms), real users", () => {
  const context = useSystem("products");

  const newUser = async () => (await createUser(context.request, { name: "Fan" })).user.id;
  const stored = (userId) => storedFavorites(context.system, userId);
  const favorite = (userId, productId) => context.request("PUT", `/users/${userId}/favorites/${productId}`);

  test("products that answers 200 with invalid JSON: passed through as-is, real users unaffected", async () => {
    const { request } = context;
    await context.standIn.during("garbage", async () => {
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
    await context.standIn.during("hang", async () => {
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
    const { res, elapsed } = await context.standIn.during("slow:1000", () => timed(() => favorite(userId, "late-but-fine")));
    assert.equal(res.status, 204, res.text);
    assert.ok(elapsed >= 1000 && elapsed < 3000, `took ${elapsed} ms`);
    assert.deepEqual(await stored(userId), ["late-but-fine"]);
  });

  test("a favourite not confirmed within users' 1.5 s is a 503 problem before the gateway's 3 s, and nothing is written", async () => {
    const userId = await newUser();
    assert.equal((await favorite(userId, "kept")).status, 204);
    const { res, elapsed } = await context.standIn.during("slow:2000", () => timed(() => favorite(userId, "too-late")));
    assertProblem(res, 503, { instance: `/users/${userId}/favorites/too-late` });
    assert.ok(elapsed >= 1400 && elapsed < 2900, `503 after ${elapsed} ms`);
    assert.deepEqual(await stored(userId), ["kept"]);
    await sleep(800); // past the stand-in's late answer: still nothing written
    assert.deepEqual(await stored(userId), ["kept"]);
  });

  test("favourites read while products is 2 s late degrade to bare ids within users' timeout; 1 s late they expand", async () => {
    const userId = await newUser();
    for (const id of ["a1", "b2"]) assert.equal((await favorite(userId, id)).status, 204);
    const slow = await context.standIn.during("slow:2000", () => timed(() => context.request("GET", `/users/${userId}/favorites`)));
    assert.equal(slow.res.status, 200, slow.res.text);
    assert.deepEqual(slow.res.json, { user_id: userId, items: [{ id: "a1" }, { id: "b2" }], missing: [], degraded: true });
    assert.ok(slow.elapsed < 2900, `took ${slow.elapsed} ms`);
    const late = await context.standIn.during("slow:1000", () => context.request("GET", `/users/${userId}/favorites`));
    assert.equal(late.status, 200, late.text);
    assert.equal(late.json.degraded, false);
    assert.deepEqual(late.json.items.map((item) => item.name), ["Product a1", "Product b2"]);
  });

  test("a favourite 'confirmed' by a 200 with invalid JSON is not confirmed: a 503 problem, and nothing is written", async () => {
    // users stores a favourite only on a 200 that names the product.
    const userId = await newUser();
    assert.equal((await favorite(userId, "before")).status, 204);
    const res = await context.standIn.during("garbage", () => favorite(userId, "garbage-confirmed"));
    assertProblem(res, 503, { instance: `/users/${userId}/favorites/garbage-confirmed` });
    assert.deepEqual(await stored(userId), ["before"]);
  });

  for (const [mode, name] of [["throw", "throws"], ["hang", "hangs"]]) {
    test(`while products ${name}: removing a favourite, re-adding a known one and deleting the user all work`, async () => {
      const { request, system } = context;
      const userId = await newUser();
      for (const id of ["p1", "p2"]) assert.equal((await favorite(userId, id)).status, 204);
      await context.standIn.during(mode, async () => {
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
      assert.equal(await storedUser(system, userId), null);
    });
  }
});

describe("a late products service behind a gateway with UPSTREAM_TIMEOUT_MS 300, real users", () => {
  const context = useSystem("products", { gateway: { UPSTREAM_TIMEOUT_MS: "300" } });

  test("products 500 ms late: a 504 problem after about 300 ms, users fast meanwhile", async () => {
    const { request } = context;
    await context.standIn.during("slow:500", async () => {
      await assertLateIs504(request, "/products/101", "/users/2");
    });
  });

  test("a favourite write whose confirmation outlasts the gateway's 300 ms is a 503 before the gateway's 504, and is not applied", async () => {
    // The gateway gives users until 240 ms (a fifth of 300 kept for the
    // answer); users stops waiting for products then, and with no time left
    // its writer writes nothing, so the caller hears why instead of a 504.
    const { request, system } = context;
    const userId = (await createUser(request, { name: "Cut Off" })).user.id;
    assert.equal((await request("PUT", `/users/${userId}/favorites/first`)).status, 204);
    const { res, elapsed } = await context.standIn.during("slow:800", () => timed(() => request("PUT", `/users/${userId}/favorites/second`)));
    assertProblem(res, 503, { instance: `/users/${userId}/favorites/second` });
    assert.ok(elapsed < 300, `503 after ${elapsed} ms`);
    await sleep(1500); // past products' late answer and users' own timeout
    assert.deepEqual(await storedFavorites(system, userId), ["first"]);
    const read = await request("GET", `/users/${userId}/favorites`);
    assert.equal(read.status, 200, read.text);
    assert.deepEqual(read.json.items.map((item) => item.id), ["first"]);
  });
});
