// Fault isolation with the shipped settings (no override of the breaker,
// the timeouts or the rate limit anywhere in this file): products fails
// while users is real. users answers a favourite it cannot confirm with its
// own 503 problem (`/problems/dependency-unavailable`); that is users
// working, not failing, so any number of such answers leaves every /users
// route open. products' own routes meanwhile answer from the gateway's
// breaker for products: its first five failures each with their own 502 or
// 504, then 503 `/problems/circuit-open` with Retry-After.
//
// One system per way of failing, so that no breaker state leaks from one
// to the next: products throws, hangs, answers 2 s late, answers garbage,
// sends its headers and then stalls its body, answers 500 text.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { suiteSystem, readConfig } from "./support/system.mjs";
import { assertProblem } from "./support/problem.mjs";
import { standInWorker, standInControl } from "./support/stand-in.mjs";
import { retryAfterSecs, storedFavorites } from "./support/helpers.mjs";

// The shipped settings these tests rely on, read from the configs: a
// change there must show up here.
const GATEWAY = readConfig("gateway").vars;
const USERS = readConfig("users").vars;
const BREAKER_THRESHOLD = Number(GATEWAY.BREAKER_THRESHOLD);
const BREAKER_COOLDOWN_SECS = Number(GATEWAY.BREAKER_COOLDOWN_MS) / 1000;
const UPSTREAM_TIMEOUT_MS = Number(GATEWAY.UPSTREAM_TIMEOUT_MS);
const PRODUCTS_TIMEOUT_MS = Number(USERS.PRODUCTS_TIMEOUT_MS);

/** User 1 (seeded) and the favourites it gets while products is healthy. */
const FAN = "1";
const LISTED = ["101", "102"];
/** More favourite writes than the breaker's threshold, in each of two rounds. */
const WRITES_PER_ROUND = BREAKER_THRESHOLD + 1;

/**
 * Each way products fails, and what its own route (GET /products/101)
 * answers through the gateway meanwhile: a failure the gateway counts (a
 * throw, a timeout, a 5xx that is not a problem document) is a 502 or 504
 * until the breaker opens; an answer it passes on (late but within its
 * timeout, garbage with a 200, a 200 whose body stalls) never opens it.
 */
const FAILURES = [
  { mode: "throw", name: "throws", own: { status: 502, type: "/problems/bad-gateway" } },
  { mode: "hang", name: "hangs", own: { status: 504, type: "/problems/upstream-timeout" } },
  { mode: "slow:2000", name: "answers after 2 s", own: { status: 200 } },
  { mode: "garbage", name: "answers 200 with `{not json`", own: { status: 200, text: "{not json" } },
  { mode: "slowbody:20000", name: "sends its headers and then stalls its body", own: { status: 200, stalls: true } },
  { mode: "text500", name: "answers 500 text", own: { status: 502, type: "/problems/bad-gateway" } },
];

test("the shipped settings are the ones the scenarios are written for", () => {
  assert.equal(BREAKER_THRESHOLD, 5);
  assert.equal(BREAKER_COOLDOWN_SECS, 10);
  // users gives up on products (2 s late, or stalled) before the gateway
  // gives up on users.
  assert.ok(PRODUCTS_TIMEOUT_MS < 2000 && PRODUCTS_TIMEOUT_MS < UPSTREAM_TIMEOUT_MS, `${PRODUCTS_TIMEOUT_MS} ms`);
  assert.ok(UPSTREAM_TIMEOUT_MS > 2000, "products 2 s late is within the gateway's timeout");
});

for (const failure of FAILURES) {
  describe(`products that ${failure.name} (stand-in) behind the real users, shipped settings`, () => {
    const suite = suiteSystem(
      { standIns: { products: standInWorker("products") } },
      {
        async afterStart(started) {
          // While products is healthy, the fan gets two favourites; then
          // products starts failing for the rest of the describe.
          for (const product of LISTED) {
            const res = await started.request("PUT", `/users/${FAN}/favorites/${product}`);
            assert.equal(res.status, 204, res.text);
          }
          await products.setMode(failure.mode);
        },
      },
    );
    const { request } = suite;
    const products = standInControl(suite, "products");

    /** A round of favourite writes of products not yet listed, all at once: each a 503 dependency problem. */
    async function favouriteWritesRefused(round) {
      const paths = Array.from({ length: WRITES_PER_ROUND }, (_, i) => `/users/${FAN}/favorites/new-${round}-${i + 1}`);
      const answers = await Promise.all(paths.map((path) => request("PUT", path)));
      answers.forEach((res, i) => {
        const body = assertProblem(res, 503, { instance: paths[i], context: `${round} write ${i + 1}` });
        assert.equal(body.type, "/problems/dependency-unavailable", `${round} write ${i + 1}: users' own problem, not the breaker's`);
      });
      assert.deepEqual(await storedFavorites(suite.system, FAN), LISTED, "no write reached USERS_KV");
    }

    /** Every /users read answers 200 at once: the favourites degraded to bare ids. */
    async function usersReadsServed() {
      const one = await request("GET", "/users/1");
      assert.equal(one.status, 200, one.text);
      assert.equal(one.json.id, "1");
      const list = await request("GET", "/users");
      assert.equal(list.status, 200, list.text);
      assert.ok(list.json.items.some((user) => user.id === "2"), list.text);
      const two = await request("GET", "/users/2");
      assert.equal(two.status, 200, two.text);
      assert.equal(two.json.id, "2");
      const favourites = await request("GET", `/users/${FAN}/favorites`);
      assert.equal(favourites.status, 200, favourites.text);
      assert.deepEqual(favourites.json, {
        user_id: FAN,
        items: LISTED.map((id) => ({ id })),
        missing: [],
        degraded: true,
      });
    }

    test(`${2 * WRITES_PER_ROUND} favourite writes answer 503 dependency-unavailable and write nothing; every /users read then answers 200`, async () => {
      await favouriteWritesRefused("first");
      await favouriteWritesRefused("second");
      await usersReadsServed();
    });

    if (failure.own.status >= 500) {
      test(`GET /products/101 answers ${failure.own.status} ${BREAKER_THRESHOLD} times, then 503 circuit-open with Retry-After without calling products; /users unaffected`, async () => {
        await products.reset();
        const failed = await Promise.all(Array.from({ length: BREAKER_THRESHOLD }, () => request("GET", "/products/101")));
        for (const res of failed) {
          const body = assertProblem(res, failure.own.status, { instance: "/products/101" });
          assert.equal(body.type, failure.own.type);
        }
        for (const path of ["/products/101", "/products?ids=101,102"]) {
          const open = await request("GET", path);
          const body = assertProblem(open, 503, { instance: path.split("?")[0] });
          assert.equal(body.type, "/problems/circuit-open");
          assert.ok(retryAfterSecs(open) <= BREAKER_COOLDOWN_SECS, `Retry-After ${open.headers.get("retry-after")}`);
        }
        assert.deepEqual(await products.calls(), { "GET /products/101": BREAKER_THRESHOLD }, "the open breaker called nothing");
        // users asks products over its own binding, not through the gateway's breaker.
        await favouriteWritesRefused("while-open");
        await usersReadsServed();
      });
    } else {
      test(`GET /products/101 is passed on as products answers it (${failure.own.status}), and the breaker never opens; /users unaffected`, async () => {
        await products.reset();
        const calls = BREAKER_THRESHOLD + 2;
        const answers = await Promise.all(Array.from({ length: calls }, () => ownRoute(suite, failure.own.stalls)));
        for (const res of answers) {
          assert.equal(res.status, failure.own.status, res.text);
          if (failure.own.text !== undefined) assert.equal(res.text, failure.own.text);
        }
        assert.deepEqual(await products.calls(), { "GET /products/101": calls }, "every call reached products");
        await usersReadsServed();
      });
    }
  });
}

/**
 * GET /products/101 through the gateway. When products stalls its body,
 * only the status and headers are read (they arrive at once: the gateway
 * bounds the wait for an answer, not a body that streams) and the body is
 * cancelled.
 */
async function ownRoute(suite, stalls) {
  if (!stalls) return suite.request("GET", "/products/101");
  const response = await fetch(`${suite.system.url}/products/101`);
  await response.body.cancel();
  return { status: response.status, headers: response.headers, text: "(body not read)" };
}
