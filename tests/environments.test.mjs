// The environment check (scripts/check-environments.mjs) passes on the real
// wrangler configs and names each way an environment can reach into another.
import { test } from "node:test";
import assert from "node:assert/strict";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { problems, readConfigs } from "../scripts/check-environments.mjs";

const REAL = readConfigs(resolve(dirname(fileURLToPath(import.meta.url)), ".."));

/** The problems of a copy of the real configs after `change`. */
function problemsAfter(change) {
  const configs = structuredClone(REAL);
  change(configs);
  return problems(configs);
}

test("the real configs keep their environments apart", () => {
  assert.deepEqual(problems(REAL), []);
});

test("a staging gateway bound to a production service is refused", () => {
  const found = problemsAfter((c) => {
    c.gateway.env.staging.services[0].service = "users-production";
  });
  assert.deepEqual(found, [
    "gateway [staging]: service binding USERS names users-production, the worker of users [production]",
  ]);
});

test("a service binding to the local development worker is refused", () => {
  const found = problemsAfter((c) => {
    c.users.env.production.services[0].service = "products";
  });
  assert.deepEqual(found, [
    "users [production]: service binding PRODUCTS names products, the worker of products [top level]",
  ]);
});

test("a KV namespace shared by two environments is refused", () => {
  const found = problemsAfter((c) => {
    c.users.env.staging.kv_namespaces[0].id = c.users.env.production.kv_namespaces[0].id;
  });
  assert.deepEqual(found, [
    "KV namespace id put-the-id-of-users-kv-production-here is used by users [staging] and by users [production]",
  ]);
});

test("a queue of another environment is refused, whether produced, consumed or dead letters", () => {
  assert.deepEqual(
    problemsAfter((c) => {
      c.products.env.production.queues.producers[0].queue = "product-events-staging";
    }),
    [
      "queue product-events-staging is used by users [staging] and by products [production]",
      "users [production]: consumes product-events-production, which no worker of this environment produces",
    ],
  );
  assert.deepEqual(
    problemsAfter((c) => {
      c.users.env.staging.queues.consumers[0].dead_letter_queue = "product-events-dlq";
    }),
    ["queue product-events-dlq is used by users [top level] and by users [staging]"],
  );
});

test("a rate-limit namespace shared by two environments is refused", () => {
  const found = problemsAfter((c) => {
    c.gateway.env.production.ratelimits[0].namespace_id = c.gateway.ratelimits[0].namespace_id;
  });
  assert.deepEqual(found, [
    "rate-limit namespace_id 1001 is used by gateway [top level] and by gateway [production]",
  ]);
});

test("two environments under one worker name are refused", () => {
  const found = problemsAfter((c) => {
    c.products.env.staging.name = "products-production";
  });
  assert.ok(found.includes("worker name products-production is used by products [staging] and by products [production]"));
});

test("an environment without a binding or var of the top level is refused", () => {
  const found = problemsAfter((c) => {
    delete c.users.env.staging.durable_objects;
    delete c.gateway.env.production.vars.ALLOWED_ORIGINS;
    c.users.env.production.queues.consumers = [];
  });
  assert.deepEqual(found, [
    "gateway [production]: lacks the var ALLOWED_ORIGINS the top level has",
    "users [staging]: lacks the durable_objects binding USER_WRITERS the top level has",
    "users [staging]: lacks the durable_objects binding EMAIL_CLAIMS the top level has",
    "users [staging]: lacks the durable_objects binding PRODUCT_FANS the top level has",
    "users [production]: has 0 queue consumers; the top level has 1",
  ]);
});

test("an environment that reopens what the top level closed is refused", () => {
  const found = problemsAfter((c) => {
    c.products.env.production.workers_dev = true;
    c.users.env.staging.observability = { enabled: false };
  });
  assert.deepEqual(found, [
    "users [staging]: turns observability off; the top level has it on",
    "products [production]: turns workers_dev on; the top level has it off",
  ]);
});

test("a config without staging or production is refused", () => {
  const found = problemsAfter((c) => {
    delete c.products.env.production;
  });
  assert.ok(found.includes("products: has no [env.production]"));
});
