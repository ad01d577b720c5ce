// The users service through the gateway: every route and error row of the spec.
// What users shares with products is in support/resource-contract.mjs.
import { test } from "node:test";
import assert from "node:assert/strict";
import { suiteSystem } from "./support/system.mjs";
import { assertProblem } from "./support/problem.mjs";
import { describeCollectionContract } from "./support/resource-contract.mjs";
import { UUID, RFC3339_UTC, uniqueEmail, createUser as createUserOf } from "./support/helpers.mjs";

const { request } = suiteSystem();

function assertUser(user) {
  assert.deepEqual(Object.keys(user).sort(), ["created_at", "email", "id", "name", "updated_at"]);
  assert.match(user.created_at, RFC3339_UTC);
  assert.match(user.updated_at, RFC3339_UTC);
}

const draft = (fields = {}) => ({ name: "Test User", email: uniqueEmail(), ...fields });

/** Creates a user of its own for a test: { user, etag }. */
const createUser = (fields = {}) => createUserOf(request, fields);

async function getUser(id) {
  return request("GET", `/users/${id}`);
}

// ---------------------------------------------------------------- shared with products

describeCollectionContract({
  request,
  path: "/users",
  one: "user",
  many: "users",
  seededIds: ["1", "2"],
  assertItem: assertUser,
  create: async () => {
    const { user, etag } = await createUser();
    return { item: user, etag };
  },
  draft,
  padField: "name",
  patch: () => ({ name: "Conditional" }),
  otherPatch: () => ({ name: "Changed" }),
  /** Invalid fields: [what, body, the fields the 422 must name]. */
  invalidDrafts: [
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
  ],
  invalidPatches: [
    [{ name: "" }, ["name"]],
    [{ name: "n".repeat(101) }, ["name"]],
    [{ email: "nope" }, ["email"]],
    [{ name: "\u0000", email: "nope" }, ["name", "email"]],
    [{ name: null }, ["name"]],
  ],
});

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

// ---------------------------------------------------------------- bodies

test("Content-Type application/json with a charset is accepted", async () => {
  const res = await request("POST", "/users", {
    raw: JSON.stringify({ name: "Charset", email: uniqueEmail() }),
    headers: { "content-type": "application/json; charset=utf-8" },
  });
  assert.equal(res.status, 201, res.text);
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
