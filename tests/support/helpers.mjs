// What several test files need alike: waiting and timing, the patterns
// answers are checked against, fresh users, what USERS_KV holds, the access
// log, Retry-After, and requests fetch will not send.
import assert from "node:assert/strict";
import http from "node:http";
import { randomUUID } from "node:crypto";

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs `action` and answers `{ res, elapsed }`: its result and how long it took in ms. */
export async function timed(action) {
  const started = Date.now();
  const res = await action();
  return { res, elapsed: Date.now() - started };
}

/** The JSON value `text` holds, or undefined when it holds none. */
export function parseJson(text) {
  try {
    return text ? JSON.parse(text) : undefined;
  } catch {
    return undefined;
  }
}

/** A UUID version 4, lower-case. */
export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
/** An RFC 3339 time in UTC, as the services write `created_at` and the access log `time`. */
export const RFC3339_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;
/** A W3C traceparent: captures the trace id, the parent id and the flags. */
export const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** An address no other test uses. */
export const uniqueEmail = (tag = "u") => `${tag}-${randomUUID()}@example.com`;

/** Creates a user of the test's own through the gateway: `{ user, etag }`. */
export async function createUser(request, fields = {}) {
  const res = await request("POST", "/users", { body: { name: "Test User", email: uniqueEmail(), ...fields } });
  assert.equal(res.status, 201, res.text);
  return { user: res.json, etag: res.headers.get("etag") };
}

// USERS_KV, read directly (the keys are those of workers/users/src/lib.rs).
const usersKv = (system) => system.kv("users", "USERS_KV");
async function readJson(system, key) {
  const text = await (await usersKv(system)).get(key);
  return text === null ? null : JSON.parse(text);
}
/** The user's favourites as users stored them, or null. */
export const storedFavorites = (system, userId) => readJson(system, `favorites:${userId}`);
/** The user record as stored, or null. */
export const storedUser = (system, userId) => readJson(system, `user:${userId}`);
/** The id the email index maps `email` (lower-cased) to, or null. */
export const emailOwner = async (system, email) => (await usersKv(system)).get(`email:${email}`);

/** The access-log lines of one request, waiting briefly for stdout to arrive. */
export async function accessLogLines(system, requestId) {
  for (let i = 0; i < 50; i++) {
    const lines = system.accessLog().filter((entry) => entry.request_id === requestId);
    if (lines.length > 0) return lines;
    await sleep(20);
  }
  assert.fail(`no access-log line for ${requestId}:\n${system.logs().slice(-2000)}`);
}

/** The answer's Retry-After, asserted to be a positive number of seconds. */
export function retryAfterSecs(res) {
  const value = res.headers.get("retry-after");
  assert.match(value ?? "", /^[1-9]\d*$/, `Retry-After is a positive number of seconds: ${value}`);
  return Number(value);
}

/**
 * An HTTP/1.1 request with exactly `headers`, for headers fetch will not send
 * (hop-by-hop ones): `{ status, headers, text, json }`. A `body` is sent
 * chunked (Transfer-Encoding: chunked, no Content-Length).
 */
export function rawRequest(system, method, path, headers, body) {
  const { hostname, port } = new URL(system.url);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: hostname, port, path, method, headers, agent: false }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk) => (text += chunk));
      res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, text, json: parseJson(text) }));
    });
    req.on("error", reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

/**
 * Waits, when needed, until `neededMs` from now fit in one window of a
 * fixed-window rate limiter of `periodSecs`. Miniflare's simulated limiter
 * (miniflare's ratelimit-object.worker.js) counts per window aligned to
 * multiples of the period since the epoch and forgets every count when a new
 * one starts: a test that counts exact answers must not straddle two windows,
 * so when too little of the current one is left it starts just after the
 * next boundary.
 */
export async function withinOneWindow(periodSecs, neededMs) {
  const period = periodSecs * 1000;
  const left = period - (Date.now() % period);
  if (left < neededMs) await sleep(left + 50);
}

/**
 * A POST whose body is held open: sends the headers (with `declaredLength`
 * as Content-Length, or chunked when it is `null`) and `firstBytes` bytes,
 * then waits. Returns
 * `{ answer, send(bytes), close() }`: `answer` resolves with `{ status,
 * headers, text }` once the whole answer arrived (or rejects on a
 * connection error), `send` writes more of the body, `close` ends the
 * connection. For telling whether the server reads a refused body before
 * answering: it cannot answer while it waits for bytes that do not come.
 */
export function heldUpload(system, path, headers, declaredLength, firstBytes) {
  const { hostname, port } = new URL(system.url);
  const req = http.request({
    host: hostname,
    port,
    path,
    method: "POST",
    headers: declaredLength === null ? headers : { ...headers, "content-length": String(declaredLength) },
    agent: false,
  });
  const answer = new Promise((resolve, reject) => {
    req.on("response", (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk) => (text += chunk));
      res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, text, json: parseJson(text) }));
      res.on("error", reject);
    });
    req.on("error", reject);
  });
  answer.catch(() => {});
  const send = (bytes) => new Promise((resolve) => (req.write(Buffer.alloc(bytes, 0x61)) ? resolve() : req.once("drain", resolve)));
  send(firstBytes);
  return { answer, send, close: () => req.destroy() };
}

/** `promise`'s value, or `undefined` when it has not settled within `ms`. */
export function within(ms, promise) {
  return Promise.race([promise, sleep(ms).then(() => undefined)]);
}
