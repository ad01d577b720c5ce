// What every collection behind the gateway (users, products) does alike,
// as tests: listing and paging, reading by id with ETags, the 404s and 400s
// of ids, If-Match, the 405s, the 401s of writes without the key, the bodies
// every write refuses the same way (415, 413, 400, unknown fields 422) and
// the tables of invalid fields (422). Each test file calls
// describeCollectionContract once with what differs, and keeps the tests of
// its own resource.
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { assertProblem } from "./problem.mjs";

/** The gateway's body limit. */
export const LIMIT = 64 * 1024;

const JSON_TYPE = { "content-type": "application/json" };

/** A JSON body as bytes, so that fetch adds no Content-Type of its own. */
const bytes = (text) => new TextEncoder().encode(text);

/** The body's JSON with its first key sent twice, the first time with another value. */
function withDuplicateKey(body) {
  const [key] = Object.keys(body);
  return `{${JSON.stringify(key)}:"duplicate",${JSON.stringify(body).slice(1)}`;
}

/** "a", "a and b", "a, b and c". */
const listed = (names) => (names.length > 1 ? `${names.slice(0, -1).join(", ")} and ${names.at(-1)}` : names.join(""));

/**
 * Defines the shared tests of the collection at `path`:
 * - request: the suite's client (see suiteSystem);
 * - one, many: what test names call an item and the items ("user", "users");
 * - seededIds: ids the seed data holds (the first one is also read, and
 *   POSTed to for the 405);
 * - assertItem(item): asserts an item's shape;
 * - create(): makes an item of the test's own, answering { item, etag };
 * - draft(): a valid body for POST and PUT; padField: a string field of it
 *   that pads a body to any size (and is invalid at 64 KiB);
 * - patch(), otherPatch(): two valid PATCH bodies that change different things;
 * - fieldOf(field), namedFields(problem): what a 422 names, as assertProblem's
 *   `fieldOf` and as the list compared exactly with the expected fields;
 * - invalidDrafts: [what, body or a function making it, fields named] that
 *   POST and PUT refuse with 422; invalidPatches: [body, fields named] for PATCH;
 * - afterDelete (optional): { says, check(id) }, what else holds once an item
 *   is deleted.
 */
export function describeCollectionContract({
  request,
  path,
  one,
  many,
  seededIds,
  assertItem,
  create,
  draft,
  padField,
  patch,
  otherPatch,
  fieldOf = (field) => field,
  namedFields = (problem) => problem.errors.map((error) => fieldOf(error.field)),
  invalidDrafts,
  invalidPatches,
  afterDelete,
}) {
  const itemPath = (id) => `${path}/${id}`;
  const get = (id) => request("GET", itemPath(id));
  const sortedNames = (problem) => [...namedFields(problem)].sort();

  /** A valid body of exactly `size` bytes, padded by `padField`. */
  function bodyOfSize(size) {
    const body = { ...draft(), [padField]: "" };
    const empty = JSON.stringify(body);
    return JSON.stringify({ ...body, [padField]: "x".repeat(size - empty.length) });
  }

  // -------------------------------------------------------------- listing

  /** Makes `count` items of the test's own, so that a page's size is certain. */
  async function createSome(count) {
    for (let i = 0; i < count; i++) await create();
  }

  test(`GET ${path} lists ${many} 20 at a time by default, with a next_cursor`, async () => {
    await createSome(21);
    const res = await request("GET", path);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.items.length, 20);
    assert.equal(typeof res.json.next_cursor, "string");
    res.json.items.forEach(assertItem);
  });

  test(`GET ${path}?limit=N returns N ${many} when there are more, for N in 1..100`, async () => {
    await createSome(3);
    for (const limit of [1, 2, 3]) {
      const res = await request("GET", `${path}?limit=${limit}`);
      assert.equal(res.status, 200, res.text);
      assert.equal(res.json.items.length, limit, `limit=${limit}`);
      assert.equal(typeof res.json.next_cursor, "string", `limit=${limit}`);
    }
    const all = await request("GET", `${path}?limit=100`);
    assert.equal(all.status, 200, all.text);
    assert.ok(all.json.items.length >= 3 && all.json.items.length <= 100, "limit=100");
  });

  for (const limit of ["0", "101", "x"]) {
    test(`GET ${path}?limit=${limit} is 400`, async () => {
      assertProblem(await request("GET", `${path}?limit=${limit}`), 400);
    });
  }

  test(`GET ${path}?limit=1 pages through every ${one} once via next_cursor`, async () => {
    const created = [];
    for (let i = 0; i < 3; i++) created.push((await create()).item.id);
    const seen = [];
    let cursor = null;
    for (let page = 0; page < 10_000; page++) {
      const query = cursor === null ? "" : `&cursor=${encodeURIComponent(cursor)}`;
      const res = await request("GET", `${path}?limit=1${query}`);
      assert.equal(res.status, 200, res.text);
      assert.ok(res.json.items.length <= 1);
      seen.push(...res.json.items.map((item) => item.id));
      cursor = res.json.next_cursor;
      if (cursor === null) break;
      assert.equal(typeof cursor, "string");
    }
    assert.equal(cursor, null, "paging ended");
    assert.equal(new Set(seen).size, seen.length, `no duplicates in ${seen}`);
    for (const id of [...seededIds, ...created]) assert.ok(seen.includes(id), `${id} listed`);
  });

  for (const cursor of ["garbage", "not-a-cursor-%21%21", "%20"]) {
    test(`GET ${path} with the garbage cursor ${cursor} is 400`, async () => {
      assertProblem(await request("GET", `${path}?cursor=${cursor}`), 400);
    });
  }

  // -------------------------------------------------------------- reading

  test(`GET ${path}/:id with If-None-Match of its ETag is 304 with an empty body and the ETag`, async () => {
    const etag = (await get(seededIds[0])).headers.get("etag");
    const res = await request("GET", itemPath(seededIds[0]), { headers: { "if-none-match": etag } });
    assert.equal(res.status, 304);
    assert.equal(res.text, "");
    assert.equal(res.headers.get("etag"), etag);
  });

  test(`GET ${path}/:id of an unknown id is 404`, async () => {
    assertProblem(await get(`unknown-${randomUUID()}`), 404);
  });

  for (const [what, id] of [["a.b", "a.b"], ["65 characters", "x".repeat(65)], ["%20", "%20"]]) {
    test(`GET ${path}/:id with the invalid id ${what} is 400`, async () => {
      assertProblem(await get(id), 400);
    });
  }

  // -------------------------------------------------------------- absent and deleted

  test(`PUT, PATCH and DELETE of an absent ${one} are 404`, async () => {
    const absent = itemPath(`absent-${randomUUID()}`);
    assertProblem(await request("PUT", absent, { body: draft() }), 404);
    assertProblem(await request("PATCH", absent, { body: patch() }), 404);
    assertProblem(await request("DELETE", absent), 404);
  });

  test(`DELETE ${path}/:id is 204, then GET is 404${afterDelete ? ` and ${afterDelete.says}` : ""}`, async () => {
    const { item } = await create();
    const res = await request("DELETE", itemPath(item.id));
    assert.equal(res.status, 204);
    assert.equal(res.text, "");
    assertProblem(await get(item.id), 404);
    assertProblem(await request("DELETE", itemPath(item.id)), 404);
    await afterDelete?.check(item.id);
  });

  // -------------------------------------------------------------- If-Match

  const conditionalWrites = [
    { method: "PUT", body: draft, ok: 200 },
    { method: "PATCH", body: patch, ok: 200 },
    { method: "DELETE", body: () => undefined, ok: 204 },
  ];

  for (const { method, body, ok } of conditionalWrites) {
    test(`${method} ${path}/:id with a stale If-Match is 412 and changes nothing`, async () => {
      const { item, etag: stale } = await create();
      const fresh = await request("PATCH", itemPath(item.id), { body: otherPatch() });
      assert.equal(fresh.status, 200, fresh.text);
      for (const tag of [stale, '"0000000000000000"', "W/" + fresh.headers.get("etag")]) {
        const res = await request(method, itemPath(item.id), { body: body(), headers: { "if-match": tag } });
        assertProblem(res, 412);
      }
      const now = await get(item.id);
      assert.equal(now.status, 200);
      assert.deepEqual(now.json, fresh.json);
      assert.equal(now.headers.get("etag"), fresh.headers.get("etag"));
    });

    test(`${method} ${path}/:id with the current If-Match succeeds`, async () => {
      const { item, etag } = await create();
      const res = await request(method, itemPath(item.id), { body: body(), headers: { "if-match": etag } });
      assert.equal(res.status, ok, res.text);
    });
  }

  // -------------------------------------------------------------- methods

  const wrongMethods = [
    ["DELETE", path, "GET, HEAD, POST"],
    ["PUT", path, "GET, HEAD, POST"],
    ["PATCH", path, "GET, HEAD, POST"],
    ["POST", itemPath(seededIds[0]), "GET, HEAD, PUT, PATCH, DELETE"],
  ];

  for (const [method, target, allow] of wrongMethods) {
    test(`${method} ${target} is 405 with Allow "${allow}"`, async () => {
      const res = await request(method, target, { body: {} });
      assertProblem(res, 405);
      assert.equal(res.headers.get("allow"), allow);
    });
  }

  // -------------------------------------------------------------- authorization

  test(`${one} writes without a valid API key are 401 and change nothing`, async () => {
    const { item } = await create();
    const writes = [
      ["POST", path, draft()],
      ["PUT", itemPath(item.id), draft()],
      ["PATCH", itemPath(item.id), patch()],
      ["DELETE", itemPath(item.id), undefined],
    ];
    for (const [method, target, body] of writes) {
      assertProblem(await request(method, target, { body, auth: false }), 401);
      const wrong = { authorization: "Bearer not-the-key" };
      assertProblem(await request(method, target, { body, headers: wrong }), 401);
    }
    assert.deepEqual((await get(item.id)).json, item);
  });

  // -------------------------------------------------------------- bodies

  /** Body rows every write with a body refuses the same way. */
  const badBodies = [
    {
      name: "a text/plain body is 415",
      send: () => ({ raw: JSON.stringify(draft()), headers: { "content-type": "text/plain" } }),
      status: 415,
    },
    {
      name: "a body without Content-Type is 415",
      send: () => ({ raw: bytes(JSON.stringify(draft())) }),
      status: 415,
    },
    {
      name: "a body over 64 KiB is 413",
      send: () => ({ raw: bodyOfSize(LIMIT + 1), headers: JSON_TYPE }),
      status: 413,
    },
    { name: "invalid JSON is 400", send: () => ({ raw: '{"name": ', headers: JSON_TYPE }), status: 400 },
    {
      name: "duplicate keys are 400",
      send: () => ({ raw: withDuplicateKey(draft()), headers: JSON_TYPE }),
      status: 400,
    },
    ...["id", "created_at", "updated_at", "admin"].map((field) => ({
      name: `an unknown field ${field} is 422 naming it`,
      send: () => ({ body: { ...draft(), [field]: "x" } }),
      status: 422,
      fields: [field],
    })),
  ];

  for (const method of ["POST", "PUT", "PATCH"]) {
    for (const row of badBodies) {
      test(`${method} ${path}: ${row.name} and changes nothing`, async () => {
        const { item } = await create();
        const target = method === "POST" ? path : itemPath(item.id);
        assertProblem(await request(method, target, row.send()), row.status, { fields: row.fields, fieldOf });
        assert.deepEqual((await get(item.id)).json, item);
      });
    }
  }

  test(`a ${one} body of exactly 64 KiB is not refused as too large`, async () => {
    const res = await request("POST", path, { raw: bodyOfSize(LIMIT), headers: JSON_TYPE });
    assertProblem(res, 422, { fields: [padField], fieldOf });
  });

  // -------------------------------------------------------------- invalid fields

  for (const method of ["POST", "PUT"]) {
    for (const [what, body, fields] of invalidDrafts) {
      test(`${method} ${path} with ${what} is 422 naming ${listed(fields)}`, async () => {
        const { item } = await create();
        const target = method === "POST" ? path : itemPath(item.id);
        const sent = typeof body === "function" ? body() : body;
        const problem = assertProblem(await request(method, target, { body: sent }), 422, { fields, fieldOf });
        assert.deepEqual(sortedNames(problem), [...fields].sort());
        assert.deepEqual((await get(item.id)).json, item);
      });
    }
  }

  test(`PATCH ${path}/:id with invalid fields is 422 naming each and changes nothing`, async () => {
    const { item } = await create();
    for (const [body, fields] of invalidPatches) {
      const problem = assertProblem(await request("PATCH", itemPath(item.id), { body }), 422, { fields, fieldOf });
      assert.deepEqual(sortedNames(problem), [...fields].sort());
    }
    assert.deepEqual((await get(item.id)).json, item);
  });
}
