// The gateway's concerns as a Hono developer would write them with Hono's
// own middleware: request id, CORS, security headers, a timeout, a
// deadline and a breaker per service, and a JSON access-log line. GET
// routes only: the benchmark reads with it.
import { Hono } from 'hono';
import { cors } from 'hono/cors';
import { requestId } from 'hono/request-id';
import { secureHeaders } from 'hono/secure-headers';

type Env = { USERS: Fetcher; PRODUCTS: Fetcher };
type Variables = { requestId: string; service?: string; serviceStatus?: number };
const app = new Hono<{ Bindings: Env; Variables: Variables }>();

const TIMEOUT_MS = 3000;
const BREAKER_THRESHOLD = 5;
const BREAKER_COOLDOWN_MS = 10_000;
const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade'];
const breakers = new Map<string, { failures: number; openUntil: number }>();

app.use(async (c, next) => {
  const started = Date.now();
  await next();
  console.log(JSON.stringify({
    time: new Date(started).toISOString(),
    request_id: c.get('requestId'),
    method: c.req.method,
    path: c.req.path,
    status: c.res.status,
    duration_ms: Date.now() - started,
    service: c.get('service') ?? null,
    service_status: c.get('serviceStatus') ?? null,
    caller: `ip:${c.req.header('cf-connecting-ip') ?? 'unknown'}`,
  }));
});
app.use(requestId());
app.use(cors({ origin: ['http://localhost:3000', 'http://127.0.0.1:3000'] }));
app.use(secureHeaders({
  contentSecurityPolicy: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] },
  strictTransportSecurity: 'max-age=31536000; includeSubDomains',
  referrerPolicy: 'no-referrer',
  xContentTypeOptions: true,
  crossOriginEmbedderPolicy: false,
  crossOriginOpenerPolicy: false,
  crossOriginResourcePolicy: false,
  originAgentCluster: false,
  xDnsPrefetchControl: false,
  xDownloadOptions: false,
  xFrameOptions: false,
  xPermittedCrossDomainPolicies: false,
  xXssProtection: false,
}));

function traceparent(incoming: string | undefined): string {
  const hex = (bytes: Uint8Array) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  const random = crypto.getRandomValues(new Uint8Array(24));
  const trace = incoming?.match(/^00-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/)?.[1] ?? hex(random.subarray(0, 16));
  return `00-${trace}-${hex(random.subarray(16))}-01`;
}

async function forward(c: any, service: 'users' | 'products', binding: Fetcher) {
  c.set('service', service);
  const breaker = breakers.get(service) ?? { failures: 0, openUntil: 0 };
  breakers.set(service, breaker);
  if (breaker.openUntil > Date.now()) {
    return c.json({ type: '/problems/circuit-open', title: 'Service unavailable', status: 503 }, 503, { 'Retry-After': '10' });
  }
  const headers = new Headers(c.req.raw.headers);
  for (const name of HOP_BY_HOP) headers.delete(name);
  headers.set('X-Request-Id', c.get('requestId'));
  headers.set('traceparent', traceparent(c.req.header('traceparent')));
  headers.set('X-Deadline', String(Date.now() + TIMEOUT_MS - 250));
  try {
    const response = await binding.fetch(c.req.url, {
      method: c.req.method,
      headers,
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
    c.set('serviceStatus', response.status);
    breaker.failures = response.status >= 500 ? breaker.failures + 1 : 0;
    if (breaker.failures >= BREAKER_THRESHOLD) breaker.openUntil = Date.now() + BREAKER_COOLDOWN_MS;
    // A fetched answer's headers are immutable; the middleware sets some.
    return new Response(response.body, response);
  } catch {
    breaker.failures += 1;
    if (breaker.failures >= BREAKER_THRESHOLD) breaker.openUntil = Date.now() + BREAKER_COOLDOWN_MS;
    return c.json({ type: '/problems/upstream-unavailable', title: 'Bad gateway', status: 502 }, 502);
  }
}

app.get('/users/*', (c) => forward(c, 'users', c.env.USERS));
app.get('/products/*', (c) => forward(c, 'products', c.env.PRODUCTS));

export default app;
