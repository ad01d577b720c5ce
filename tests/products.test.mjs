// The products service through the gateway: every route and error row of the spec.
// What products shares with users is in support/resource-contract.mjs.
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { suiteSystem } from "./support/system.mjs";
import { assertProblem } from "./support/problem.mjs";
import { describeCollectionContract } from "./support/resource-contract.mjs";
import { UUID, RFC3339_UTC } from "./support/helpers.mjs";

const { request } = suiteSystem();

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

// ---------------------------------------------------------------- shared with users

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

describeCollectionContract({
  request,
  path: "/products",
  one: "product",
  many: "products",
  seededIds: ["101", "102"],
  assertItem: assertProduct,
  create: async () => {
    const { product, etag } = await createProduct();
    return { item: product, etag };
  },
  draft,
  padField: "description",
  patch: () => ({ stock: 99 }),
  otherPatch: () => ({ stock: 1 }),
  fieldOf: topField,
  namedFields: (problem) => [...new Set(problem.errors.map((e) => topField(e.field)))],
  invalidDrafts: invalidDrafts.map(([what, changes, named]) => [what, () => draft(changes), named]),
  invalidPatches: [
    [{ price: { amount: -1, currency: "EUR" } }, ["price"]],
    [{ price: { amount: 2 ** 53, currency: "EUR" } }, ["price"]],
    [{ price: { amount: 1, currency: "EURO" } }, ["price"]],
    [{ stock: -1 }, ["stock"]],
    [{ name: "n".repeat(201) }, ["name"]],
    [{ description: "d".repeat(2001) }, ["description"]],
    [{ name: null }, ["name"]],
    [{ stock: null }, ["stock"]],
    [{ name: "", stock: 1.5 }, ["name", "stock"]],
  ],
  afterDelete: {
    says: "the batch read lists it missing",
    async check(id) {
      const batch = await request("GET", `/products?ids=${id}`);
      assert.deepEqual(batch.json, { items: [], missing: [id] });
    },
  },
});

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
