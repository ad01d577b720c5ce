// The API reference at /docs: over HTTP (the page and its files come through
// the gateway's pipeline, with the reference page's own content policy), and
// in a real browser: Debian's Chromium, driven by playwright-core (nothing is
// downloaded), opens /docs from the system the harness starts, finds every
// documented operation of both services, and sends GET /products/101 through
// the page's own "Try it out". Any console error, page error, failed or
// refused request, or CSP violation fails a browser test. Screenshots are
// kept under target/docs/ (not committed).
import { describe, test, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { ROOT, suiteSystem, readConfig } from "./support/system.mjs";
import { assertProblem } from "./support/problem.mjs";
import { accessLogLines, sleep, withinOneWindow } from "./support/helpers.mjs";

const CHROMIUM = "/usr/bin/chromium";
const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
const ARTEFACTS = join(ROOT, "target", "docs");

const DOCS_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
const API_CSP = "default-src 'none'; frame-ancestors 'none'";

const PAGE_SOURCE = readFileSync(join(ROOT, "workers/gateway/docs/index.html"), "utf8");
const OPERATION_IDS = Object.values(JSON.parse(readFileSync(join(ROOT, "openapi.json"), "utf8")).paths)
  .flatMap((item) => Object.values(item))
  .map((operation) => operation.operationId)
  .filter(Boolean);
const LAPTOP = JSON.parse(readFileSync(join(ROOT, "seed/products.json"), "utf8")).find((e) => e.key === "product:101").value;

const CONTENT_TYPES = { html: "text/html", js: "text/javascript", css: "text/css", png: "image/png" };

/** Every `src` and `href` of the page, in order. */
const pageReferences = () => [...PAGE_SOURCE.matchAll(/\s(?:src|href)="([^"]*)"/g)].map((m) => m[1]);

function assertDocsHeaders(res, what) {
  assert.equal(res.headers.get("content-security-policy"), DOCS_CSP, what);
  assert.equal(res.headers.get("x-content-type-options"), "nosniff", what);
  assert.equal(res.headers.get("referrer-policy"), "no-referrer", what);
  assert.match(res.headers.get("strict-transport-security") ?? "", /max-age=\d+/, what);
  assert.ok(res.headers.get("x-request-id"), what);
}

describe("the reference page over HTTP", () => {
  const suite = suiteSystem();
  const { request } = suite;

  test("GET /docs is the page, with the reference page's policy, logged like any answer", async () => {
    const id = `docs-page-${Date.now()}`;
    const res = await request("GET", "/docs", { headers: { "x-request-id": id } });
    assert.equal(res.status, 200, res.text);
    assert.match(res.headers.get("content-type") ?? "", /^text\/html\b/);
    assertDocsHeaders(res, "GET /docs");
    assert.equal(res.headers.get("x-request-id"), id);
    assert.equal(res.text, PAGE_SOURCE);
    const [line] = await accessLogLines(suite.system, id);
    assert.equal(line.path, "/docs");
    assert.equal(line.status, 200);
  });

  test("every file the page refers to is its own, under /docs/, served with its type and the same policy", async () => {
    const references = pageReferences();
    assert.ok(references.length >= 4, references.join(", "));
    for (const path of references) {
      assert.match(path, /^\/docs\/[A-Za-z0-9_-][A-Za-z0-9._-]*$/, `${path} is a file of the page`);
      const res = await request("GET", path);
      assert.equal(res.status, 200, `${path}: ${res.text.slice(0, 300)}`);
      assert.ok(res.text.length > 0, path);
      const expected = CONTENT_TYPES[path.split(".").pop()];
      assert.ok(res.headers.get("content-type")?.startsWith(expected), `${path}: ${res.headers.get("content-type")}`);
      assertDocsHeaders(res, path);
    }
  });

  test("HEAD /docs answers as GET without the body; a known ETag is a 304", async () => {
    const head = await request("HEAD", "/docs");
    assert.equal(head.status, 200);
    assert.equal(head.text, "");
    assertDocsHeaders(head, "HEAD /docs");
    const etag = head.headers.get("etag");
    assert.match(etag ?? "", /^"[^"]+"$/);
    const again = await request("GET", "/docs", { headers: { "if-none-match": etag } });
    assert.equal(again.status, 304);
    assert.equal(again.text, "");
    assertDocsHeaders(again, "304");
  });

  test("a file the page does not have is the gateway's 404 problem, with the API's policy", async () => {
    for (const path of ["/docs/nothing.js", "/docs/", "/docs/.hidden", "/docs/a/b.js"]) {
      const res = await request("GET", path);
      assertProblem(res, 404, { instance: path });
      assert.equal(res.headers.get("content-security-policy"), API_CSP, path);
    }
  });

  test("writes to /docs are 405 with Allow: GET, HEAD", async () => {
    for (const [method, path] of [["POST", "/docs"], ["DELETE", "/docs/docs.js"]]) {
      const res = await request(method, path);
      assertProblem(res, 405);
      assert.equal(res.headers.get("allow"), "GET, HEAD");
      assert.equal(res.headers.get("content-security-policy"), API_CSP);
    }
  });

  test("the document the page loads keeps the API's policy", async () => {
    const res = await request("GET", "/openapi.json");
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-security-policy"), API_CSP);
  });
});

describe("the reference page and the rate limit", () => {
  const { request } = suiteSystem({ ratelimits: { gateway: { RATE_LIMITER: { limit: 3 } } } });
  const { period } = readConfig("gateway").ratelimits.find((r) => r.name === "RATE_LIMITER").simple;
  beforeEach(() => withinOneWindow(period, 5000));

  test("requests for /docs count against the caller like any other: the 4th is a 429", async () => {
    const headers = { "cf-connecting-ip": "203.0.113.70" };
    for (const path of ["/docs", "/docs/docs.js", "/docs/docs.css"]) {
      assert.equal((await request("GET", path, { headers })).status, 200, path);
    }
    assertProblem(await request("GET", "/docs", { headers }), 429, { instance: "/docs" });
  });
});

describe("the reference page in Chromium", () => {
  const suite = suiteSystem();
  let context;
  let profile;

  before(async () => {
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: scripts/test.sh installs Debian's chromium (apt-get install -y chromium)`);
    mkdirSync(ARTEFACTS, { recursive: true });
    profile = mkdtempSync(join(tmpdir(), "docs-chromium-"));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: FLAGS,
      viewport: { width: 1280, height: 900 },
    });
  });

  after(async () => {
    await context?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  /**
   * A new tab that records everything that went wrong in it: console errors
   * (the page's and the browser's own log, where refused loads are
   * reported), uncaught errors, failed requests, answers of 400 and above,
   * and CSP violations (`securitypolicyviolation`).
   */
  async function openTab() {
    const page = await context.newPage();
    const problems = [];
    page.on("console", (message) => {
      if (message.type() === "error") problems.push(`console: ${message.text()}`);
    });
    page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
    page.on("requestfailed", (req) => problems.push(`request failed: ${req.url()} (${req.failure()?.errorText})`));
    page.on("response", (res) => {
      if (res.status() >= 400) problems.push(`answer ${res.status()}: ${res.url()}`);
    });
    const cdp = await context.newCDPSession(page);
    await cdp.send("Log.enable");
    cdp.on("Log.entryAdded", ({ entry }) => {
      if (entry.level === "error") problems.push(`browser log (${entry.source}): ${entry.text} ${entry.url ?? ""}`);
    });
    await page.exposeFunction("reportViolation", (text) => problems.push(`CSP violation: ${text}`));
    await page.addInitScript(() =>
      document.addEventListener("securitypolicyviolation", (event) =>
        window.reportViolation(`${event.violatedDirective} refused ${event.blockedURI || "inline"} (${event.sourceFile}:${event.lineNumber})`),
      ),
    );
    return { page, problems };
  }

  /** Opens /docs and waits until Swagger UI has drawn the operations. */
  async function openDocs() {
    const tab = await openTab();
    const response = await tab.page.goto(`${suite.system.url}/docs`);
    assert.equal(response.status(), 200);
    assert.equal(response.headers()["content-security-policy"], DOCS_CSP);
    await tab.page.locator("#operations-products-getProduct").waitFor();
    return tab;
  }

  test("every documented operation of both services is rendered, without an error", async () => {
    const { page, problems } = await openDocs();
    try {
      assert.match(await page.locator(".info .title").first().innerText(), /^Edge microservices API\b/);
      const rendered = await page.locator(".opblock-summary-operation-id").allTextContents();
      assert.deepEqual([...rendered].sort(), [...OPERATION_IDS].sort());
      for (const id of ["listUsers", "getUser", "createUser", "listFavorites", "listProducts", "getProduct", "createProduct"]) {
        assert.ok(rendered.includes(id), id);
      }
      for (const tag of ["users", "products", "gateway"]) {
        assert.equal(await page.locator(`.opblock-tag[data-tag="${tag}"]`).count(), 1, `the ${tag} section`);
      }
      await page.screenshot({ path: join(ARTEFACTS, "docs.png") });
      assert.deepEqual(problems, []);
    } finally {
      await page.close();
    }
  });

  test("Try it out sends GET /products/101 through the gateway and shows its answer", async () => {
    const { page, problems } = await openDocs();
    try {
      const operation = page.locator("#operations-products-getProduct");
      await operation.locator(".opblock-summary").first().click();
      await operation.locator(".try-out__btn").click();
      await operation.locator('tr[data-param-name="id"] input').fill("101");
      const answered = page.waitForResponse((res) => new URL(res.url()).pathname === "/products/101");
      await operation.locator(".execute").click();
      assert.equal((await answered).status(), 200);

      const live = operation.locator(".live-responses-table");
      await live.waitFor();
      assert.equal((await operation.locator(".request-url pre").innerText()).trim(), `${suite.system.url}/products/101`);
      assert.equal((await live.locator("tbody .response-col_status").first().innerText()).trim(), "200");
      const body = JSON.parse(await live.locator(".response-col_description .highlight-code pre").first().innerText());
      assert.equal(body.id, "101");
      assert.equal(body.name, LAPTOP.name);
      assert.deepEqual(body.price, LAPTOP.price);

      // The answer shown is the gateway's: its request id is in the access log.
      const headers = await live.locator(".response-col_description pre.microlight").nth(1).innerText();
      const requestId = headers.match(/x-request-id: (\S+)/)?.[1];
      assert.ok(requestId, headers);
      const [line] = await accessLogLines(suite.system, requestId);
      assert.deepEqual([line.method, line.path, line.status, line.service], ["GET", "/products/101", 200, "products"]);

      await live.scrollIntoViewIfNeeded();
      await operation.locator(".request-url").scrollIntoViewIfNeeded();
      await page.screenshot({ path: join(ARTEFACTS, "try-it.png") });
      assert.deepEqual(problems, []);
    } finally {
      await page.close();
    }
  });

  test("the page's policy refuses inline scripts, handlers and styles and other origins, and the test sees each refusal", async () => {
    const { page, problems } = await openDocs();
    try {
      assert.deepEqual(problems, []);
      // Page-side code (a DevTools evaluation itself may bypass the policy).
      const outcomes = await page.evaluate(async () => {
        const script = document.createElement("script");
        script.textContent = "window.inlineScriptRan = true";
        document.head.append(script);
        const button = document.createElement("button");
        button.setAttribute("onclick", "window.inlineHandlerRan = true");
        document.body.append(button);
        button.click();
        const style = document.createElement("style");
        style.textContent = "body { background-color: rgb(255, 0, 0) }";
        document.head.append(style);
        let fetched;
        try {
          await fetch("http://127.0.0.1:9/");
          fetched = "sent";
        } catch (error) {
          fetched = error.name;
        }
        return {
          inlineScript: window.inlineScriptRan === true,
          inlineHandler: window.inlineHandlerRan === true,
          inlineStyle: getComputedStyle(document.body).backgroundColor === "rgb(255, 0, 0)",
          fetched,
        };
      });
      assert.deepEqual(outcomes, { inlineScript: false, inlineHandler: false, inlineStyle: false, fetched: "TypeError" });
      const expected = ["script-src-elem", "script-src-attr", "style-src-elem", "connect-src"];
      const violations = () => problems.filter((p) => p.startsWith("CSP violation"));
      for (let i = 0; i < 100 && !expected.every((d) => violations().some((v) => v.includes(d))); i++) await sleep(20);
      for (const directive of expected) {
        assert.ok(violations().some((v) => v.includes(directive)), `${directive} in:\n${problems.join("\n")}`);
      }
      // The browser reports each refusal as a console error too.
      const consoleRefusals = problems.filter((p) => p.startsWith("console:") && p.includes("Content Security Policy"));
      assert.ok(consoleRefusals.length >= expected.length, problems.join("\n"));
    } finally {
      await page.close();
    }
  });
});
