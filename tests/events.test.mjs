// Product events, end to end with the real builds: products publishes one
// event per committed change on the `product-events` queue (from its
// writer's outbox, resent by an alarm while the queue is away), users
// consumes them and removes a deleted product from every list that holds
// it, dead-lettering what is not an event. What products sends is observed
// through a tap on its queue binding and what is dead-lettered through a
// test consumer of the dead-letter queue (tests/support/events.mjs); the
// queue broker's own log counts deliveries, retries and dead letters.
//
// Two systems: the shipped objects, and one whose ProductFans objects are
// staged (they fail, or hold an enlist until the deletion, on demand, and
// otherwise forward to the real ones). Each test declares what it makes the
// queue carry (`expect`); the last test of each system waits until the
// broker has dealt with exactly that, and the file's closing tests check
// the totals and that every published event is what events.schema.json says.
import { describe, it, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, suiteSystem } from "./support/system.mjs";
import { assertProblem } from "./support/problem.mjs";
import { createUser, storedFavorites, RFC3339_UTC, UUID, TRACEPARENT } from "./support/helpers.mjs";
import {
  eventSystemOptions,
  eventsOf,
  eventually,
  EVENTS_QUEUE,
  DEAD_LETTER_QUEUE,
  MAX_DELIVERIES,
} from "./support/events.mjs";
import { validate } from "./support/json-schema.mjs";

const EVENT_SCHEMA = JSON.parse(readFileSync(join(ROOT, "events.schema.json"), "utf8"));
const OPENAPI = JSON.parse(readFileSync(join(ROOT, "openapi.json"), "utf8"));
const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
/** The longest the outbox's alarm waits between two tries (60 s), and some. */
const ALARM_BOUND_MS = 70_000;

const draft = (name, stock = 5) => ({ name, price: { amount: 1000, currency: "EUR" }, stock });
const requestId = (tag) => `ev-${tag}-${randomUUID()}`;
const traced = (tag) => ({ "X-Request-Id": requestId(tag), traceparent: `00-${TRACE_ID}-00f067aa0ba902b7-01` });

/** A product created through the gateway: `{ id, etag, requestId }`. */
async function createProduct(request, name = "Evented", headers = {}) {
  const res = await request("POST", "/products", { body: draft(name), headers });
  assert.equal(res.status, 201, res.text);
  return { id: res.json.id, etag: res.headers.get("etag"), requestId: res.headers.get("x-request-id") };
}

const newUser = async (request) => (await createUser(request, { name: "Fan" })).user.id;

async function favorite(request, user, product) {
  const res = await request("PUT", `/users/${user}/favorites/${product}`);
  assert.equal(res.status, 204, res.text);
}

/** A user's favourites as GET answers them. */
async function listOf(request, user) {
  const res = await request("GET", `/users/${user}/favorites`);
  assert.equal(res.status, 200, res.text);
  return { items: res.json.items.map((item) => item.id), missing: res.json.missing, degraded: res.json.degraded };
}

async function deleteProduct(request, id, headers = {}) {
  const res = await request("DELETE", `/products/${id}`, { headers });
  assert.equal(res.status, 204, res.text);
  return res;
}

/** Waits (polling users' KV, not the gateway) until no list of `users` holds `product`. */
async function untilNoListHolds(system, users, product, ms = 15_000) {
  await eventually(
    async () => {
      for (const user of users) if ((await storedFavorites(system, user))?.includes(product)) return false;
      return true;
    },
    { ms, what: `every list dropping ${product}` },
  );
}

/**
 * Waits until the consumer has acknowledged `count` messages since the
 * broker's log was at `mark` (so that what the test sends next makes a
 * batch of its own).
 */
async function untilConsumed(events, mark, count) {
  await eventually(() => (events.broker(mark)[EVENTS_QUEUE]?.acked ?? 0) >= count, {
    what: `${count} messages consumed`,
  });
}

/** The fan counts the consumer logged for each time it applied the deletion event `eventId`. */
function removals(system, eventId) {
  return [...system.logs().matchAll(/product\.deleted (\S+) \(event ([0-9a-f-]+)\): removed from (\d+) lists/g)]
    .filter((match) => match[2] === eventId)
    .map((match) => Number(match[3]));
}

/** Lines users logged for messages it dead-lettered. */
const deadLetteredLines = (logs) => logs.split("\n").filter((line) => /message \S+ dead-lettered: not a product event/.test(line));

const isDeletionOf = (product) => (text) => {
  const event = JSON.parse(text);
  return event.product_id === product && event.type === "product.deleted";
};

/** What each system's queue carried, as its tests declared and as the broker counted it. */
const systemsSettled = [];
const publishedTexts = [];

/**
 * A system for the enclosing describe, with `expect`: what its tests make
 * the queue carry (`published` by products, of which `held` the tap kept
 * back; `injected` by the tests; `duplicates` of those, already delivered
 * once; `retried` deliveries the broker schedules again; `deadAtOnce` by
 * users, `deadAfterRetries` by the broker).
 */
function eventSuite(label, staging) {
  const options = eventSystemOptions(staging);
  const context = suiteSystem(options);
  const expect = { published: 0, held: 0, injected: 0, duplicates: 0, retried: 0, deadAtOnce: 0, deadAfterRetries: 0 };
  context.expect = expect;
  context.events = () => eventsOf(context.system, options.log);
  context.settles = () =>
    it("settles: the broker dealt with exactly what the tests above sent, and nothing was published twice", async () => {
      const events = context.events();
      const entering = expect.published - expect.held + expect.injected;
      const deadLetters = expect.deadAtOnce + expect.deadAfterRetries;
      const dealtWith = () => {
        const { [EVENTS_QUEUE]: queue, [DEAD_LETTER_QUEUE]: dlq } = events.broker();
        return (queue?.acked ?? 0) + (queue?.movedToDlq ?? 0) >= entering && (dlq?.acked ?? 0) >= deadLetters;
      };
      const waited = await eventually(dealtWith, { ms: 20_000, what: `the broker dealing with ${entering} messages` }).then(
        () => undefined,
        (error) => error,
      );
      const texts = await events.publishedTexts();
      const { [EVENTS_QUEUE]: queue = {} } = events.broker();
      const observed = {
        published: texts.length,
        consumed: queue.acked ?? 0,
        delivered: queue.delivered ?? 0,
        retried: queue.retried ?? 0,
        movedToDlq: queue.movedToDlq ?? 0,
        deadLettered: (await events.deadLetters()).length,
        duplicatesApplied: duplicateApplications(context.system.logs()),
      };
      publishedTexts.push(...texts.map((text) => ({ label, text })));
      systemsSettled.push({ label, expect: { ...expect }, observed });
      assert.deepEqual(observed, {
        published: expect.published,
        consumed: entering - expect.deadAfterRetries,
        delivered: entering + expect.retried,
        retried: expect.retried,
        movedToDlq: expect.deadAfterRetries,
        deadLettered: deadLetters,
        duplicatesApplied: expect.duplicates,
      });
      if (waited) throw waited;
      const ids = texts.map((text) => JSON.parse(text).id);
      assert.equal(new Set(ids).size, ids.length, "every published event has an id of its own");
    });
  return context;
}

/** Times a deletion event was applied again after its first (from users' log lines). */
function duplicateApplications(logs) {
  const times = new Map();
  for (const match of logs.matchAll(/product\.deleted \S+ \(event ([0-9a-f-]+)\): removed from/g)) {
    times.set(match[1], (times.get(match[1]) ?? 0) + 1);
  }
  return [...times.values()].reduce((sum, n) => sum + n - 1, 0);
}

describe("product events with the shipped objects", () => {
  const context = eventSuite("shipped", {});
  const { request, expect } = context;

  /** A product favoured by 3 users (who also favour a product that stays), then deleted. */
  async function deletedWithThreeFans() {
    const { system } = context;
    const doomed = await createProduct(request, "Doomed");
    const kept = await createProduct(request, "Kept");
    const fans = [await newUser(request), await newUser(request), await newUser(request)];
    for (const fan of fans) {
      await favorite(request, fan, doomed.id);
      await favorite(request, fan, kept.id);
      assert.deepEqual(await storedFavorites(system, fan), [doomed.id, kept.id]);
    }
    const answer = await deleteProduct(request, doomed.id);
    expect.published += 3;
    const texts = (await context.events().publishedTexts()).filter(isDeletionOf(doomed.id));
    assert.equal(texts.length, 1, "one deletion event");
    const deletion = JSON.parse(texts[0]);
    assert.equal(deletion.request_id, answer.headers.get("x-request-id"));
    await untilNoListHolds(system, fans, doomed.id);
    return { doomed, kept, fans, deletion, deletionText: texts[0] };
  }

  it("a product favoured by 3 users leaves the 3 lists once deleted, and the gateway's /health shows the consumer's progress", async () => {
    const { system } = context;
    const { kept, fans, deletion } = await deletedWithThreeFans();
    for (const fan of fans) {
      assert.deepEqual(await listOf(request, fan), { items: [kept.id], missing: [], degraded: false });
      assert.deepEqual(await storedFavorites(system, fan), [kept.id]);
    }
    assert.deepEqual(await eventually(() => removals(system, deletion.id).length > 0 && removals(system, deletion.id)), [3]);
    const health = await eventually(
      async () => {
        const res = await request("GET", "/health");
        return res.json?.services?.users?.events?.last_event_time === deletion.time && res;
      },
      { what: "/health showing the deletion event as the last processed" },
    );
    assert.equal(health.status, 200, health.text);
    const progress = health.json.services.users.events;
    assert.deepEqual(Object.keys(progress).sort(), ["lag_ms", "last_event_time", "processed_at"]);
    assert.match(progress.processed_at, RFC3339_UTC);
    assert.ok(progress.processed_at >= progress.last_event_time, JSON.stringify(progress));
    assert.equal(progress.lag_ms, Date.parse(progress.processed_at) - Date.parse(progress.last_event_time));
  });

  it("the same deletion delivered a second time changes nothing: lists, stored favourites and users are as the first left them", async () => {
    const { system } = context;
    const { doomed, kept, fans, deletion, deletionText } = await deletedWithThreeFans();
    await eventually(() => removals(system, deletion.id).length === 1, { what: "the first delivery applied" });
    const snapshot = async () =>
      Promise.all(
        fans.map(async (fan) => {
          const user = await request("GET", `/users/${fan}`);
          return { list: await listOf(request, fan), stored: await storedFavorites(system, fan), user: user.text, etag: user.headers.get("etag") };
        }),
      );
    const before = await snapshot();
    assert.ok(before.every(({ stored }) => stored.length === 1 && stored[0] === kept.id), JSON.stringify(before));
    await context.events().inject([deletionText]);
    expect.injected += 1;
    expect.duplicates += 1;
    await eventually(() => removals(system, deletion.id).length === 2, { what: "the second delivery applied" });
    assert.deepEqual(removals(system, deletion.id), [3, 3], "the same three fans, both times");
    assert.deepEqual(await snapshot(), before);
    const refused = await request("PUT", `/users/${fans[0]}/favorites/${doomed.id}`);
    assertProblem(refused, 404);
    assert.equal(refused.json.detail, `product ${doomed.id} does not exist`);
  });

  it("the gateway's /health with the consumer's progress is what openapi.json documents", async () => {
    await createProduct(request, "Health");
    expect.published += 1;
    const res = await eventually(
      async () => {
        const answer = await request("GET", "/health");
        return answer.json?.services?.users?.events && answer;
      },
      { what: "/health showing the consumer's progress" },
    );
    assert.deepEqual(validate(res.json, OPENAPI.components.schemas.Health, OPENAPI), [], res.text);
  });

  it("with the queue down, writes are still acknowledged and readable, and the alarm delivers their events in order once it is back", async () => {
    const { system } = context;
    const events = context.events();
    const fan = await newUser(request);
    const heads = { create: traced("down-create"), patch: traced("down-patch"), remove: traced("down-delete") };
    let id;
    let created;
    let patched;
    const refusedAbout = async () => (await events.refused()).filter((text) => JSON.parse(text).product_id === id);
    await events.setMode("down");
    try {
      const res = await request("POST", "/products", { body: draft("Offline"), headers: heads.create });
      assert.equal(res.status, 201, res.text);
      id = res.json.id;
      created = res.headers.get("etag");
      expect.published += 1;
      const read = await request("GET", `/products/${id}`);
      assert.equal(read.status, 200, read.text);
      assert.equal(read.headers.get("etag"), created);
      await favorite(request, fan, id);
      const patch = await request("PATCH", `/products/${id}`, { body: { stock: 9 }, headers: heads.patch });
      assert.equal(patch.status, 200, patch.text);
      assert.equal(patch.json.stock, 9);
      patched = patch.headers.get("etag");
      expect.published += 1;
      assert.equal((await request("GET", `/products/${id}`)).json.stock, 9);
      await deleteProduct(request, id, heads.remove);
      expect.published += 1;
      assert.equal((await request("GET", `/products/${id}`)).status, 404);
      assert.deepEqual(await events.publishedAbout(id), [], "nothing went out while the queue was down");
      const refusedByWrites = (await refusedAbout()).length;
      assert.ok(refusedByWrites >= 3, `each of the 3 writes tried to send (${refusedByWrites} refusals)`);
      await eventually(async () => (await refusedAbout()).length > refusedByWrites, {
        ms: 20_000,
        what: "the alarm trying again while the queue is down",
      });
      assert.deepEqual(await events.publishedAbout(id), []);
    } finally {
      await events.setMode("pass");
    }
    const delivered = await eventually(async () => (await events.publishedAbout(id)).length >= 3 && events.publishedAbout(id), {
      ms: ALARM_BOUND_MS,
      what: "the alarm delivering the 3 events",
    });
    assert.deepEqual(
      delivered.map((e) => [e.type, e.etag, e.request_id]),
      [
        ["product.created", created, heads.create["X-Request-Id"]],
        ["product.updated", patched, heads.patch["X-Request-Id"]],
        ["product.deleted", null, heads.remove["X-Request-Id"]],
      ],
    );
    assert.ok(delivered[0].version < delivered[1].version && delivered[1].version < delivered[2].version, "versions increase");
    const resent = new Set((await refusedAbout()).map((text) => JSON.parse(text).id));
    assert.ok([...resent].every((eventId) => delivered.some((e) => e.id === eventId)), "a resent event keeps its id");
    await untilNoListHolds(system, [fan], id);
    assert.equal((await events.publishedAbout(id)).length, 3, "each event went out once");
  });

  it("messages that are not events are dead-lettered on their first delivery, each with an error logged, and the batch's events are still applied, one with a field a newer producer added", async () => {
    const { system } = context;
    const events = context.events();
    const quiet = events.mark();
    const product = await createProduct(request, "Held");
    const fan = await newUser(request);
    await favorite(request, fan, product.id);
    await untilConsumed(events, quiet, 1);
    await events.setMode("hold");
    try {
      await deleteProduct(request, product.id);
    } finally {
      await events.setMode("pass");
    }
    expect.published += 2;
    expect.held += 1;
    const [held] = (await events.publishedTexts()).filter(isDeletionOf(product.id));
    const event = JSON.parse(held);
    const garbage = [
      "not json {",
      "",
      JSON.stringify({ hello: "world" }),
      JSON.stringify({ ...event, id: randomUUID(), type: "product.exploded" }),
      JSON.stringify({ ...event, id: randomUUID(), product_id: "../etc" }),
    ];
    // A field a newer producer adds is no reason to dead-letter: applied (here, a no-op).
    const newer = JSON.stringify({ ...event, id: randomUUID(), surprise: true });
    const logsFrom = system.logs().length;
    const mark = events.mark();
    const deadBefore = (await events.deadLetters()).length;
    await events.inject([...garbage, held, newer]);
    expect.injected += garbage.length + 2;
    expect.deadAtOnce += garbage.length;
    await untilNoListHolds(system, [fan], product.id);
    const dead = await eventually(async () => {
      const all = await events.deadLetters();
      return all.length >= deadBefore + garbage.length && all.slice(deadBefore);
    });
    assert.deepEqual(dead.map((letter) => letter.body).sort(), [...garbage].sort(), "each dead letter is the message as sent");
    const account = await eventually(() => events.broker(mark)[EVENTS_QUEUE]);
    assert.deepEqual(account.batches[0], { acked: garbage.length + 2, size: garbage.length + 2 }, "one batch, all acknowledged at once");
    assert.equal(account.retried, 0, "nothing retried");
    assert.equal(account.movedToDlq, 0, "nothing left for the broker to dead-letter");
    assert.equal(deadLetteredLines(system.logs().slice(logsFrom)).length, garbage.length, "one error line per message");
    assert.doesNotMatch(system.logs(), /panicked at|Rust panic/);
  });

  it("a message whose body is not text (bytes, a JSON value) is dead-lettered as it was sent", async () => {
    const { system } = context;
    const events = context.events();
    const deadBefore = (await events.deadLetters()).length;
    const logsFrom = system.logs().length;
    await events.inject([new Uint8Array([0xde, 0xad, 0xbe, 0xef])], "bytes");
    await events.inject([{ hello: "world" }], "json");
    expect.injected += 2;
    expect.deadAtOnce += 2;
    const letters = await eventually(async () => {
      const all = await events.deadLetters();
      return all.length >= deadBefore + 2 && all.slice(deadBefore);
    });
    assert.equal(deadLetteredLines(system.logs().slice(logsFrom)).length, 2);
    assert.deepEqual(
      letters.map(({ kind, bytes, json }) => ({ kind, bytes, json })).sort((a, b) => a.kind.localeCompare(b.kind)),
      [
        { kind: "bytes", bytes: [0xde, 0xad, 0xbe, 0xef], json: null },
        { kind: "object", bytes: null, json: { hello: "world" } },
      ],
      JSON.stringify(letters),
    );
  });

  // The invariant checked, whatever the interleaving: (1) every PUT is
  // answered 204, or 404 "product <id> does not exist"; (2) the deletion
  // event is applied to exactly the users who got a 204 (each such PUT
  // enlisted its user in the product's ProductFans before the deletion
  // reached it; a PUT that would enlist after is refused 404, one that
  // finds the product gone in products too); (3) once it is applied, no
  // list holds the product, in KV or as GET answers it (items or missing);
  // (4) a PUT after that is 404. The staged suite below forces both
  // orderings one at a time.
  it("favourite PUTs racing a product's deletion: every PUT is 204 or 404, the users answered 204 are exactly the fans the deletion was applied to, and no list keeps the product", async () => {
    const { system } = context;
    const events = context.events();
    const product = await createProduct(request, "Contested");
    const early = [];
    for (let i = 0; i < 4; i++) early.push(await newUser(request));
    for (const user of early) await favorite(request, user, product.id);
    const racers = [];
    for (let i = 0; i < 12; i++) racers.push(await newUser(request));
    const put = async (user, delayMs) => {
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      return { user, res: await request("PUT", `/users/${user}/favorites/${product.id}`) };
    };
    const [, ...answers] = await Promise.all([
      new Promise((resolve) => setTimeout(resolve, 40)).then(() => deleteProduct(request, product.id)),
      ...racers.map((user, i) => put(user, i * 15)),
      ...early.map((user, i) => put(user, 20 + i * 15)),
    ]);
    expect.published += 2;
    for (const { res } of answers) {
      if (res.status === 204) continue;
      assertProblem(res, 404);
      assert.equal(res.json.detail, `product ${product.id} does not exist`);
    }
    const [deletionText] = (await events.publishedTexts()).filter(isDeletionOf(product.id));
    const deletion = JSON.parse(deletionText);
    const [applied] = await eventually(() => removals(system, deletion.id).length > 0 && removals(system, deletion.id), {
      what: "the deletion applied",
    });
    const answered204 = new Set([...early, ...answers.filter(({ res }) => res.status === 204).map(({ user }) => user)]);
    assert.equal(applied, answered204.size, "the deletion was applied to exactly the users whose PUT was answered 204");
    const everyone = [...early, ...racers];
    await untilNoListHolds(system, everyone, product.id);
    for (const user of everyone) {
      const list = await listOf(request, user);
      assert.ok(!list.items.includes(product.id) && !list.missing.includes(product.id), JSON.stringify(list));
    }
    const late = await request("PUT", `/users/${racers[0]}/favorites/${product.id}`);
    assertProblem(late, 404);
    console.log(
      `race: ${answers.filter(({ res }) => res.status === 204).length} PUTs answered 204, ${answers.filter(({ res }) => res.status === 404).length} answered 404; deletion applied to ${applied} fans`,
    );
  });

  it("every committed create, replace, patch and delete publishes exactly one event of its type, with the write's ETag, request id and trace", async () => {
    const events = context.events();
    const heads = { create: traced("create"), replace: traced("replace"), patch: traced("patch"), remove: traced("delete") };
    const before = Date.now();
    const created = await request("POST", "/products", { body: draft("Published"), headers: heads.create });
    assert.equal(created.status, 201, created.text);
    const id = created.json.id;
    const replaced = await request("PUT", `/products/${id}`, { body: draft("Published again", 7), headers: heads.replace });
    assert.equal(replaced.status, 200, replaced.text);
    const patched = await request("PATCH", `/products/${id}`, { body: { stock: 42 }, headers: heads.patch });
    assert.equal(patched.status, 200, patched.text);
    await deleteProduct(request, id, heads.remove);
    const after = Date.now();
    expect.published += 4;
    const published = await events.publishedAbout(id);
    assert.deepEqual(
      published.map((e) => [e.type, e.etag, e.request_id]),
      [
        ["product.created", created.headers.get("etag"), heads.create["X-Request-Id"]],
        ["product.updated", replaced.headers.get("etag"), heads.replace["X-Request-Id"]],
        ["product.updated", patched.headers.get("etag"), heads.patch["X-Request-Id"]],
        ["product.deleted", null, heads.remove["X-Request-Id"]],
      ],
    );
    for (let i = 1; i < published.length; i++) {
      assert.ok(published[i - 1].version < published[i].version, "versions increase");
      assert.ok(published[i - 1].time <= published[i].time, "times do not go back");
    }
    for (const event of published) {
      assert.match(event.id, UUID);
      assert.equal(event.product_id, id);
      assert.equal(event.traceparent?.match(TRACEPARENT)?.[1], TRACE_ID, "the write's trace");
      const time = Date.parse(event.time);
      assert.ok(time >= before - 1000 && time <= after + 1000, `${event.time} within the writes`);
    }
    assert.equal(new Set(published.map((e) => e.id)).size, 4);
  });

  it("a write that is refused (412, 422, 404) or changes nothing publishes no event", async () => {
    const events = context.events();
    const product = await createProduct(request, "Guarded");
    const stale = '"0000000000000000"';
    const missing = randomUUID();
    const attempts = [
      ["PATCH", `/products/${product.id}`, { stock: 1 }, { "If-Match": stale }, 412],
      ["PUT", `/products/${product.id}`, draft("x"), { "If-Match": stale }, 412],
      ["DELETE", `/products/${product.id}`, undefined, { "If-Match": stale }, 412],
      ["PATCH", `/products/${product.id}`, { stock: -1 }, {}, 422],
      ["PUT", `/products/${product.id}`, { name: "" }, {}, 422],
      ["POST", "/products", { name: "no price" }, {}, 422],
      ["PATCH", `/products/${missing}`, { stock: 1 }, {}, 404],
      ["PUT", `/products/${missing}`, draft("ghost"), {}, 404],
      ["DELETE", `/products/${missing}`, undefined, {}, 404],
      ["PATCH", `/products/${product.id}`, { stock: 5 }, {}, 200],
    ];
    const refusedIds = [];
    for (const [method, path, body, headers, status] of attempts) {
      const id = requestId("refused");
      const res = await request(method, path, { body, headers: { ...headers, "X-Request-Id": id } });
      assert.equal(res.status, status, `${method} ${path}: ${res.text}`);
      if (status === 200) assert.equal(res.headers.get("etag"), product.etag, "the no-op PATCH changed nothing");
      refusedIds.push(id);
    }
    await deleteProduct(request, product.id);
    const again = await request("DELETE", `/products/${product.id}`, { headers: { "X-Request-Id": requestId("refused") } });
    assert.equal(again.status, 404, again.text);
    refusedIds.push(again.headers.get("x-request-id"));
    expect.published += 2;
    assert.deepEqual(
      (await events.publishedAbout(product.id)).map((e) => e.type),
      ["product.created", "product.deleted"],
    );
    const carried = (await events.published()).filter((e) => refusedIds.includes(e.request_id));
    assert.deepEqual(carried, [], "no event for a refused or empty write");
  });

  it("concurrent patches of one product each publish one event: none lost, none twice", async () => {
    const events = context.events();
    const product = await createProduct(request, "Busy");
    const patches = await Promise.all(
      Array.from({ length: 8 }, async (_, i) => {
        const id = requestId(`busy-${i}`);
        const res = await request("PATCH", `/products/${product.id}`, { body: { stock: 100 + i }, headers: { "X-Request-Id": id } });
        assert.equal(res.status, 200, res.text);
        return { id, etag: res.headers.get("etag") };
      }),
    );
    expect.published += 9;
    const published = await events.publishedAbout(product.id);
    assert.equal(published.length, 9, JSON.stringify(published.map((e) => [e.type, e.version, e.id])));
    assert.equal(published[0].type, "product.created");
    const updates = published.slice(1);
    assert.ok(updates.every((e) => e.type === "product.updated"));
    assert.deepEqual(
      updates.map((e) => [e.request_id, e.etag]).sort(),
      patches.map((p) => [p.id, p.etag]).sort(),
      "one event per PATCH, with its ETag",
    );
    assert.equal(new Set(published.map((e) => e.version)).size, 9, "versions are distinct");
  });

  context.settles();
});

describe("product events with staged ProductFans objects", () => {
  const context = eventSuite("staged", { flaky: true });
  const { request, expect } = context;

  /** Gaps in ms between successive calls. */
  const gaps = (calls) => calls.slice(1).map((call, i) => call.at - calls[i].at);

  it("in one batch: a deletion failing twice is applied on its third delivery, one always failing is dead-lettered after max_retries, and the others are applied at once", async () => {
    const { system } = context;
    const events = context.events();
    const quiet = events.mark();
    const [twice, always, first, second] = [
      await createProduct(request, "Fails twice"),
      await createProduct(request, "Always fails"),
      await createProduct(request, "Fine"),
      await createProduct(request, "Fine too"),
    ];
    const fan = await newUser(request);
    for (const product of [twice, always, first, second]) await favorite(request, fan, product.id);
    await untilConsumed(events, quiet, 4);
    await events.plan(twice.id, { deleted: "fail-twice" });
    await events.plan(always.id, { deleted: "fail-always" });
    await events.setMode("hold");
    try {
      for (const product of [twice, always, first, second]) await deleteProduct(request, product.id);
    } finally {
      await events.setMode("pass");
    }
    expect.published += 8;
    expect.held += 4;
    const texts = await events.publishedTexts();
    const deletionOf = (product) => texts.find(isDeletionOf(product.id));
    const batch = [twice, always, first, second].map(deletionOf);
    const mark = events.mark();
    const deadBefore = (await events.deadLetters()).length;
    await events.inject(batch);
    expect.injected += 4;
    expect.retried += 2 + (MAX_DELIVERIES - 1);
    expect.deadAfterRetries += 1;

    const firstBatch = await eventually(() => events.broker(mark)[EVENTS_QUEUE]?.batches[0]);
    assert.deepEqual(firstBatch, { acked: 2, size: 4 }, "the two good messages acknowledged, the two failing retried");
    await untilNoListHolds(system, [fan], first.id, 5_000);
    await untilNoListHolds(system, [fan], second.id, 5_000);

    await untilNoListHolds(system, [fan], twice.id, 30_000);
    const twiceCalls = (await events.fansCalls(twice.id)).filter((call) => call.kind === "product_deleted");
    assert.deepEqual(
      twiceCalls.map((call) => call.outcome.split(" ")[0]),
      ["failed", "failed", "200"],
      "applied on the third delivery",
    );
    gaps(twiceCalls).forEach((gap, i) => assert.ok(gap >= (i + 1) * 1000, `retry ${i + 1} waited ${gap} ms, at least ${i + 1} s`));

    const [letter] = await eventually(
      async () => {
        const all = await events.deadLetters();
        return all.length > deadBefore && all.slice(deadBefore);
      },
      { ms: 30_000, what: "the always-failing deletion reaching the dead-letter queue" },
    );
    assert.equal(letter.body, deletionOf(always));
    const alwaysCalls = (await events.fansCalls(always.id)).filter((call) => call.kind === "product_deleted");
    assert.equal(alwaysCalls.length, MAX_DELIVERIES, `delivered ${MAX_DELIVERIES} times (1 + max_retries)`);
    assert.ok(alwaysCalls.every((call) => call.outcome === "failed"));
    gaps(alwaysCalls).forEach((gap, i) => assert.ok(gap >= (i + 1) * 1000, `retry ${i + 1} waited ${gap} ms`));
    const account = events.broker(mark)[EVENTS_QUEUE];
    assert.equal(account.movedToDlq, 1);
    assert.equal(account.retried, 2 + (MAX_DELIVERIES - 1));

    assert.deepEqual(await storedFavorites(system, fan), [always.id], "only the dead-lettered deletion is left undone");
    assert.deepEqual(await listOf(request, fan), { items: [], missing: [always.id], degraded: false });

    await events.plan(always.id, {});
    await events.inject([letter.body]);
    expect.injected += 1;
    await untilNoListHolds(system, [fan], always.id);
  });

  /**
   * A favourite PUT whose enlist the product's fans object holds (`plan`)
   * while the product is deleted: the PUT's answer, the fan, and the calls
   * the fans object saw.
   */
  async function favouriteRacingDeletion(name, plan) {
    const events = context.events();
    const product = await createProduct(request, name);
    const fan = await newUser(request);
    await events.plan(product.id, { enlist: plan });
    const pending = request("PUT", `/users/${fan}/favorites/${product.id}`);
    await eventually(async () => (await events.fansCalls(product.id)).some((call) => call.kind === "enlist"), {
      what: "the enlist reaching the product's fans object",
    });
    await deleteProduct(request, product.id);
    expect.published += 2;
    const put = await pending;
    const calls = async () => (await events.fansCalls(product.id)).map((call) => [call.kind, call.outcome]);
    return { product, fan, put, calls };
  }

  it("a favourite enlisted before the deletion but written after it is removed by the deletion (the PUT is 204)", async () => {
    const { product, fan, put, calls } = await favouriteRacingDeletion("Enlisted first", "answer-after-deletion");
    assert.equal(put.status, 204, put.text);
    await untilNoListHolds(context.system, [fan], product.id);
    assert.deepEqual(await calls(), [
      ["enlist", "received"],
      ["product_deleted", `200 {"fans":["${fan}"]}`],
      ["enlist", `answered after the deletion: "enlisted"`],
    ]);
    assert.deepEqual(await listOf(request, fan), { items: [], missing: [], degraded: false });
  });

  it("a favourite whose enlist comes after the deletion is refused 404 and never listed", async () => {
    const { product, fan, put, calls } = await favouriteRacingDeletion("Deleted first", "after-deletion");
    assertProblem(put, 404);
    assert.equal(put.json.detail, `product ${product.id} does not exist`);
    assert.deepEqual(await calls(), [
      ["enlist", "received"],
      ["product_deleted", '200 {"fans":[]}'],
      ["enlist", 'forwarded after the deletion: "gone"'],
    ]);
    assert.equal(await storedFavorites(context.system, fan), null);
    assert.deepEqual(await listOf(request, fan), { items: [], missing: [], degraded: false });
  });

  context.settles();
});

test("every event published in this file is what events.schema.json describes", () => {
  assert.deepEqual([...new Set(publishedTexts.map((p) => p.label))], ["shipped", "staged"], "both systems' events collected");
  for (const { text } of publishedTexts) {
    assert.deepEqual(validate(JSON.parse(text), EVENT_SCHEMA), [], text);
  }
});

test("events.schema.json refuses what is not a product event", () => {
  const good = EVENT_SCHEMA.examples[0];
  for (const example of EVENT_SCHEMA.examples) assert.deepEqual(validate(example, EVENT_SCHEMA), []);
  const bad = [
    {},
    { ...good, type: "product.exploded" },
    { ...good, surprise: true },
    { ...good, version: 0 },
    { ...good, version: "2" },
    { ...good, etag: '"0bf8d2a9e861b231"' },
    { ...EVENT_SCHEMA.examples[1], etag: null },
    { ...good, id: "not-a-uuid" },
    { ...good, product_id: "../etc" },
    { ...good, time: "yesterday" },
    { ...good, traceparent: "00-abc" },
    Object.fromEntries(Object.entries(good).filter(([key]) => key !== "request_id")),
  ];
  for (const event of bad) assert.notDeepEqual(validate(event, EVENT_SCHEMA), [], JSON.stringify(event));
});

test("summary: the events published, consumed, redelivered and dead-lettered across this file are what the tests expect", () => {
  assert.deepEqual(
    systemsSettled.map((s) => s.label),
    ["shipped", "staged"],
    "both systems counted",
  );
  const sum = (pick) => systemsSettled.reduce((total, s) => total + pick(s), 0);
  const expected = {
    published: sum((s) => s.expect.published),
    consumed: sum((s) => s.expect.published - s.expect.held + s.expect.injected - s.expect.deadAfterRetries),
    redelivered: sum((s) => s.expect.retried + s.expect.duplicates),
    deadLettered: sum((s) => s.expect.deadAtOnce + s.expect.deadAfterRetries),
  };
  const observed = {
    published: sum((s) => s.observed.published),
    consumed: sum((s) => s.observed.consumed),
    redelivered: sum((s) => s.observed.retried + s.observed.duplicatesApplied),
    deadLettered: sum((s) => s.observed.deadLettered),
  };
  console.log(`product events across tests/events.test.mjs: ${JSON.stringify(observed)}`);
  for (const s of systemsSettled) console.log(`  ${s.label}: ${JSON.stringify(s.observed)}`);
  assert.deepEqual(observed, expected);
  assert.ok(observed.redelivered > 0 && observed.deadLettered > 0, "the file exercised redelivery and dead letters");
});
