// JWT bearer tokens verified at the edge, on the real gateway build: tokens
// minted here with Node's crypto, the provider's JWK set served to the
// gateway's outgoing fetch by a function the tests switch (serve, rotate,
// fail) and that counts the fetches. The services are JavaScript stand-ins
// that echo what they received.
//
// The key cache lives in the gateway's isolate, so every test that depends
// on what the cache holds (fetch counts, rotation, the provider being down)
// has a system of its own.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPairSync, sign, createHmac, constants } from "node:crypto";
import { suiteSystem, devApiKey } from "./support/system.mjs";
import { assertProblem } from "./support/problem.mjs";

const JWKS_URL = "https://idp.test/.well-known/jwks.json";
const ISSUER = "https://idp.test/";
const AUDIENCE = "edge-api";
const ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"];
const CHALLENGE = 'Bearer error="invalid_token"';

const JWT_VARS = {
  JWKS_URL,
  JWT_ISSUER: ISSUER,
  JWT_AUDIENCE: AUDIENCE,
  JWT_ALGORITHMS: ALGORITHMS.join(","),
  JWT_LEEWAY_SECS: "60",
};

// ---- keys and tokens ------------------------------------------------------

const HASH = { 256: "sha256", 384: "sha384", 512: "sha512" };

/** A key pair for `alg` (RSA for RS* and PS*: providers publish PS keys as kty RSA). */
function keyPair(alg) {
  if (alg.startsWith("RS") || alg.startsWith("PS")) return generateKeyPairSync("rsa", { modulusLength: 2048 });
  if (alg === "ES256") return generateKeyPairSync("ec", { namedCurve: "P-256" });
  if (alg === "ES384") return generateKeyPairSync("ec", { namedCurve: "P-384" });
  if (alg === "EdDSA") return generateKeyPairSync("ed25519");
  throw new Error(alg);
}

/** A signing key: its kid, the public JWK the provider publishes, and the private key. */
function signingKey(alg, kid = `${alg.toLowerCase()}-1`, { publishAlg = true } = {}) {
  const { publicKey, privateKey } = keyPair(alg);
  const jwk = { ...publicKey.export({ format: "jwk" }), kid, use: "sig", ...(publishAlg ? { alg } : {}) };
  return { alg, kid, jwk, privateKey };
}

function signWith(alg, privateKey, data) {
  const bits = alg.slice(2);
  if (alg.startsWith("RS")) return sign(HASH[bits], data, privateKey);
  if (alg.startsWith("PS")) {
    return sign(HASH[bits], data, { key: privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: bits / 8 });
  }
  if (alg.startsWith("ES")) return sign(HASH[bits], data, { key: privateKey, dsaEncoding: "ieee-p1363" });
  if (alg === "EdDSA") return sign(null, data, privateKey);
  throw new Error(alg);
}

const b64url = (bytes) => Buffer.from(bytes).toString("base64url");
const now = () => Math.floor(Date.now() / 1000);

/** Claims a configured gateway accepts, with `overrides` (undefined removes one). */
function claims(overrides = {}) {
  const base = { iss: ISSUER, aud: AUDIENCE, sub: "alice", iat: now(), nbf: now(), exp: now() + 300 };
  const all = { ...base, ...overrides };
  return Object.fromEntries(Object.entries(all).filter(([, value]) => value !== undefined));
}

/**
 * A compact JWS. `key` signs it with `alg` (default the key's own) and its
 * kid unless `header` says otherwise; `signature` replaces the signature
 * bytes (for `none` and HMAC tokens).
 */
function mint({ key, alg = key?.alg, header = {}, payload = claims(), signature }) {
  const head = b64url(JSON.stringify({ alg, typ: "JWT", kid: key?.kid, ...header }));
  const body = b64url(JSON.stringify(payload));
  const input = `${head}.${body}`;
  const bytes = signature ?? signWith(alg, key.privateKey, Buffer.from(input));
  return `${input}.${b64url(bytes)}`;
}

// ---- the provider's JWK set ----------------------------------------------

/**
 * The provider's JWKS endpoint as the gateway's outbound service: `keys` is
 * the published set, `mode` is "serve", "down" (503) or "unreachable"
 * (throws), and `fetches` counts the gateway's fetches of the set.
 */
function provider(keys) {
  const state = { keys, mode: "serve", fetches: 0 };
  state.outbound = async (request) => {
    if (request.url !== JWKS_URL) return new Response("no such host", { status: 502 });
    state.fetches += 1;
    if (state.mode === "down") return new Response("maintenance", { status: 503 });
    if (state.mode === "unreachable") throw new Error("connection refused");
    return Response.json({ keys: state.keys.map((key) => key.jwk) });
  };
  return state;
}

/** A stand-in service that echoes the method, path and headers it received. */
const echo = (service) => `
export default {
  async fetch(request) {
    await request.text();
    const url = new URL(request.url);
    return Response.json({ service: "${service}", method: request.method, path: url.pathname,
      headers: Object.fromEntries(request.headers) });
  },
};`;

function jwtSystem(idp, { vars = JWT_VARS } = {}) {
  return suiteSystem({
    standIns: { users: echo("users"), products: echo("products") },
    vars: { gateway: vars },
    outbound: { gateway: idp.outbound },
  });
}

// ---- requests and checks ---------------------------------------------------

const bearer = (token) => ({ authorization: `Bearer ${token}` });

function write(suite, token) {
  return suite.request("POST", "/users", { body: { name: "Ada" }, headers: bearer(token) });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** The answer's access-log entry, waiting briefly for workerd's stdout to arrive. */
async function accessEntry(suite, res) {
  const id = res.headers.get("x-request-id");
  for (let i = 0; i < 50; i++) {
    const entry = suite.system.accessLog().find((e) => e.request_id === id);
    if (entry) return entry;
    await sleep(20);
  }
  assert.fail(`no access-log entry for ${id}:\n${suite.system.logs().slice(-2000)}`);
}

/** The workers' output once it matches `pattern`, waiting briefly for it. */
async function logsMatching(suite, pattern) {
  for (let i = 0; i < 50; i++) {
    if (pattern.test(suite.system.logs())) return suite.system.logs();
    await sleep(20);
  }
  assert.fail(`the logs never matched ${pattern}:\n${suite.system.logs().slice(-2000)}`);
}

/** The write went through to the service, which did not see the token, and the log names the subject. */
async function assertAccepted(suite, res, subject = "alice") {
  assert.equal(res.status, 200, res.text);
  assert.equal(res.json.service, "users");
  assert.equal(res.json.method, "POST");
  assert.equal(res.json.headers.authorization, undefined, "the token is not forwarded");
  assert.equal((await accessEntry(suite, res)).caller, `sub:${subject}`);
}

/** The one answer to every refused token. */
async function assertRefused(suite, res, context) {
  const body = assertProblem(res, 401, { instance: "/users", context });
  assert.equal(res.headers.get("www-authenticate"), CHALLENGE, context);
  assert.equal(body.detail, "the bearer token is not valid", context);
  assert.equal((await accessEntry(suite, res)).status, 401);
  return body;
}

// ---- the system with every key published -----------------------------------

describe("JWT bearer tokens", () => {
  const keys = Object.fromEntries(ALGORITHMS.map((alg) => [alg, signingKey(alg)]));
  const bare = signingKey("RS256", "rsa-without-alg", { publishAlg: false });
  const idp = provider([...Object.values(keys), bare]);
  const suite = jwtSystem(idp);
  const rs256 = keys.RS256;

  for (const alg of ALGORITHMS) {
    test(`a good ${alg} token is accepted for a write and names its subject`, async () => {
      const res = await write(suite, mint({ key: keys[alg], payload: claims({ sub: `user-${alg}` }) }));
      await assertAccepted(suite, res, `user-${alg}`);
    });
  }

  test("a JWK without alg verifies the algorithms its key type fits", async () => {
    await assertAccepted(suite, await write(suite, mint({ key: bare, alg: "RS256" })));
    await assertAccepted(suite, await write(suite, mint({ key: bare, alg: "PS384" })));
    await assertRefused(suite, await write(suite, mint({ key: bare, alg: "ES256", signature: Buffer.alloc(64, 1) })));
  });

  test("a read with a token is named by its subject", async () => {
    const res = await suite.request("GET", "/users/1", { headers: bearer(mint({ key: keys.ES256, payload: claims({ sub: "reader" }) })) });
    assert.equal(res.status, 200, res.text);
    assert.equal((await accessEntry(suite, res)).caller, "sub:reader");
  });

  test("API keys keep working beside JWTs", async () => {
    const res = await suite.request("POST", "/users", { body: { name: "Ada" }, headers: bearer(devApiKey()) });
    assert.equal(res.status, 200, res.text);
    assert.match((await accessEntry(suite, res)).caller, /^key:/);
  });

  test("a bad signature is refused", async () => {
    const impostor = signingKey("RS256", rs256.kid);
    await assertRefused(suite, await write(suite, mint({ key: impostor })), "signed by another key");
    const good = mint({ key: rs256 });
    const [head, body, signature] = good.split(".");
    const bytes = Buffer.from(signature, "base64url");
    bytes[10] ^= 1;
    await assertRefused(suite, await write(suite, `${head}.${body}.${b64url(bytes)}`), "one bit flipped");
    const otherClaims = b64url(JSON.stringify(claims({ sub: "mallory" })));
    await assertRefused(suite, await write(suite, `${head}.${otherClaims}.${signature}`), "claims swapped");
  });

  test("a token without kid is refused", async () => {
    const token = mint({ key: rs256, header: { kid: undefined } });
    assert.ok(!JSON.parse(Buffer.from(token.split(".")[0], "base64url")).kid);
    await assertRefused(suite, await write(suite, token));
  });

  test("a JWK whose alg differs from the token's is refused, though the key would verify", async () => {
    // Same RSA key, published for RS256, used with RS512 and PS256.
    await assertRefused(suite, await write(suite, mint({ key: rs256, alg: "RS512" })), "RS512 with an RS256 JWK");
    await assertRefused(suite, await write(suite, mint({ key: rs256, alg: "PS256" })), "PS256 with an RS256 JWK");
    // An EC key's kid on an RSA token.
    const rsaUnderEcKid = mint({ key: { ...rs256, kid: keys.ES256.kid } });
    await assertRefused(suite, await write(suite, rsaUnderEcKid), "RS256 with an EC JWK");
  });

  test("HS256 and none are refused (algorithm confusion)", async () => {
    const input = (alg) =>
      `${b64url(JSON.stringify({ alg, typ: "JWT", kid: rs256.kid }))}.${b64url(JSON.stringify(claims()))}`;
    // HMAC keyed with the public key's bytes, the classic confusion attack.
    for (const secret of [rs256.jwk.n, JSON.stringify(rs256.jwk)]) {
      const hs = `${input("HS256")}.${b64url(createHmac("sha256", secret).update(input("HS256")).digest())}`;
      await assertRefused(suite, await write(suite, hs), "HS256");
    }
    for (const alg of ["none", "None", "NONE"]) {
      await assertRefused(suite, await write(suite, `${input(alg)}.`), `${alg} unsigned`);
      await assertRefused(suite, await write(suite, `${input(alg)}.${b64url("x")}`), `${alg} with junk`);
    }
  });

  test("an expired token, or one without exp, is refused", async () => {
    await assertRefused(suite, await write(suite, mint({ key: rs256, payload: claims({ exp: now() - 3600 }) })), "expired");
    await assertRefused(suite, await write(suite, mint({ key: rs256, payload: claims({ exp: undefined }) })), "no exp");
  });

  test("a token whose nbf is in the future is refused", async () => {
    await assertRefused(suite, await write(suite, mint({ key: rs256, payload: claims({ nbf: now() + 3600 }) })), "nbf");
    await assertRefused(suite, await write(suite, mint({ key: rs256, payload: claims({ iat: now() + 3600 }) })), "iat");
  });

  test("the leeway (60 s) is honoured for exp, nbf and iat", async () => {
    for (const overrides of [{ exp: now() - 20 }, { nbf: now() + 20 }, { iat: now() + 20 }]) {
      await assertAccepted(suite, await write(suite, mint({ key: keys.ES384, payload: claims(overrides) })));
    }
    for (const overrides of [{ exp: now() - 90 }, { nbf: now() + 90 }, { iat: now() + 90 }]) {
      const context = JSON.stringify(overrides);
      await assertRefused(suite, await write(suite, mint({ key: keys.ES384, payload: claims(overrides) })), context);
    }
  });

  test("iss and aud must match the configured ones", async () => {
    const cases = {
      "another issuer": { iss: "https://evil.test/" },
      "no issuer": { iss: undefined },
      "another audience": { aud: "other-api" },
      "an audience list without ours": { aud: ["a", "b"] },
      "no audience": { aud: undefined },
    };
    for (const [context, overrides] of Object.entries(cases)) {
      await assertRefused(suite, await write(suite, mint({ key: keys.PS256, payload: claims(overrides) })), context);
    }
    const listed = mint({ key: keys.PS256, payload: claims({ aud: ["web", AUDIENCE] }) });
    await assertAccepted(suite, await write(suite, listed));
  });

  test("a token without sub is refused", async () => {
    await assertRefused(suite, await write(suite, mint({ key: keys.EdDSA, payload: claims({ sub: undefined }) })));
  });

  test("refusals do not tell the checks apart", async () => {
    const refused = [
      mint({ key: rs256, payload: claims({ exp: now() - 3600 }) }),
      mint({ key: signingKey("RS256", rs256.kid) }),
      mint({ key: { ...rs256, kid: "nobody" } }),
    ];
    const bodies = [];
    for (const token of refused) {
      const { type, title, status, detail } = await assertRefused(suite, await write(suite, token));
      bodies.push({ type, title, status, detail });
    }
    assert.deepEqual(bodies[1], bodies[0]);
    assert.deepEqual(bodies[2], bodies[0]);
  });

  test("tokens never appear in the logs", async () => {
    const tokens = [
      mint({ key: keys.ES256, payload: claims({ sub: "logged-user" }) }),
      mint({ key: keys.ES256, payload: claims({ exp: now() - 3600 }) }),
      mint({ key: { ...keys.ES256, kid: "nobody" } }),
    ];
    for (const token of tokens) await write(suite, token);
    const last = await suite.request("GET", "/products", { headers: bearer(tokens[0]) });
    await accessEntry(suite, last);
    const logs = suite.system.logs();
    assert.match(logs, /bearer token refused/, "refusals are logged");
    assert.match(logs, /sub:logged-user/, "the accepted token's subject is logged");
    for (const token of tokens) {
      for (const part of token.split(".")) assert.ok(!logs.includes(part), `a token part in the logs: ${part.slice(0, 20)}…`);
    }
  });
});

// ---- the JWK set over time ---------------------------------------------------

describe("an unknown kid", () => {
  const known = signingKey("RS256", "known");
  const idp = provider([known]);
  const suite = jwtSystem(idp);

  test("refetches the JWK set at most once per 30 s and is refused", async () => {
    await assertAccepted(suite, await write(suite, mint({ key: known })));
    assert.equal(idp.fetches, 1, "the first token loads the set");
    await assertAccepted(suite, await write(suite, mint({ key: known })));
    assert.equal(idp.fetches, 1, "known keys come from the cache");
    await assertRefused(suite, await write(suite, mint({ key: { ...known, kid: "ghost-1" } })));
    assert.equal(idp.fetches, 2, "an unknown kid refetches");
    for (const kid of ["ghost-1", "ghost-2", "ghost-3"]) {
      await assertRefused(suite, await write(suite, mint({ key: { ...known, kid } })), kid);
    }
    assert.equal(idp.fetches, 2, "no more refetches within 30 s");
    await assertAccepted(suite, await write(suite, mint({ key: known })));
  });
});

describe("key rotation", () => {
  const before = signingKey("ES256", "2026-01");
  const after = signingKey("ES256", "2026-02");
  const idp = provider([before]);
  const suite = jwtSystem(idp);

  test("a rotated key is picked up without a restart, and the retired one is dropped", async () => {
    await assertAccepted(suite, await write(suite, mint({ key: before })));
    idp.keys = [after];
    await assertAccepted(suite, await write(suite, mint({ key: after, payload: claims({ sub: "bob" }) })), "bob");
    assert.equal(idp.fetches, 2);
    await assertRefused(suite, await write(suite, mint({ key: before })), "the retired key");
    assert.equal(idp.fetches, 2);
  });
});

describe("the JWK set down, with keys cached", () => {
  const cached = signingKey("EdDSA", "cached");
  const idp = provider([cached]);
  const suite = jwtSystem(idp);

  test("cached keys keep working, and a failed refetch keeps them", async () => {
    await assertAccepted(suite, await write(suite, mint({ key: cached })));
    idp.mode = "down";
    await assertAccepted(suite, await write(suite, mint({ key: cached })));
    assert.equal(idp.fetches, 1);
    await assertRefused(suite, await write(suite, mint({ key: { ...cached, kid: "new" } })), "unknown kid, set down");
    assert.equal(idp.fetches, 2, "the refetch was tried");
    await assertAccepted(suite, await write(suite, mint({ key: cached })));
    await logsMatching(suite, /JWK set fetch failed, cached keys kept: answered 503/);
  });
});

describe("the JWK set unreachable, with no keys cached", () => {
  const key = signingKey("RS256", "k");
  const idp = provider([key]);
  idp.mode = "unreachable";
  const suite = jwtSystem(idp);

  test("a token is refused with 401, not 5xx, and the set is not fetched again at once", async () => {
    await assertRefused(suite, await write(suite, mint({ key })));
    assert.equal(idp.fetches, 1);
    idp.mode = "down";
    await assertRefused(suite, await write(suite, mint({ key })));
    assert.equal(idp.fetches, 1, "within 30 s of a failure");
  });

  test("API keys still work", async () => {
    const res = await suite.request("POST", "/users", { body: { name: "Ada" }, headers: bearer(devApiKey()) });
    assert.equal(res.status, 200, res.text);
  });
});

describe("JWT off (no JWKS_URL, as shipped)", () => {
  const key = signingKey("RS256", "k");
  const idp = provider([key]);
  const suite = jwtSystem(idp, { vars: {} });

  test("a JWT is just an unknown key: 401 with the plain challenge, no JWK set fetched", async () => {
    const res = await write(suite, mint({ key }));
    assertProblem(res, 401, { instance: "/users" });
    assert.equal(res.headers.get("www-authenticate"), "Bearer");
    assert.equal(idp.fetches, 0);
  });
});

describe("JWT settings that are unsafe", () => {
  const key = signingKey("RS256", "k");
  const idp = provider([key]);
  const suite = jwtSystem(idp, { vars: { ...JWT_VARS, JWT_ALGORITHMS: "RS256,HS256" } });

  test("refuse every token and say why in the log", async () => {
    await assertRefused(suite, await write(suite, mint({ key })));
    assert.equal(idp.fetches, 0);
    await logsMatching(suite, /JWT settings invalid: JWT_ALGORITHMS: HS256/);
  });
});
