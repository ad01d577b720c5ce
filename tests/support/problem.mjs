// The one check of an RFC 9457 problem answer, for every test file.
import assert from "node:assert/strict";

/** The answer's text for a failure message, cut short when long. */
const shown = (text) => (text.length > 1000 ? `${text.slice(0, 1000)}…` : text);

/**
 * Asserts an RFC 9457 problem answer: the status, Content-Type
 * application/problem+json, the members type, title, detail, instance and
 * request_id as strings, `status` equal to the answer's, and `request_id`
 * equal to the X-Request-Id header. On 422, that `errors` lists a field and a
 * message for each error, and names every one of `fields`. Returns the body.
 *
 * Options:
 * - instance: the `instance` the problem must carry;
 * - requestId: the X-Request-Id the client sent, which the answer must keep;
 * - fields: on 422, the fields the errors must name (as `fieldOf` maps
 *   each error's field, by default itself);
 * - context: put before every failure message (which case failed).
 */
export function assertProblem(res, status, { instance, requestId, fields, fieldOf = (field) => field, context } = {}) {
  const say = (message) => (context ? `${context}: ${message}` : message);
  const text = shown(res.text);
  assert.equal(res.status, status, say(text));
  const type = res.headers.get("content-type") ?? "";
  assert.match(type, /^application\/problem\+json\b/, say(`Content-Type ${type}; body ${text}`));
  const body = res.json;
  assert.ok(body && typeof body === "object", say(`problem body is JSON: ${text}`));
  for (const member of ["type", "title", "detail", "instance", "request_id"]) {
    assert.equal(typeof body[member], "string", say(`problem member ${member}: ${text}`));
  }
  assert.equal(body.status, status, say("problem status"));
  const header = res.headers.get("x-request-id");
  assert.ok(header, say("X-Request-Id header"));
  assert.equal(body.request_id, header, say("request_id equals X-Request-Id"));
  if (requestId !== undefined) assert.equal(header, requestId, say("the client's X-Request-Id is kept"));
  if (instance !== undefined) assert.equal(body.instance, instance, say("problem instance"));
  if (status === 422) {
    assert.ok(Array.isArray(body.errors) && body.errors.length > 0, say(text));
    for (const error of body.errors) {
      assert.equal(typeof error.field, "string", say(text));
      assert.equal(typeof error.message, "string", say(text));
    }
    const named = body.errors.map((error) => fieldOf(error.field));
    for (const field of fields ?? []) assert.ok(named.includes(field), say(`${field} in ${named}`));
  }
  return body;
}
