// What the services share: a stored record read, checked and answered
// with its ETag and the request id. The handler sets the ETag from a cheap
// hash of the stored text, as ours does (Hono's etag middleware then only
// answers If-None-Match; left to itself it would clone the response and
// digest it with SHA-1).
import { Hono } from 'hono';
import { etag } from 'hono/etag';
import { requestId } from 'hono/request-id';

export type Check = (value: any) => boolean;

const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;
export const isText = (value: unknown, min: number, max: number) =>
  typeof value === 'string' && value.trim().length >= min && value.length <= max;
export const isTimestamp = (value: unknown) => typeof value === 'string' && TIMESTAMP.test(value);

/** A strong ETag: two 32-bit FNV-1a hashes of the text, 16 hex digits as ours. */
export function etagOf(text: string): string {
  let low = 0x811c9dc5;
  let high = 0x050c5d1f;
  for (let i = 0; i < text.length; i += 1) {
    const code = text.charCodeAt(i);
    low = Math.imul(low ^ code, 0x01000193);
    high = Math.imul(high ^ code, 0x01000193);
  }
  const hex = (n: number) => (n >>> 0).toString(16).padStart(8, '0');
  return `"${hex(high)}${hex(low)}"`;
}

export function recordService(binding: string, prefix: string, route: string, check: Check, noun: string) {
  const app = new Hono<{ Bindings: Record<string, KVNamespace>; Variables: { requestId: string } }>();
  app.use(requestId());
  app.use(etag());
  app.get(route, async (c) => {
    const id = c.req.param('id');
    const stored = await c.env[binding].get(`${prefix}${id}`);
    if (stored === null) {
      return c.json(
        { type: '/problems/not-found', title: 'Not found', status: 404, detail: `${noun} ${id} does not exist`, instance: c.req.path, request_id: c.get('requestId') },
        404,
        { 'Content-Type': 'application/problem+json' },
      );
    }
    const record = JSON.parse(stored);
    if (!check(record)) {
      return c.json({ type: '/problems/unreadable-record', title: 'Internal error', status: 500 }, 500);
    }
    return c.body(stored, 200, { 'Content-Type': 'application/json', ETag: etagOf(stored) });
  });
  return app;
}
