// Hostile input, through the gateway: every case of hostile-corpus.json is
// sent to the real system (malformed JSON, wrong types, huge numbers, deep
// nesting, duplicate keys, 1 MiB bodies, control characters, invalid UTF-8,
// RTL/combining/emoji text, 10 KB ids and paths, traversal, huge and
// repeated headers, wrong content types, odd methods, with and without the
// key, hostile Connection headers). Each answer must be a 4xx problem
// carrying its request id, never a 5xx, unless the case declares
// `expect: "2xx"` (a valid but odd input, answered with the request id sent) or
// `runtime: true` (workerd's HTTP server refuses it before any worker runs;
// the test then proves no worker saw it). Afterwards the system must still
// serve normally, every answer must have its access-log line, and no worker
// may have panicked.
//
// A corpus case: { name, method, path, headers?, body? | bodyBase64? |
// bodyRepeat?: {chunk, times}, chunked?, auth?, contentType?, transport?,
// manyHeaders?, expect?, status?, json? (fields a 2xx answer must carry),
// runtime?, note? }. Strings (path, header
// values, body) may be a list of parts, a part being a string or
// {chunk, times}; a header value may be {each, count} for a header repeated
// `count` times. `{{user}}`, `{{product}}`, `{{unique}}` and `{{key}}` are
// replaced by a user and a product made for the run, a per-case token and
// the dev key. `transport: "http"` sends the case with node:http, verbatim
// (odd methods, raw dot segments, bytes fetch refuses); otherwise fetch.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import net from "node:net";
import { readFileSync } from "node:fs";
import { randomUUID } from "node:crypto";
import { suiteSystem, devApiKey, assertNoPanic } from "./support/system.mjs";
import { assertProblem } from "./support/problem.mjs";
import { sleep, parseJson } from "./support/helpers.mjs";

const CORPUS = JSON.parse(readFileSync(new URL("./hostile-corpus.json", import.meta.url), "utf8"));
const LIMIT = 64 * 1024;
const RUN = randomUUID().slice(0, 8);

/** A corpus string: a string, {chunk, times}, or a list of those. */
function expand(value, vars) {
  const parts = Array.isArray(value) ? value : [value];
  return parts
    .map((part) =>
      typeof part === "string"
        ? part.replace(/\{\{(\w+)\}\}/g, (whole, name) => {
            assert.ok(name in vars, `unknown placeholder ${whole}`);
            return vars[name];
          })
        : part.chunk.repeat(part.times),
    )
    .join("");
}

/** The request a case describes: method, path, header list, body bytes. */
function build(c, index, vars) {
  vars = { ...vars, unique: `hostile-${RUN}-${index}` };
  const headers = [];
  for (const [name, value] of Object.entries(c.headers ?? {})) {
    if (value && typeof value === "object" && "each" in value) {
      for (let i = 0; i < value.count; i++) headers.push([name, expand(value.each, vars)]);
    } else {
      headers.push([name, expand(value, vars)]);
    }
  }
  if (c.manyHeaders) {
    for (let i = 0; i < c.manyHeaders.count; i++) headers.push([`${c.manyHeaders.prefix}${i}`, c.manyHeaders.value]);
  }
  const has = (name) => headers.some(([n]) => n.toLowerCase() === name);
  let body;
  if (c.body !== undefined) body = Buffer.from(expand(c.body, vars), "utf8");
  if (c.bodyBase64 !== undefined) body = Buffer.from(c.bodyBase64, "base64");
  if (c.bodyRepeat !== undefined) body = Buffer.from(c.bodyRepeat.chunk.repeat(c.bodyRepeat.times), "utf8");
  if ("contentType" in c) {
    if (c.contentType !== null) headers.push(["content-type", c.contentType]);
  } else if (body !== undefined && !has("content-type")) {
    headers.push(["content-type", "application/json"]);
  }
  if (c.auth !== false && !has("authorization")) headers.push(["authorization", `Bearer ${vars.key}`]);
  const ownId = has("x-request-id") ? undefined : `hostile-${RUN}-${index}`;
  if (ownId) headers.push(["x-request-id", ownId]);
  return { method: c.method, path: expand(c.path, vars), headers, body, chunked: c.chunked === true, ownId };
}

/** An answer as the checks read it, whichever transport fetched it. */
function answer(status, headerPairs, text) {
  const map = new Map();
  for (const [name, value] of headerPairs) {
    const key = name.toLowerCase();
    map.set(key, map.has(key) ? `${map.get(key)}, ${value}` : String(value));
  }
  return { status, headers: { get: (name) => map.get(name.toLowerCase()) ?? null }, text, json: parseJson(text) };
}

function chunksOf(bytes, size = 16 * 1024) {
  const chunks = [];
  for (let at = 0; at < bytes.length; at += size) chunks.push(bytes.subarray(at, at + size));
  return chunks;
}

async function viaFetch(url, req) {
  const headers = new Headers();
  for (const [name, value] of req.headers) headers.append(name, value);
  const init = { method: req.method, headers };
  if (req.body !== undefined) {
    if (req.chunked) {
      const chunks = chunksOf(req.body);
      init.body = new ReadableStream({
        pull(controller) {
          if (chunks.length) controller.enqueue(chunks.shift());
          else controller.close();
        },
      });
      init.duplex = "half";
    } else {
      init.body = new Uint8Array(req.body);
    }
  }
  const response = await fetch(url + req.path, init);
  return answer(response.status, [...response.headers], await response.text());
}

/**
 * node:http, verbatim. Writes the body paced and stops writing once an
 * answer arrives (a server may answer early, then close). Resolves with
 * the answer, or rejects with the connection error when none was read.
 */
function viaHttp(url, req) {
  const { hostname, port } = new URL(url);
  // A raw header list gets no default Host from node:http.
  const headers = ["host", `${hostname}:${port}`];
  for (const [name, value] of req.headers) headers.push(name, value);
  if (req.body !== undefined && !req.chunked) headers.push("content-length", String(req.body.length));
  if (req.body !== undefined && req.chunked) headers.push("transfer-encoding", "chunked");
  return new Promise((resolve, reject) => {
    let answered = false;
    const outgoing = http.request({ host: hostname, port, path: req.path, method: req.method, headers, agent: false }, (res) => {
      answered = true;
      const chunks = [];
      res.on("data", (chunk) => chunks.push(chunk));
      res.on("end", () => resolve(answer(res.statusCode, pairs(res.rawHeaders), Buffer.concat(chunks).toString("utf8"))));
      res.on("error", (error) => reject(error));
    });
    outgoing.on("error", (error) => {
      if (!answered) reject(error);
    });
    (async () => {
      if (req.body !== undefined) {
        for (const chunk of chunksOf(req.body)) {
          if (answered || outgoing.destroyed) return;
          if (!outgoing.write(chunk)) {
            await new Promise((done) => {
              outgoing.once("drain", done);
              outgoing.once("close", done);
            });
          }
        }
      }
      if (!outgoing.destroyed) outgoing.end();
    })();
  });
}

function pairs(raw) {
  const out = [];
  for (let i = 0; i < raw.length; i += 2) out.push([raw[i], raw[i + 1]]);
  return out;
}

/**
 * A raw socket: keeps every byte the server sent, even when it resets the
 * connection right after answering, and parses the answer from them.
 */
function viaSocket(url, req) {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname);
    const received = [];
    let failure;
    socket.on("data", (data) => received.push(data));
    socket.on("error", (error) => (failure = error));
    socket.on("close", () => {
      const parsed = parseRawResponse(Buffer.concat(received));
      if (parsed) resolve(parsed);
      else reject(failure ?? new Error("the connection closed without an answer"));
    });
    socket.on("connect", async () => {
      const lines = [`${req.method} ${req.path} HTTP/1.1`, `host: ${hostname}:${port}`, "connection: close"];
      for (const [name, value] of req.headers) lines.push(`${name}: ${value}`);
      if (req.body !== undefined) lines.push(req.chunked ? "transfer-encoding: chunked" : `content-length: ${req.body.length}`);
      socket.write(Buffer.from(`${lines.join("\r\n")}\r\n\r\n`, "latin1"));
      // Like a client that honours an early answer (RFC 9110 §15): give the
      // server a moment to answer on the headers alone, and stop uploading
      // as soon as it has.
      if (req.body !== undefined) {
        await new Promise((done) => {
          const timer = setTimeout(done, 200);
          socket.once("data", () => (clearTimeout(timer), done()));
          socket.once("close", () => (clearTimeout(timer), done()));
        });
      }
      for (const chunk of req.body ? chunksOf(req.body) : []) {
        if (socket.destroyed || received.length) break;
        const frame = req.chunked ? Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from("\r\n")]) : chunk;
        if (!socket.write(frame)) await new Promise((done) => socket.once("drain", done).once("close", done));
      }
      if (!socket.destroyed && !received.length && req.body !== undefined && req.chunked) socket.write("0\r\n\r\n");
    });
  });
}

function parseRawResponse(bytes) {
  const end = bytes.indexOf("\r\n\r\n");
  if (end < 0) return null;
  const [statusLine, ...headerLines] = bytes.subarray(0, end).toString("latin1").split("\r\n");
  const status = Number(statusLine.split(" ")[1]);
  const headerPairs = headerLines.map((line) => [line.slice(0, line.indexOf(":")), line.slice(line.indexOf(":") + 1).trim()]);
  let body = bytes.subarray(end + 4);
  const encoding = headerPairs.find(([n]) => n.toLowerCase() === "transfer-encoding")?.[1];
  if (encoding?.toLowerCase() === "chunked") {
    const parts = [];
    let at = 0;
    while (at < body.length) {
      const lineEnd = body.indexOf("\r\n", at);
      if (lineEnd < 0) break;
      const size = parseInt(body.subarray(at, lineEnd).toString("latin1"), 16);
      if (!size) break;
      parts.push(body.subarray(lineEnd + 2, lineEnd + 2 + size));
      at = lineEnd + 2 + size + 2;
    }
    body = Buffer.concat(parts);
  }
  return answer(status, headerPairs, body.toString("utf8"));
}

const isReset = (error) => {
  const code = error?.code ?? error?.cause?.code;
  return ["ECONNRESET", "EPIPE", "UND_ERR_SOCKET"].includes(code) || /fetch failed|socket hang up/.test(String(error?.message));
};

/**
 * Sends a case by its transport. A big body may meet a reset: the server
 * answers early (413, 401, 405) and closes while the client still uploads.
 * Then the case is sent again with node:http, and then over a raw socket,
 * and the answer read before the reset counts; `tries` says how many sends it took.
 */
async function send(url, req, transport) {
  const attempts = transport === "http" ? [viaHttp] : [viaFetch, viaHttp];
  if ((req.body?.length ?? 0) > LIMIT) attempts.push(viaSocket, viaSocket, viaSocket);
  let lastError;
  let tries = 0;
  for (const attempt of attempts) {
    tries += 1;
    try {
      return Object.assign(await attempt(url, req), { tries });
    } catch (error) {
      lastError = error;
      if ((req.body?.length ?? 0) <= LIMIT || !isReset(error)) throw error;
    }
  }
  throw lastError;
}

describe(`hostile corpus (${CORPUS.length} cases) against the real system`, () => {
  const vars = { key: devApiKey() };
  const outcomes = [];
  /** The checks after the corpus are about its answers: without them they would pass on nothing. */
  const assertCorpusAnswered = () =>
    assert.equal(outcomes.length, CORPUS.length, "every case of the corpus was answered before this check");

  /** Makes the user and the product the cases' `{{user}}` and `{{product}}` stand for. */
  async function makeTargets({ request }) {
    const user = await request("POST", "/users", { body: { name: "Hostile Target", email: `target-${RUN}@example.com` } });
    assert.equal(user.status, 201, user.text);
    const product = await request("POST", "/products", { body: { name: "Hostile Target", price: { amount: 1, currency: "EUR" }, stock: 1 } });
    assert.equal(product.status, 201, product.text);
    Object.assign(vars, { user: user.json.id, product: product.json.id });
  }

  // The shipped settings, rate limit included: the corpus and its checks
  // send some 320 requests from one address with one key, under the 1,000
  // a minute each may send.
  const suite = suiteSystem({}, { afterStart: makeTargets });
  const { request } = suite;

  test("the corpus is well formed", () => {
    const names = new Set();
    for (const c of CORPUS) {
      assert.equal(typeof c.name, "string");
      assert.ok(!names.has(c.name), `duplicate case name ${c.name}`);
      names.add(c.name);
      assert.equal(typeof c.method, "string", c.name);
      assert.ok(c.path !== undefined, c.name);
      assert.ok([undefined, "2xx", "4xx"].includes(c.expect), `${c.name}: expect is "2xx" or "4xx"`);
      assert.ok(!(c.runtime && c.expect === "2xx"), `${c.name}: a runtime rejection cannot expect 2xx`);
      assert.ok(!c.runtime || Number.isInteger(c.status), `${c.name}: a runtime rejection names its status`);
      const bodies = ["body", "bodyBase64", "bodyRepeat"].filter((k) => k in c);
      assert.ok(bodies.length <= 1, `${c.name}: at most one of body, bodyBase64, bodyRepeat`);
      assert.ok(!c.chunked || bodies.length === 1, `${c.name}: chunked needs a body`);
    }
  });

  CORPUS.forEach((c, index) => {
    test(`${c.name}${c.expect === "2xx" ? " [2xx]" : ""}${c.runtime ? " [refused by the runtime]" : ""}`, async () => {
      const req = build(c, index, vars);
      const res = await send(suite.system.url, req, c.transport);
      const context = `${c.method} ${req.path.slice(0, 120)}${req.path.length > 120 ? "…" : ""} (${c.name})`;
      outcomes.push({ c, req, res });
      if (c.runtime) {
        // Refused by workerd's HTTP server: no worker answered it, so it is
        // not a problem document (the access log is checked at the end).
        assert.equal(res.status, c.status, `${context}: ${res.text.slice(0, 200)}`);
        assert.doesNotMatch(res.headers.get("content-type") ?? "", /problem\+json/, `${context}: answered by the runtime`);
        return;
      }
      if (c.expect === "2xx") {
        assert.ok(res.status >= 200 && res.status < 300, `${context}: expected a 2xx, got ${res.status}: ${res.text.slice(0, 300)}`);
        if (req.ownId) assert.equal(res.headers.get("x-request-id"), req.ownId, `${context}: the request id sent is kept`);
        if (c.status !== undefined) assert.equal(res.status, c.status, `${context}: ${res.text.slice(0, 300)}`);
        for (const [field, value] of Object.entries(c.json ?? {})) {
          assert.deepEqual(res.json?.[field], value, `${context}: ${field} as acknowledged`);
        }
        if (res.status === 201) {
          // What was acknowledged is what is stored, byte for byte.
          const location = res.headers.get("location");
          assert.ok(location, `${context}: Location`);
          const back = await request("GET", location);
          assert.equal(back.status, 200, back.text);
          assert.deepEqual(back.json, res.json);
        }
        return;
      }
      assert.ok(res.status < 500, `${context}: a ${res.status} (5xx) answer: ${res.text.slice(0, 300)}`);
      assert.ok(res.status >= 400, `${context}: expected a 4xx, got ${res.status}: ${res.text.slice(0, 300)}`);
      if (c.status !== undefined) assert.equal(res.status, c.status, `${context}: ${res.text.slice(0, 300)}`);
      assertProblem(res, res.status, { requestId: req.ownId, context });
    });
  });

  test("every answer a worker gave has its access-log line (one per try) with its status; runtime refusals have none", async () => {
    assertCorpusAnswered();
    const fromWorkers = outcomes.filter(({ c }) => !c.runtime);
    const idOf = ({ res }) => res.headers.get("x-request-id");
    let lines = [];
    for (let i = 0; i < 100; i++) {
      lines = suite.system.accessLog();
      const ids = new Set(lines.map((line) => line.request_id));
      if (fromWorkers.every((o) => ids.has(idOf(o)))) break;
      await sleep(50);
    }
    for (const outcome of fromWorkers) {
      // A case re-sent after a reset was answered (and logged) each time.
      const mine = lines.filter((line) => line.request_id === idOf(outcome));
      const { tries } = outcome.res;
      assert.ok(mine.length >= 1 && mine.length <= tries, `${outcome.c.name}: ${mine.length} access-log lines for ${idOf(outcome)} after ${tries} tries: ${JSON.stringify(mine)}`);
      for (const line of mine) assert.equal(line.status, outcome.res.status, outcome.c.name);
    }
    for (const { c, req } of outcomes.filter(({ c }) => c.runtime)) {
      assert.ok(req.ownId, c.name);
      assert.equal(lines.filter((line) => line.request_id === req.ownId).length, 0, `${c.name}: no worker saw it`);
    }
  });

  test("after the whole corpus the system still serves normally", async () => {
    assertCorpusAnswered();
    const alice = await request("GET", "/users/1");
    assert.equal(alice.status, 200, alice.text);
    assert.equal(alice.json.id, "1");
    const created = await request("POST", "/users", { body: { name: "After The Storm", email: `after-${RUN}@example.com` } });
    assert.equal(created.status, 201, created.text);
    const back = await request("GET", `/users/${created.json.id}`);
    assert.equal(back.status, 200, back.text);
    assert.deepEqual(back.json, created.json);
    const laptop = await request("GET", "/products/101");
    assert.equal(laptop.status, 200, laptop.text);
    const health = await request("GET", "/health");
    assert.equal(health.status, 200, health.text);
    assert.equal(health.json.status, "ok");
    const favourites = await request("GET", `/users/${vars.user}/favorites`);
    assert.equal(favourites.status, 200, favourites.text);
    assert.equal(favourites.json.degraded, false);
  });

  test("no worker panicked", () => {
    assertNoPanic(suite.system, assert);
  });
});
