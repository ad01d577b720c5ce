// The users service through the gateway: every route and error row of the spec.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { startSystem, client, assertNoPanic } from "./support/system.mjs";

let system;
let request;

before(async () => {
  system = await startSystem();
  request = client(system);
});

after(async () => {
  if (!system) return;
  assertNoPanic(system, assert);
  await system.stop();
});

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const RFC3339_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;
const LIMIT = 64 * 1024;

/** Asserts an RFC 9457 problem answer; on 422, that `fields` are named. */
function assertProblem(res, status, { fields } = {}) {
  assert.equal(res.status, status, res.text);
  assert.match(res.headers.get("content-type") ?? "", /^application\/problem\+json\b/);
  const body = res.json;
  assert.ok(body && typeof body === "object", `problem body is JSON: ${res.text}`);
  for (const member of ["type", "title", "detail", "instance", "request_id"]) {
    assert.equal(typeof body[member], "string", `problem member ${member}: ${res.text}`);
  }
  assert.equal(body.status, status);
  assert.equal(res.headers.get("x-request-id"), body.request_id);
  if (status === 422) {
    assert.ok(Array.isArray(body.errors) && body.errors.length > 0, res.text);
    for (const error of body.errors) {
      assert.equal(typeof error.field, "string");
      assert.equal(typeof error.message, "string");
    }
    const named = body.errors.map((e) => e.field);
    for (const field of fields ?? []) assert.ok(named.includes(field), `${field} in ${named}`);
  }
  return body;
}

function assertUser(user) {
  assert.deepEqual(Object.keys(user).sort(), ["created_at", "email", "id", "name", "updated_at"]);
  assert.match(user.created_at, RFC3339_UTC);
  assert.match(user.updated_at, RFC3339_UTC);
}

const uniqueEmail = (tag = "u") => `${tag}-${randomUUID()}@example.com`;

/** Creates a user of its own for a test. */
async function createUser(fields = {}) {
  const res = await request("POST", "/users", {
    body: { name: "Test User", email: uniqueEmail(), ...fields },
  });
  assert.equal(res.status, 201, res.text);
  return { user: res.json, etag: res.headers.get("etag") };
}

async function getUser(id) {
  return request("GET", `/users/${id}`);
}

/** A JSON body as bytes, so that fetch adds no Content-Type of its own. */
const bytes = (text) => new TextEncoder().encode(text);

/** A user body of exactly `size` bytes (a long name pads it). */
function bodyOfSize(size) {
  const empty = JSON.stringify({ name: "", email: uniqueEmail() });
  return JSON.stringify({ name: "x".repeat(size - empty.length), email: JSON.parse(empty).email });
}

// ---------------------------------------------------------------- listing

test("GET /users lists users with next_cursor, default limit 20", async () => {
  const res = await request("GET", "/users");
  assert.equal(res.status, 200, res.text);
  assert.ok(Array.isArray(res.json.items));
  assert.ok(res.json.items.length >= 1 && res.json.items.length <= 20);
  assert.ok(res.json.next_cursor === null || typeof res.json.next_cursor === "string");
  res.json.items.forEach(assertUser);
});

test("GET /users?limit=N returns at most N users for N in 1..100", async () => {
  for (const limit of [1, 2, 100]) {
    const res = await request("GET", `/users?limit=${limit}`);
    assert.equal(res.status, 200, res.text);
    assert.ok(res.json.items.length <= limit, `limit=${limit}`);
  }
});

for (const limit of ["0", "101", "x"]) {
  test(`GET /users?limit=${limit} is 400`, async () => {
    assertProblem(await request("GET", `/users?limit=${limit}`), 400);
  });
}

test("GET /users?limit=1 pages through every user once via next_cursor", async () => {
  const created = [];
  for (let i = 0; i < 3; i++) created.push((await createUser()).user.id);
  const seen = [];
  let cursor = null;
  for (let page = 0; page < 10_000; page++) {
    const query = cursor === null ? "" : `&cursor=${encodeURIComponent(cursor)}`;
    const res = await request("GET", `/users?limit=1${query}`);
    assert.equal(res.status, 200, res.text);
    assert.ok(res.json.items.length <= 1);
    seen.push(...res.json.items.map((u) => u.id));
    cursor = res.json.next_cursor;
    if (cursor === null) break;
    assert.equal(typeof cursor, "string");
  }
  assert.equal(cursor, null, "paging ended");
  assert.equal(new Set(seen).size, seen.length, `no duplicates in ${seen}`);
  for (const id of ["1", "2", ...created]) assert.ok(seen.includes(id), `${id} listed`);
});

for (const cursor of ["garbage", "not-a-cursor-%21%21", "%20"]) {
  test(`GET /users with the garbage cursor ${cursor} is 400`, async () => {
    assertProblem(await request("GET", `/users?cursor=${cursor}`), 400);
  });
}

// ---------------------------------------------------------------- reading

test("GET /users/1 is the seeded Alice with an ETag", async () => {
  const res = await getUser("1");
  assert.equal(res.status, 200, res.text);
  assert.match(res.headers.get("content-type"), /^application\/json\b/);
  assertUser(res.json);
  assert.equal(res.json.id, "1");
  assert.equal(res.json.name, "Alice");
  assert.equal(res.json.email, "alice@example.com");
  assert.ok(res.headers.get("etag"));
});

test("GET /users/:id with If-None-Match of its ETag is 304 with an empty body and the ETag", async () => {
  const etag = (await getUser("2")).headers.get("etag");
  const res = await request("GET", "/users/2", { headers: { "if-none-match": etag } });
  assert.equal(res.status, 304);
  assert.equal(res.text, "");
  assert.equal(res.headers.get("etag"), etag);
});

test("GET /users/:id of an unknown id is 404", async () => {
  assertProblem(await getUser(`nobody-${randomUUID()}`), 404);
});

for (const [what, id] of [["a.b", "a.b"], ["65 characters", "x".repeat(65)], ["%20", "%20"]]) {
  test(`GET /users/:id with the invalid id ${what} is 400`, async () => {
    assertProblem(await getUser(id), 400);
  });
}

// ---------------------------------------------------------------- creating

test("POST /users is 201 with a generated UUID, Location, ETag, trimmed name and lower-cased email", async () => {
  const email = uniqueEmail("MiXeD").replace("example.com", "Example.COM");
  const res = await request("POST", "/users", { body: { name: "  Ada Lovelace  ", email } });
  assert.equal(res.status, 201, res.text);
  const user = res.json;
  assertUser(user);
  assert.match(user.id, UUID);
  assert.equal(user.name, "Ada Lovelace");
  assert.equal(user.email, email.toLowerCase());
  assert.equal(user.created_at, user.updated_at);
  assert.equal(res.headers.get("location"), `/users/${user.id}`);
  const etag = res.headers.get("etag");
  assert.ok(etag);
  const stored = await getUser(user.id);
  assert.equal(stored.status, 200);
  assert.deepEqual(stored.json, user);
  assert.equal(stored.headers.get("etag"), etag);
});

test("POST /users with an email taken in another case is 409", async () => {
  const { user } = await createUser();
  const res = await request("POST", "/users", {
    body: { name: "Copycat", email: user.email.toUpperCase() },
  });
  assertProblem(res, 409);
  assertProblem(
    await request("POST", "/users", { body: { name: "Copycat", email: "ALICE@example.com" } }),
    409,
  );
});

// ---------------------------------------------------------------- changing

test("PUT /users/:id replaces the user and is 200", async () => {
  const { user, etag } = await createUser();
  const email = uniqueEmail("new");
  const res = await request("PUT", `/users/${user.id}`, { body: { name: " Grace ", email } });
  assert.equal(res.status, 200, res.text);
  assertUser(res.json);
  assert.deepEqual(
    { ...res.json, updated_at: undefined },
    { ...user, name: "Grace", email, updated_at: undefined },
  );
  assert.ok(res.json.updated_at >= user.updated_at);
  assert.notEqual(res.headers.get("etag"), etag);
  assert.deepEqual((await getUser(user.id)).json, res.json);
});

test("PATCH /users/:id changes only the fields sent and is 200", async () => {
  const { user } = await createUser();
  const res = await request("PATCH", `/users/${user.id}`, { body: { name: "Renamed" } });
  assert.equal(res.status, 200, res.text);
  assertUser(res.json);
  assert.equal(res.json.name, "Renamed");
  assert.equal(res.json.email, user.email);
  assert.equal(res.json.created_at, user.created_at);
  assert.deepEqual((await getUser(user.id)).json, res.json);
});

test("PUT, PATCH and DELETE of an absent user are 404", async () => {
  const path = `/users/absent-${randomUUID()}`;
  assertProblem(await request("PUT", path, { body: { name: "A", email: uniqueEmail() } }), 404);
  assertProblem(await request("PATCH", path, { body: { name: "A" } }), 404);
  assertProblem(await request("DELETE", path), 404);
});

test("DELETE /users/:id is 204, then GET is 404", async () => {
  const { user } = await createUser();
  const res = await request("DELETE", `/users/${user.id}`);
  assert.equal(res.status, 204);
  assert.equal(res.text, "");
  assertProblem(await getUser(user.id), 404);
  assertProblem(await request("DELETE", `/users/${user.id}`), 404);
});

// ---------------------------------------------------------------- email index

for (const method of ["PUT", "PATCH"]) {
  test(`${method} /users/:id changing the email frees the old one and takes the new one`, async () => {
    const { user } = await createUser();
    const newEmail = uniqueEmail("moved");
    const res = await request(method, `/users/${user.id}`, {
      body: { name: user.name, email: newEmail.toUpperCase() },
    });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.email, newEmail);
    const taker = await request("POST", "/users", { body: { name: "Taker", email: user.email } });
    assert.equal(taker.status, 201, `old email is free: ${taker.text}`);
    assertProblem(await request("POST", "/users", { body: { name: "Late", email: newEmail } }), 409);
  });
}

test("PUT and PATCH to an email another user has are 409 and change nothing", async () => {
  const { user } = await createUser();
  const other = (await createUser()).user;
  const before = await getUser(user.id);
  assertProblem(
    await request("PUT", `/users/${user.id}`, { body: { name: "X", email: other.email } }),
    409,
  );
  assertProblem(
    await request("PATCH", `/users/${user.id}`, { body: { email: other.email.toUpperCase() } }),
    409,
  );
  assert.deepEqual((await getUser(user.id)).json, before.json);
});

test("PUT and PATCH keeping the user's own email in another case are 200", async () => {
  const { user } = await createUser();
  const upper = user.email.toUpperCase();
  const put = await request("PUT", `/users/${user.id}`, { body: { name: "Same", email: upper } });
  assert.equal(put.status, 200, put.text);
  assert.equal(put.json.email, user.email);
  const patch = await request("PATCH", `/users/${user.id}`, { body: { email: upper } });
  assert.equal(patch.status, 200, patch.text);
  assert.equal(patch.json.email, user.email);
});

test("a user can move back to an email it gave up", async () => {
  const { user } = await createUser();
  const away = await request("PATCH", `/users/${user.id}`, { body: { email: uniqueEmail("away") } });
  assert.equal(away.status, 200, away.text);
  const back = await request("PATCH", `/users/${user.id}`, { body: { email: user.email } });
  assert.equal(back.status, 200, back.text);
  assertProblem(await request("POST", "/users", { body: { name: "X", email: user.email } }), 409);
  const freed = await request("POST", "/users", { body: { name: "X", email: away.json.email } });
  assert.equal(freed.status, 201, freed.text);
});

test("concurrent POST /users with one email in different cases create exactly one user", async () => {
  const email = uniqueEmail("race");
  const attempts = await Promise.all(
    [email, email.toUpperCase(), email, email.toUpperCase()].map((address, i) =>
      request("POST", "/users", { body: { name: `Racer ${i}`, email: address } }),
    ),
  );
  const statuses = attempts.map((res) => res.status).sort();
  assert.deepEqual(statuses, [201, 409, 409, 409]);
  attempts.filter((res) => res.status === 409).forEach((res) => assertProblem(res, 409));
});

test("DELETE /users/:id frees its email", async () => {
  const { user } = await createUser();
  assert.equal((await request("DELETE", `/users/${user.id}`)).status, 204);
  const res = await request("POST", "/users", { body: { name: "Heir", email: user.email } });
  assert.equal(res.status, 201, res.text);
});

// ---------------------------------------------------------------- If-Match

const conditionalWrites = [
  { method: "PUT", body: () => ({ name: "Conditional", email: uniqueEmail() }), ok: 200 },
  { method: "PATCH", body: () => ({ name: "Conditional" }), ok: 200 },
  { method: "DELETE", body: () => undefined, ok: 204 },
];

for (const { method, body, ok } of conditionalWrites) {
  test(`${method} /users/:id with a stale If-Match is 412 and changes nothing`, async () => {
    const { user, etag: stale } = await createUser();
    const fresh = await request("PATCH", `/users/${user.id}`, { body: { name: "Changed" } });
    assert.equal(fresh.status, 200, fresh.text);
    for (const tag of [stale, '"0000000000000000"', "W/" + fresh.headers.get("etag")]) {
      const res = await request(method, `/users/${user.id}`, {
        body: body(),
        headers: { "if-match": tag },
      });
      assertProblem(res, 412);
    }
    const now = await getUser(user.id);
    assert.equal(now.status, 200);
    assert.deepEqual(now.json, fresh.json);
    assert.equal(now.headers.get("etag"), fresh.headers.get("etag"));
  });

  test(`${method} /users/:id with the current If-Match succeeds`, async () => {
    const { user, etag } = await createUser();
    const res = await request(method, `/users/${user.id}`, {
      body: body(),
      headers: { "if-match": etag },
    });
    assert.equal(res.status, ok, res.text);
  });
}

// ---------------------------------------------------------------- methods

const wrongMethods = [
  ["DELETE", "/users", "GET, POST"],
  ["PUT", "/users", "GET, POST"],
  ["PATCH", "/users", "GET, POST"],
  ["POST", "/users/1", "GET, PUT, PATCH, DELETE"],
];

for (const [method, path, allow] of wrongMethods) {
  test(`${method} ${path} is 405 with Allow "${allow}"`, async () => {
    const res = await request(method, path, { body: {} });
    assertProblem(res, 405);
    assert.equal(res.headers.get("allow"), allow);
  });
}

// ---------------------------------------------------------------- authorization

test("writes without a valid API key are 401 and change nothing", async () => {
  const { user } = await createUser();
  const writes = [
    ["POST", "/users", { name: "Nope", email: uniqueEmail() }],
    ["PUT", `/users/${user.id}`, { name: "Nope", email: uniqueEmail() }],
    ["PATCH", `/users/${user.id}`, { name: "Nope" }],
    ["DELETE", `/users/${user.id}`, undefined],
  ];
  for (const [method, path, body] of writes) {
    assertProblem(await request(method, path, { body, auth: false }), 401);
    const wrong = { authorization: "Bearer not-the-key" };
    assertProblem(await request(method, path, { body, headers: wrong }), 401);
  }
  assert.deepEqual((await getUser(user.id)).json, user);
});

// ---------------------------------------------------------------- bodies

/** Body rows every write with a body refuses the same way. */
const badBodies = [
  {
    name: "a text/plain body is 415",
    send: { raw: '{"name":"A","email":"a@example.com"}', headers: { "content-type": "text/plain" } },
    status: 415,
  },
  {
    name: "a body without Content-Type is 415",
    send: { raw: bytes('{"name":"A","email":"a@example.com"}') },
    status: 415,
  },
  {
    name: "a body over 64 KiB is 413",
    send: () => ({ raw: bodyOfSize(LIMIT + 1), headers: { "content-type": "application/json" } }),
    status: 413,
  },
  {
    name: "invalid JSON is 400",
    send: { raw: '{"name": "A", ', headers: { "content-type": "application/json" } },
    status: 400,
  },
  {
    name: "duplicate keys are 400",
    send: () => ({
      raw: `{"name":"A","name":"B","email":"${uniqueEmail()}"}`,
      headers: { "content-type": "application/json" },
    }),
    status: 400,
  },
  ...["id", "created_at", "updated_at", "admin"].map((field) => ({
    name: `an unknown field ${field} is 422 naming it`,
    send: () => ({ body: { name: "A", email: uniqueEmail(), [field]: "x" } }),
    status: 422,
    fields: [field],
  })),
];

for (const method of ["POST", "PUT", "PATCH"]) {
  for (const row of badBodies) {
    test(`${method} /users: ${row.name} and changes nothing`, async () => {
      const { user } = await createUser();
      const path = method === "POST" ? "/users" : `/users/${user.id}`;
      const send = typeof row.send === "function" ? row.send() : row.send;
      assertProblem(await request(method, path, send), row.status, { fields: row.fields });
      assert.deepEqual((await getUser(user.id)).json, user);
    });
  }
}

test("a body of exactly 64 KiB is not refused as too large", async () => {
  const res = await request("POST", "/users", {
    raw: bodyOfSize(LIMIT),
    headers: { "content-type": "application/json" },
  });
  assertProblem(res, 422, { fields: ["name"] });
});

test("Content-Type application/json with a charset is accepted", async () => {
  const res = await request("POST", "/users", {
    raw: JSON.stringify({ name: "Charset", email: uniqueEmail() }),
    headers: { "content-type": "application/json; charset=utf-8" },
  });
  assert.equal(res.status, 201, res.text);
});

/** Invalid fields: [what, body, the fields the 422 must name]. */
const invalidDrafts = [
  ["missing email and empty name", { name: "" }, ["name", "email"]],
  ["an empty body object", {}, ["name", "email"]],
  ["a blank name", { name: "   ", email: "ok@example.com" }, ["name"]],
  ["a name of 101 characters", { name: "n".repeat(101), email: "ok@example.com" }, ["name"]],
  ["a name with a control character", { name: "A\u0007B", email: "ok@example.com" }, ["name"]],
  ["a name with a line break", { name: "A\nB", email: "ok@example.com" }, ["name"]],
  ["a name that is not a string", { name: 42, email: "ok@example.com" }, ["name"]],
  ["a null name", { name: null, email: "ok@example.com" }, ["name"]],
  ["an invalid email", { name: "A", email: "not-an-email" }, ["email"]],
  ["an email without a domain", { name: "A", email: "a@" }, ["email"]],
  ["an email that is not a string", { name: "A", email: ["a@example.com"] }, ["email"]],
];

for (const method of ["POST", "PUT"]) {
  for (const [what, body, fields] of invalidDrafts) {
    test(`${method} /users with ${what} is 422 naming ${fields.join(" and ")}`, async () => {
      const { user } = await createUser();
      const path = method === "POST" ? "/users" : `/users/${user.id}`;
      const problem = assertProblem(await request(method, path, { body }), 422, { fields });
      assert.deepEqual(problem.errors.map((e) => e.field).sort(), [...fields].sort());
      assert.deepEqual((await getUser(user.id)).json, user);
    });
  }
}

test("PATCH /users/:id with invalid fields is 422 naming each and changes nothing", async () => {
  const { user } = await createUser();
  const rows = [
    [{ name: "" }, ["name"]],
    [{ name: "n".repeat(101) }, ["name"]],
    [{ email: "nope" }, ["email"]],
    [{ name: "\u0000", email: "nope" }, ["name", "email"]],
    [{ name: null }, ["name"]],
  ];
  for (const [body, fields] of rows) {
    const problem = assertProblem(
      await request("PATCH", `/users/${user.id}`, { body }),
      422,
      { fields },
    );
    assert.deepEqual(problem.errors.map((e) => e.field).sort(), [...fields].sort());
  }
  assert.deepEqual((await getUser(user.id)).json, user);
});

test("a JSON body that is not an object is 422", async () => {
  for (const raw of ["[]", '"text"', "42", "null"]) {
    assertProblem(
      await request("POST", "/users", { raw, headers: { "content-type": "application/json" } }),
      422,
    );
  }
});

const validNames = [
  ["100 characters", "n".repeat(100), "n".repeat(100)],
  ["100 non-ASCII characters", "é".repeat(100), "é".repeat(100)],
  ["100 characters inside spaces", `  ${"n".repeat(100)}  `, "n".repeat(100)],
];

for (const [what, name, stored] of validNames) {
  test(`POST /users accepts a name of ${what}`, async () => {
    const { user } = await createUser({ name });
    assert.equal(user.name, stored);
  });
}

// ---------------------------------------------------------------- health and routing

test("GET /health through the gateway is 200 with each service ok", async () => {
  const res = await request("GET", "/health");
  assert.equal(res.status, 200, res.text);
  assert.equal(res.json.status, "ok");
  assert.equal(typeof res.json.services, "object");
  assert.equal(res.json.services.users?.status, "ok");
  assert.equal(res.json.services.products?.status, "ok");
});

test("an unknown path is 404", async () => {
  for (const path of ["/nowhere", "/users/1/2/3/4"]) {
    assertProblem(await request("GET", path), 404);
  }
});
