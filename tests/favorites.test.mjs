// Favourites, end to end through the gateway: users keeps the list and asks
// products (over its PRODUCTS binding) whether a product exists and, in one
// batch read, what the favourites are.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { suiteSystem } from "./support/system.mjs";
import { assertProblem } from "./support/problem.mjs";
import { standInWorker, standInControl } from "./support/stand-in.mjs";
import {
  timed,
  TRACEPARENT,
  createUser as createUserOf,
  storedFavorites,
} from "./support/helpers.mjs";

const GATEWAY_TIMEOUT_MS = 3000;
const MAX_FAVORITES = 100;
const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
const SENT_PARENT_ID = "00f067aa0ba902b7";
const TRACE_HEADERS = {
  "X-Request-Id": "fav-trace-1",
  traceparent: `00-${TRACE_ID}-${SENT_PARENT_ID}-01`,
};

/** How the stand-in fails, by mode, as test names say it. */
const FAILURES = {
  throw: "throws",
  hang: "hangs",
  text500: "answers 500",
  garbage: "answers invalid JSON",
};

function assertNoContent(response) {
  assert.equal(response.status, 204, response.text);
}

const createUser = async (request) => (await createUserOf(request, { name: "Fan" })).user.id;

const favorite = (request, userId, productId, headers) =>
  request("PUT", `/users/${userId}/favorites/${productId}`, { headers });
const unfavorite = (request, userId, productId) =>
  request("DELETE", `/users/${userId}/favorites/${productId}`);
const favorites = (request, userId, headers) => request("GET", `/users/${userId}/favorites`, { headers });

async function favoriteAll(request, userId, productIds) {
  for (const productId of productIds) assertNoContent(await favorite(request, userId, productId));
}

async function product(request, id) {
  const response = await request("GET", `/products/${id}`);
  assert.equal(response.status, 200, response.text);
  return response.json;
}

describe("favourites with the real products", () => {
  const context = suiteSystem();

  it("a user without favourites has an empty, undegraded list", async () => {
    const userId = await createUser(context.request);
    const response = await favorites(context.request, userId);
    assert.equal(response.status, 200, response.text);
    assert.deepEqual(response.json, { user_id: userId, items: [], missing: [], degraded: false });
  });

  it("PUT stores a favourite with 204, and a second PUT neither fails nor duplicates it", async () => {
    const { request, system } = context;
    const userId = await createUser(request);
    assertNoContent(await favorite(request, userId, "101"));
    assertNoContent(await favorite(request, userId, "101"));
    assert.deepEqual(await storedFavorites(system, userId), ["101"]);
    const response = await favorites(request, userId);
    assert.equal(response.status, 200, response.text);
    assert.deepEqual(response.json, {
      user_id: userId,
      items: [await product(request, "101")],
      missing: [],
      degraded: false,
    });
  });

  it("GET lists full products in the order they were added", async () => {
    const { request } = context;
    const userId = await createUser(request);
    await favoriteAll(request, userId, ["102", "101"]);
    const response = await favorites(request, userId);
    assert.equal(response.status, 200, response.text);
    assert.deepEqual(response.json.items, [await product(request, "102"), await product(request, "101")]);
    assert.deepEqual(response.json.missing, []);
    assert.equal(response.json.degraded, false);
  });

  it("PUT for a user that does not exist is a 404 problem", async () => {
    assertProblem(await favorite(context.request, "no-such-user", "101"), 404);
    assert.equal(await storedFavorites(context.system, "no-such-user"), null);
  });

  it("PUT of a product that does not exist is a 404 problem and stores nothing", async () => {
    const { request, system } = context;
    const userId = await createUser(request);
    await favoriteAll(request, userId, ["101"]);
    assertProblem(await favorite(request, userId, "no-such-product"), 404);
    assert.deepEqual(await storedFavorites(system, userId), ["101"]);
    const response = await favorites(request, userId);
    assert.deepEqual(response.json.items.map((item) => item.id), ["101"]);
  });

  it("DELETE removes a favourite with 204, and deleting one not there is 204 too", async () => {
    const { request } = context;
    const userId = await createUser(request);
    await favoriteAll(request, userId, ["101", "102"]);
    assertNoContent(await unfavorite(request, userId, "101"));
    assertNoContent(await unfavorite(request, userId, "101"));
    assertNoContent(await unfavorite(request, userId, "never-favourited"));
    const response = await favorites(request, userId);
    assert.equal(response.status, 200, response.text);
    assert.deepEqual(response.json.items, [await product(request, "102")]);
  });

  it("DELETE for a user that does not exist is a 404 problem", async () => {
    assertProblem(await unfavorite(context.request, "no-such-user", "101"), 404);
  });

  it("GET for a user that does not exist is a 404 problem", async () => {
    assertProblem(await favorites(context.request, "no-such-user"), 404);
  });

  // The product is removed from products' store behind its back, so no
  // product.deleted event takes the favourite away (events.test.mjs tests that).
  it("a favourite whose product products no longer has is listed as missing", async () => {
    const { request, system } = context;
    const created = await request("POST", "/products", {
      body: { name: "Desk lamp", price: { amount: 1999, currency: "EUR" }, stock: 3 },
    });
    assert.equal(created.status, 201, created.text);
    const lampId = created.json.id;
    const userId = await createUser(request);
    await favoriteAll(request, userId, ["101", lampId, "102"]);

    const before = await favorites(request, userId);
    assert.deepEqual(before.json.items.map((item) => item.id), ["101", lampId, "102"]);
    assert.deepEqual(before.json.missing, []);

    await (await system.kv("products", "PRODUCTS_KV")).delete(`product:${lampId}`);
    const after = await favorites(request, userId);
    assert.equal(after.status, 200, after.text);
    assert.deepEqual(after.json, {
      user_id: userId,
      items: [await product(request, "101"), await product(request, "102")],
      missing: [lampId],
      degraded: false,
    });
  });

  it("deleting a user deletes their favourites", async () => {
    const { request, system } = context;
    const userId = await createUser(request);
    await favoriteAll(request, userId, ["101"]);
    assert.deepEqual(await storedFavorites(system, userId), ["101"]);
    assertNoContent(await request("DELETE", `/users/${userId}`));
    assert.equal(await storedFavorites(system, userId), null);
    assertProblem(await favorites(request, userId), 404);
  });
});

// With the shipped settings: users' 503 problems and degraded reads while
// products fails are users' own answers, which the gateway does not count
// against users' breaker (isolation.test.mjs runs more of them in a row).
describe("favourites with a stand-in products", () => {
  const context = suiteSystem({ standIns: { products: standInWorker("products") } });
  const products = standInControl(context, "products");

  it("expanding 10 favourites costs exactly one GET /products?ids= call", async () => {
    const { request } = context;
    const userId = await createUser(request);
    const ids = Array.from({ length: 10 }, (_, n) => `batch-${n + 1}`);
    await favoriteAll(request, userId, ids);

    await products.reset();
    const response = await favorites(request, userId);
    assert.equal(response.status, 200, response.text);
    assert.deepEqual(response.json.items.map((item) => item.id), ids);
    assert.equal(response.json.items[0].name, "Product batch-1");
    assert.equal(response.json.degraded, false);

    const { calls, seen } = await products.state();
    assert.deepEqual(calls, { "GET /products?ids=": 1 });
    assert.deepEqual(seen[0].ids.split(",").sort(), [...ids].sort());
  });

  it("the request id and the trace travel from users to products", async () => {
    const { request } = context;
    const userId = await createUser(request);
    await products.reset();
    assertNoContent(await favorite(request, userId, "traced", TRACE_HEADERS));
    const response = await favorites(request, userId, TRACE_HEADERS);
    assert.equal(response.status, 200, response.text);
    assert.equal(response.headers.get("x-request-id"), "fav-trace-1");

    const seen = await products.seen();
    assert.deepEqual(
      seen.map((call) => call.call),
      ["GET /products/traced", "GET /products?ids="],
    );
    for (const { call, request_id, traceparent } of seen) {
      assert.equal(request_id, "fav-trace-1", call);
      assert.match(traceparent, TRACEPARENT, call);
      assert.equal(traceparent.slice(3, 35), TRACE_ID, call);
      assert.notEqual(traceparent.slice(36, 52), SENT_PARENT_ID, call);
    }
  });

  it(`at most ${MAX_FAVORITES} favourites: the next distinct PUT is a 409 problem, a re-PUT stays 204`, async () => {
    const { request, system } = context;
    const userId = await createUser(request);
    const ids = Array.from({ length: MAX_FAVORITES }, (_, n) => `limit-${n + 1}`);
    await favoriteAll(request, userId, ids);
    assertProblem(await favorite(request, userId, "one-too-many"), 409);
    assertNoContent(await favorite(request, userId, "limit-50"));
    assert.deepEqual(await storedFavorites(system, userId), ids);
  });

  for (const mode of ["throw", "hang", "text500"]) {
    it(`PUT is a 503 problem and writes nothing when products ${FAILURES[mode]}`, async () => {
      const { request, system } = context;
      const userId = await createUser(request);
      await favoriteAll(request, userId, ["kept"]);

      const { res: response, elapsed } = await products.during(mode, () =>
        timed(() => favorite(request, userId, "unconfirmed")),
      );
      assert.equal(assertProblem(response, 503).type, "/problems/dependency-unavailable", "users' own problem");
      assert.ok(elapsed < GATEWAY_TIMEOUT_MS, `took ${elapsed} ms`);

      assert.deepEqual(await storedFavorites(system, userId), ["kept"]);
      const after = await favorites(request, userId);
      assert.equal(after.status, 200, after.text);
      assert.deepEqual(after.json.items.map((item) => item.id), ["kept"]);
      assert.equal(after.json.degraded, false);
    });
  }

  for (const mode of ["throw", "hang", "garbage", "text500"]) {
    it(`GET degrades to bare ids, in order, when products ${FAILURES[mode]}`, async () => {
      const { request } = context;
      const userId = await createUser(request);
      const ids = ["second-hand", "first-hand", "third-hand"];
      await favoriteAll(request, userId, ids);

      const { res: response, elapsed } = await products.during(mode, () =>
        timed(() => favorites(request, userId)),
      );
      assert.equal(response.status, 200, response.text);
      assert.deepEqual(response.json, {
        user_id: userId,
        items: ids.map((id) => ({ id })),
        missing: [],
        degraded: true,
      });
      assert.ok(elapsed < GATEWAY_TIMEOUT_MS, `took ${elapsed} ms`);
    });
  }
});
