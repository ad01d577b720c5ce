// The products service through the gateway: every route and error row of the spec.
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
const MAX_AMOUNT = 2 ** 53 - 1;

const LAPTOP = {
  id: "101",
  name: "Laptop",
  description: "14-inch, 16 GB",
  price: { amount: 129900, currency: "EUR" },
  stock: 12,
  created_at: "2026-01-01T00:00:00.000Z",
  updated_at: "2026-01-01T00:00:00.000Z",
};

/** The top-level field an error names: "price.amount" names "price". */
const topField = (field) => field.split(".")[0];

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
    const named = body.errors.map((e) => topField(e.field));
    for (const field of fields ?? []) assert.ok(named.includes(field), `${field} in ${named}`);
  }
  return body;
}

function assertProduct(product) {
  const keys = ["created_at", "id", "name", "price", "stock", "updated_at"];
  if ("description" in product) {
    keys.push("description");
    assert.equal(typeof product.description, "string", "description is omitted, not null");
  }
  assert.deepEqual(Object.keys(product).sort(), keys.sort());
  assert.deepEqual(Object.keys(product.price).sort(), ["amount", "currency"]);
  assert.ok(Number.isSafeInteger(product.price.amount) && product.price.amount >= 0);
  assert.match(product.price.currency, /^[A-Z]{3}$/);
  assert.ok(Number.isSafeInteger(product.stock) && product.stock >= 0);
  assert.match(product.created_at, RFC3339_UTC);
  assert.match(product.updated_at, RFC3339_UTC);
}

const draft = (fields = {}) => ({
  name: `Widget ${randomUUID()}`,
  description: "A widget.",
  price: { amount: 1999, currency: "USD" },
  stock: 5,
  ...fields,
});

/** Creates a product of its own for a test. */
async function createProduct(fields = {}) {
  const res = await request("POST", "/products", { body: draft(fields) });
  assert.equal(res.status, 201, res.text);
  return { product: res.json, etag: res.headers.get("etag") };
}

const getProduct = (id) => request("GET", `/products/${id}`);

/** A JSON body as bytes, so that fetch adds no Content-Type of its own. */
const bytes = (text) => new TextEncoder().encode(text);

/** A product body of exactly `size` bytes (a long description pads it). */
function bodyOfSize(size) {
  const empty = JSON.stringify(draft({ description: "" }));
  const parsed = JSON.parse(empty);
  return JSON.stringify({ ...parsed, description: "d".repeat(size - empty.length) });
}

// ---------------------------------------------------------------- listing

test("GET /products lists products with next_cursor, default limit 20", async () => {
  const res = await request("GET", "/products");
  assert.equal(res.status, 200, res.text);
  assert.ok(Array.isArray(res.json.items));
  assert.ok(res.json.items.length >= 2 && res.json.items.length <= 20);
  assert.ok(res.json.next_cursor === null || typeof res.json.next_cursor === "string");
  res.json.items.forEach(assertProduct);
});

test("GET /products?limit=N returns at most N products for N in 1..100", async () => {
  for (const limit of [1, 2, 100]) {
    const res = await request("GET", `/products?limit=${limit}`);
    assert.equal(res.status, 200, res.text);
    assert.ok(res.json.items.length <= limit, `limit=${limit}`);
  }
});

for (const limit of ["0", "101", "x"]) {
  test(`GET /products?limit=${limit} is 400`, async () => {
    assertProblem(await request("GET", `/products?limit=${limit}`), 400);
  });
}

test("GET /products?limit=1 pages through every product once via next_cursor", async () => {
  const created = [];
  for (let i = 0; i < 3; i++) created.push((await createProduct()).product.id);
  const seen = [];
  let cursor = null;
  for (let page = 0; page < 10_000; page++) {
    const query = cursor === null ? "" : `&cursor=${encodeURIComponent(cursor)}`;
    const res = await request("GET", `/products?limit=1${query}`);
    assert.equal(res.status, 200, res.text);
    assert.ok(res.json.items.length <= 1);
    seen.push(...res.json.items.map((p) => p.id));
    cursor = res.json.next_cursor;
    if (cursor === null) break;
    assert.equal(typeof cursor, "string");
  }
  assert.equal(cursor, null, "paging ended");
  assert.equal(new Set(seen).size, seen.length, `no duplicates in ${seen}`);
  for (const id of ["101", "102", ...created]) assert.ok(seen.includes(id), `${id} listed`);
});

for (const cursor of ["garbage", "not-a-cursor-%21%21", "%20"]) {
  test(`GET /products with the garbage cursor ${cursor} is 400`, async () => {
    assertProblem(await request("GET", `/products?cursor=${cursor}`), 400);
  });
}

// ---------------------------------------------------------------- batch read

test("GET /products?ids=101,102,nope is 200 with items in request order and missing ids", async () => {
  const res = await request("GET", "/products?ids=101,102,nope");
  assert.equal(res.status, 200, res.text);
  assert.deepEqual(Object.keys(res.json).sort(), ["items", "missing"]);
  assert.deepEqual(res.json.items[0], LAPTOP);
  assert.deepEqual(res.json.items.map((p) => p.id), ["101", "102"]);
  assert.deepEqual(res.json.missing, ["nope"]);
});

test("GET /products?ids=102,101 answers Mouse then Laptop", async () => {
  const res = await request("GET", "/products?ids=102,101");
  assert.equal(res.status, 200, res.text);
  assert.deepEqual(res.json.items.map((p) => p.name), ["Mouse", "Laptop"]);
  assert.deepEqual(res.json.missing, []);
});

test("GET /products?ids= includes a product just created", async () => {
  const { product } = await createProduct();
  const res = await request("GET", `/products?ids=${product.id},101`);
  assert.equal(res.status, 200, res.text);
  assert.deepEqual(res.json.items, [product, LAPTOP]);
});

test("GET /products with 100 ids is 200", async () => {
  const ids = ["101", "102", ...Array.from({ length: 98 }, (_, i) => `none-${i}`)];
  const res = await request("GET", `/products?ids=${ids.join(",")}`);
  assert.equal(res.status, 200, res.text);
  assert.deepEqual(res.json.items.map((p) => p.id), ["101", "102"]);
  assert.deepEqual(res.json.missing, ids.slice(2));
});

const badBatches = [
  ["101 ids", Array.from({ length: 101 }, (_, i) => `id-${i}`).join(",")],
  ["an invalid id in the list", "101,a.b,102"],
  ["an empty id in the list", "101,,102"],
  ["empty ids", ""],
];

for (const [what, ids] of badBatches) {
  test(`GET /products with ${what} is 400`, async () => {
    assertProblem(await request("GET", `/products?ids=${ids}`), 400);
  });
}

// ---------------------------------------------------------------- reading

test("GET /products/101 is the seeded Laptop with an ETag", async () => {
  const res = await getProduct("101");
  assert.equal(res.status, 200, res.text);
  assert.match(res.headers.get("content-type"), /^application\/json\b/);
  assert.deepEqual(res.json, LAPTOP);
  assert.ok(res.headers.get("etag"));
});

test("GET /products/102 omits the absent description", async () => {
  const res = await getProduct("102");
  assert.equal(res.status, 200, res.text);
  assertProduct(res.json);
  assert.equal(res.json.name, "Mouse");
  assert.ok(!("description" in res.json), res.text);
});

test("GET /products/:id with If-None-Match of its ETag is 304 with an empty body and the ETag", async () => {
  const etag = (await getProduct("101")).headers.get("etag");
  const res = await request("GET", "/products/101", { headers: { "if-none-match": etag } });
  assert.equal(res.status, 304);
  assert.equal(res.text, "");
  assert.equal(res.headers.get("etag"), etag);
});

test("GET /products/:id of an unknown id is 404", async () => {
  assertProblem(await getProduct(`nothing-${randomUUID()}`), 404);
});

for (const [what, id] of [["a.b", "a.b"], ["65 characters", "x".repeat(65)], ["%20", "%20"]]) {
  test(`GET /products/:id with the invalid id ${what} is 400`, async () => {
    assertProblem(await getProduct(id), 400);
  });
}

// ---------------------------------------------------------------- creating

test("POST /products is 201 with a generated UUID, Location and ETag", async () => {
  const body = draft();
  const res = await request("POST", "/products", { body });
  assert.equal(res.status, 201, res.text);
  const product = res.json;
  assertProduct(product);
  assert.match(product.id, UUID);
  assert.deepEqual(
    { ...product, id: undefined, created_at: undefined, updated_at: undefined },
    { ...body, id: undefined, created_at: undefined, updated_at: undefined },
  );
  assert.equal(product.created_at, product.updated_at);
  assert.equal(res.headers.get("location"), `/products/${product.id}`);
  const etag = res.headers.get("etag");
  assert.ok(etag);
  const stored = await getProduct(product.id);
  assert.deepEqual(stored.json, product);
  assert.equal(stored.headers.get("etag"), etag);
});

test("POST /products without a description omits it", async () => {
  const { description, ...body } = draft();
  const res = await request("POST", "/products", { body });
  assert.equal(res.status, 201, res.text);
  assert.ok(!("description" in res.json), res.text);
  assert.ok(!("description" in (await getProduct(res.json.id)).json));
});

/** Values at the edges of what is valid. */
const validEdges = [
  ["price.amount 0", { price: { amount: 0, currency: "EUR" } }],
  ["price.amount 2^53-1", { price: { amount: MAX_AMOUNT, currency: "JPY" } }],
  ["stock 0", { stock: 0 }],
  ["a name of 200 characters", { name: "n".repeat(200) }],
  ["a name of 200 non-ASCII characters", { name: "é".repeat(200) }],
  ["a description of 2000 characters", { description: "d".repeat(2000) }],
  ["a description of 2000 non-ASCII characters", { description: "ü".repeat(2000) }],
  ["a multi-line description", { description: "line one\nline two" }],
];

for (const [what, fields] of validEdges) {
  test(`POST /products accepts ${what}`, async () => {
    const { product } = await createProduct(fields);
    for (const [key, value] of Object.entries(fields)) assert.deepEqual(product[key], value);
  });
}

// ---------------------------------------------------------------- changing

test("PUT /products/:id replaces the product and is 200; an omitted description is removed", async () => {
  const { product, etag } = await createProduct();
  const { description, ...body } = draft({ price: { amount: 5, currency: "GBP" }, stock: 0 });
  const res = await request("PUT", `/products/${product.id}`, { body });
  assert.equal(res.status, 200, res.text);
  assertProduct(res.json);
  assert.deepEqual(
    { ...res.json, updated_at: undefined },
    { ...body, id: product.id, created_at: product.created_at, updated_at: undefined },
  );
  assert.ok(res.json.updated_at >= product.updated_at);
  assert.notEqual(res.headers.get("etag"), etag);
  assert.deepEqual((await getProduct(product.id)).json, res.json);
});

test("PATCH /products/:id changes only the fields sent and is 200", async () => {
  const { product } = await createProduct();
  const price = { amount: 42, currency: "CHF" };
  const res = await request("PATCH", `/products/${product.id}`, { body: { price } });
  assert.equal(res.status, 200, res.text);
  assertProduct(res.json);
  assert.deepEqual(
    { ...res.json, updated_at: undefined },
    { ...product, price, updated_at: undefined },
  );
  assert.deepEqual((await getProduct(product.id)).json, res.json);
});

test("PATCH /products/:id with description null clears it", async () => {
  const { product } = await createProduct();
  const res = await request("PATCH", `/products/${product.id}`, { body: { description: null } });
  assert.equal(res.status, 200, res.text);
  assert.ok(!("description" in res.json), res.text);
  assert.equal(res.json.name, product.name);
  assert.ok(!("description" in (await getProduct(product.id)).json));
});

test("PUT, PATCH and DELETE of an absent product are 404", async () => {
  const path = `/products/absent-${randomUUID()}`;
  assertProblem(await request("PUT", path, { body: draft() }), 404);
  assertProblem(await request("PATCH", path, { body: { stock: 1 } }), 404);
  assertProblem(await request("DELETE", path), 404);
});

test("DELETE /products/:id is 204, then GET is 404 and the batch read lists it missing", async () => {
  const { product } = await createProduct();
  const res = await request("DELETE", `/products/${product.id}`);
  assert.equal(res.status, 204);
  assert.equal(res.text, "");
  assertProblem(await getProduct(product.id), 404);
  assertProblem(await request("DELETE", `/products/${product.id}`), 404);
  const batch = await request("GET", `/products?ids=${product.id}`);
  assert.deepEqual(batch.json, { items: [], missing: [product.id] });
});

// ---------------------------------------------------------------- If-Match

const conditionalWrites = [
  { method: "PUT", body: () => draft(), ok: 200 },
  { method: "PATCH", body: () => ({ stock: 99 }), ok: 200 },
  { method: "DELETE", body: () => undefined, ok: 204 },
];

for (const { method, body, ok } of conditionalWrites) {
  test(`${method} /products/:id with a stale If-Match is 412 and changes nothing`, async () => {
    const { product, etag: stale } = await createProduct();
    const fresh = await request("PATCH", `/products/${product.id}`, { body: { stock: 1 } });
    assert.equal(fresh.status, 200, fresh.text);
    for (const tag of [stale, '"0000000000000000"', "W/" + fresh.headers.get("etag")]) {
      const res = await request(method, `/products/${product.id}`, {
        body: body(),
        headers: { "if-match": tag },
      });
      assertProblem(res, 412);
    }
    const now = await getProduct(product.id);
    assert.equal(now.status, 200);
    assert.deepEqual(now.json, fresh.json);
    assert.equal(now.headers.get("etag"), fresh.headers.get("etag"));
  });

  test(`${method} /products/:id with the current If-Match succeeds`, async () => {
    const { product, etag } = await createProduct();
    const res = await request(method, `/products/${product.id}`, {
      body: body(),
      headers: { "if-match": etag },
    });
    assert.equal(res.status, ok, res.text);
  });
}

// ---------------------------------------------------------------- methods

const wrongMethods = [
  ["DELETE", "/products", "GET, POST"],
  ["PUT", "/products", "GET, POST"],
  ["PATCH", "/products", "GET, POST"],
  ["POST", "/products/101", "GET, PUT, PATCH, DELETE"],
];

for (const [method, path, allow] of wrongMethods) {
  test(`${method} ${path} is 405 with Allow "${allow}"`, async () => {
    const res = await request(method, path, { body: {} });
    assertProblem(res, 405);
    assert.equal(res.headers.get("allow"), allow);
  });
}

// ---------------------------------------------------------------- authorization

test("product writes without a valid API key are 401 and change nothing", async () => {
  const { product } = await createProduct();
  const writes = [
    ["POST", "/products", draft()],
    ["PUT", `/products/${product.id}`, draft()],
    ["PATCH", `/products/${product.id}`, { stock: 0 }],
    ["DELETE", `/products/${product.id}`, undefined],
  ];
  for (const [method, path, body] of writes) {
    assertProblem(await request(method, path, { body, auth: false }), 401);
    const wrong = { authorization: "Bearer not-the-key" };
    assertProblem(await request(method, path, { body, headers: wrong }), 401);
  }
  assert.deepEqual((await getProduct(product.id)).json, product);
});

// ---------------------------------------------------------------- bodies

const json = { "content-type": "application/json" };

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
    send: () => ({ raw: bodyOfSize(LIMIT + 1), headers: json }),
    status: 413,
  },
  { name: "invalid JSON is 400", send: () => ({ raw: '{"name": ', headers: json }), status: 400 },
  {
    name: "duplicate keys are 400",
    send: () => ({ raw: '{"stock":1,"stock":2,"name":"A","price":{"amount":1,"currency":"EUR"}}', headers: json }),
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
    test(`${method} /products: ${row.name} and changes nothing`, async () => {
      const { product } = await createProduct();
      const path = method === "POST" ? "/products" : `/products/${product.id}`;
      assertProblem(await request(method, path, row.send()), row.status, { fields: row.fields });
      assert.deepEqual((await getProduct(product.id)).json, product);
    });
  }
}

test("a product body of exactly 64 KiB is not refused as too large", async () => {
  const res = await request("POST", "/products", { raw: bodyOfSize(LIMIT), headers: json });
  assertProblem(res, 422, { fields: ["description"] });
});

/** Invalid fields: [what, changes to a valid draft, the fields the 422 must name]. */
const invalidDrafts = [
  ["price.amount -1", { price: { amount: -1, currency: "EUR" } }, ["price"]],
  ["price.amount 1.5", { price: { amount: 1.5, currency: "EUR" } }, ["price"]],
  ["price.amount 2^53", { price: { amount: 2 ** 53, currency: "EUR" } }, ["price"]],
  ['price.amount "100"', { price: { amount: "100", currency: "EUR" } }, ["price"]],
  ["a price without amount", { price: { currency: "EUR" } }, ["price"]],
  ['currency "eur"', { price: { amount: 1, currency: "eur" } }, ["price"]],
  ['currency "EURO"', { price: { amount: 1, currency: "EURO" } }, ["price"]],
  ["a price without currency", { price: { amount: 1 } }, ["price"]],
  ["a price that is not an object", { price: 100 }, ["price"]],
  ["stock -1", { stock: -1 }, ["stock"]],
  ["stock 1.5", { stock: 1.5 }, ["stock"]],
  ["a name of 201 characters", { name: "n".repeat(201) }, ["name"]],
  ["an empty name", { name: "" }, ["name"]],
  ["a name with a control character", { name: "A\u0007" }, ["name"]],
  ["a description of 2001 characters", { description: "d".repeat(2001) }, ["description"]],
  ["no name, price or stock", { name: undefined, price: undefined, stock: undefined }, ["name", "price", "stock"]],
  ["stock -1 and currency eur", { stock: -1, price: { amount: 1, currency: "eur" } }, ["price", "stock"]],
];

for (const method of ["POST", "PUT"]) {
  for (const [what, fields, named] of invalidDrafts) {
    test(`${method} /products with ${what} is 422 naming ${named.join(", ")}`, async () => {
      const { product } = await createProduct();
      const path = method === "POST" ? "/products" : `/products/${product.id}`;
      const res = await request(method, path, { body: draft(fields) });
      const problem = assertProblem(res, 422, { fields: named });
      assert.deepEqual([...new Set(problem.errors.map((e) => topField(e.field)))].sort(), [...named].sort());
      assert.deepEqual((await getProduct(product.id)).json, product);
    });
  }
}

test("PATCH /products/:id with invalid fields is 422 naming each and changes nothing", async () => {
  const { product } = await createProduct();
  const rows = [
    [{ price: { amount: -1, currency: "EUR" } }, ["price"]],
    [{ price: { amount: 2 ** 53, currency: "EUR" } }, ["price"]],
    [{ price: { amount: 1, currency: "EURO" } }, ["price"]],
    [{ stock: -1 }, ["stock"]],
    [{ name: "n".repeat(201) }, ["name"]],
    [{ description: "d".repeat(2001) }, ["description"]],
    [{ name: null }, ["name"]],
    [{ stock: null }, ["stock"]],
    [{ name: "", stock: 1.5 }, ["name", "stock"]],
  ];
  for (const [body, named] of rows) {
    const problem = assertProblem(
      await request("PATCH", `/products/${product.id}`, { body }),
      422,
      { fields: named },
    );
    assert.deepEqual([...new Set(problem.errors.map((e) => topField(e.field)))].sort(), [...named].sort());
  }
  assert.deepEqual((await getProduct(product.id)).json, product);
});
