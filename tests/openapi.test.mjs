// /openapi.json against the running system, both ways: every documented
// operation is answered, and every route the system serves is documented
// (the served routes are parsed from the Rust routers, so the list cannot
// drift from the code); methods a documented path does not list are 405.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, suiteSystem } from "./support/system.mjs";

const METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"];
const read = (path) => readFileSync(join(ROOT, path), "utf8");

/** The `pub fn resolve` body of a router source file. */
function resolveBody(source) {
  const start = source.indexOf("pub fn resolve(");
  assert.ok(start >= 0, "a resolve function");
  return source.slice(start, source.indexOf("\n}\n", start));
}

/** `["users", id, "favorites"]` is /users/{id}/favorites. */
const pathOf = (pattern) =>
  "/" +
  pattern
    .split(",")
    .map((s) => s.trim())
    .map((s) => (s.startsWith('"') ? JSON.parse(s) : `{${s}}`))
    .join("/");

/** The arms of a `match segments(path).as_slice()`: the pattern and what follows it up to the next arm. */
function arms(body) {
  const found = [...body.matchAll(/^\s*\[([^\]]*)\]\s*(?:if [^\n]*?)?=>/gm)];
  return found.map((arm, i) => ({
    pattern: arm[1],
    chunk: body.slice(arm.index + arm[0].length, found[i + 1]?.index ?? body.length),
  }));
}

/**
 * A service's routes from its `match segments(path).as_slice()` arms:
 * `["users", id, "favorites"] => … "GET" => …` is GET /users/{id}/favorites.
 */
function serviceRoutes(file) {
  return arms(resolveBody(read(file))).flatMap(({ pattern, chunk }) => {
    const methods = [...chunk.matchAll(/"([A-Z]+)"\s*=>/g)].map((m) => m[1]);
    return methods.flatMap(withHead).map((method) => ({ method, path: pathOf(pattern) }));
  });
}

/** The services route HEAD as GET (`Inbound::routing_method`). */
const withHead = (method) => (method === "GET" ? ["GET", "HEAD"] : [method]);

/**
 * The gateway's own routes (`["docs", file] if … => own(…)` is /docs/{file},
 * with the methods of its `own` closure) and the path prefixes it forwards
 * (`["users", ..] => Ok(Destination::Forward(…))`).
 */
function gatewayRouting() {
  const body = resolveBody(read("workers/gateway/src/routes.rs"));
  const ownClosure = body.match(/let own = \|[^|]*\| match method \{([\s\S]*?)\};/);
  assert.ok(ownClosure, "the gateway's own-route closure");
  const ownMethods = [...ownClosure[1].matchAll(/"([A-Z]+)"(?=\s*(?:\||=>))/g)].map((m) => m[1]);
  const gatewayArms = arms(body);
  const own = gatewayArms
    .filter(({ chunk }) => /^\s*own\(/.test(chunk))
    .flatMap(({ pattern }) => ownMethods.map((method) => ({ method, path: pathOf(pattern) })));
  const forwarded = gatewayArms
    .filter(({ chunk }) => /^\s*Ok\(Destination::Forward/.test(chunk))
    .map(({ pattern }) => pattern.match(/^\s*"([^"]+)"\s*,\s*\.\.\s*$/)?.[1]);
  assert.ok(forwarded.every(Boolean), "every forwarded prefix is `[\"name\", ..]`");
  return { own, forwarded };
}

/** Every method and path template the system answers through the gateway. */
function servedRoutes() {
  const { own, forwarded } = gatewayRouting();
  const services = ["users", "products"].flatMap((name) => serviceRoutes(`workers/${name}/src/routes.rs`));
  // A service's own /health is not reachable through the gateway: only the
  // prefixes the gateway forwards are.
  const reachable = services.filter(({ path }) => forwarded.includes(path.split("/")[1]));
  return [...own, ...reachable];
}

/** Path templates compare by shape: `{id}` and `{user_id}` are the same. */
const shape = (path) => path.replace(/\{[^}]+\}/g, "{}");
const key = ({ method, path }) => `${method} ${shape(path)}`;

/** A concrete path for a template: users "1", products "101", the reference page's script. */
function concrete(path) {
  const product = path.startsWith("/products") ? "101" : "1";
  return path
    .replace("{product_id}", "101")
    .replace("{id}", product)
    .replace("{file}", "docs.js")
    .replace(/\{[^}]+\}/g, "1");
}

let doc;

const { request } = suiteSystem(
  {},
  {
    afterStart: async ({ request }) => {
      const res = await request("GET", "/openapi.json");
      assert.equal(res.status, 200, res.text);
      doc = res.json;
    },
  },
);

/** Every documented operation, with the deletes last so they do not remove what the others read. */
function operations() {
  const ops = Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.keys(item)
      .map((m) => m.toUpperCase())
      .filter((method) => METHODS.includes(method))
      .map((method) => ({ method, path })),
  );
  return ops.sort((a, b) => (a.method === "DELETE") - (b.method === "DELETE"));
}

test("GET /openapi.json is an OpenAPI 3.1 JSON document", async () => {
  const res = await request("GET", "/openapi.json");
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /^application\/json/);
  assert.match(doc.openapi, /^3\.1\.\d+$/);
  assert.equal(typeof doc.info?.title, "string");
  assert.ok(Object.keys(doc.paths ?? {}).length > 0);
});

test("the routers parse into the expected shape", () => {
  const served = servedRoutes().map(key);
  // A guard against the parser silently finding nothing.
  for (const route of ["GET /health", "HEAD /health", "GET /openapi.json", "GET /docs", "HEAD /docs/{}", "GET /users", "HEAD /users/{}", "POST /users", "DELETE /users/{}", "PUT /users/{}/favorites/{}", "GET /products", "PATCH /products/{}"]) {
    assert.ok(served.includes(route), `${route} in ${served.join(", ")}`);
  }
  assert.ok(!served.some((route) => route.endsWith(" /health") && !["GET /health", "HEAD /health"].includes(route)));
});

test("every documented operation is answered (not 404 for no route, not 405, not 401)", async () => {
  const failures = [];
  for (const { method, path } of operations()) {
    const url = concrete(path);
    const res = await request(method, url, ["POST", "PUT", "PATCH"].includes(method) ? { body: {} } : {});
    const noRoute = res.status === 404 && /no route/i.test(res.json?.detail ?? "");
    // A 401 (the dev key is sent) would hide whether the route exists.
    if (noRoute || res.status === 405 || res.status === 401) failures.push(`${method} ${url} (${path}) → ${res.status} ${res.text}`);
  }
  assert.deepEqual(failures, []);
});

test("every route the system serves is documented", () => {
  const documented = new Set(operations().map(key));
  const undocumented = servedRoutes().filter((route) => !documented.has(key(route)));
  assert.deepEqual(undocumented, []);
});

test("every documented operation is one the system serves", () => {
  const served = new Set(servedRoutes().map(key));
  const unserved = operations().filter((op) => !served.has(key(op)));
  assert.deepEqual(unserved, []);
});

test("methods a documented path does not list are 405 with an Allow of the documented ones", async () => {
  const failures = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    const documented = Object.keys(item).map((m) => m.toUpperCase()).filter((m) => METHODS.includes(m));
    for (const method of METHODS.filter((m) => !documented.includes(m))) {
      const url = concrete(path);
      const res = await request(method, url, ["POST", "PUT", "PATCH"].includes(method) ? { body: {} } : {});
      const allow = (res.headers.get("allow") ?? "").split(",").map((m) => m.trim()).filter(Boolean);
      if (res.status !== 405) failures.push(`${method} ${url} → ${res.status} ${res.text}`);
      else if ([...allow].sort().join() !== [...documented].sort().join()) {
        failures.push(`${method} ${url} → Allow "${res.headers.get("allow")}", documented ${documented}`);
      }
    }
  }
  assert.deepEqual(failures, []);
});
