// What the services share: a stored record read, checked and answered
// with its ETag (Hono's etag middleware) and the request id.
import { Hono } from 'hono';
import { etag } from 'hono/etag';
import { requestId } from 'hono/request-id';

export type Check = (value: any) => boolean;

const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;
export const isText = (value: unknown, min: number, max: number) =>
  typeof value === 'string' && value.trim().length >= min && value.length <= max;
export const isTimestamp = (value: unknown) => typeof value === 'string' && TIMESTAMP.test(value);

export function recordService(binding: string, prefix: string, route: string, check: Check, missing: string) {
  const app = new Hono<{ Bindings: Record<string, KVNamespace>; Variables: { requestId: string } }>();
  app.use(requestId());
  app.use(etag());
  app.get(route, async (c) => {
    const id = c.req.param('id');
    const stored = await c.env[binding].get(`${prefix}${id}`);
    if (stored === null) {
      return c.json(
        { type: '/problems/not-found', title: 'Not found', status: 404, detail: missing, instance: c.req.path, request_id: c.get('requestId') },
        404,
        { 'Content-Type': 'application/problem+json' },
      );
    }
    const record = JSON.parse(stored);
    if (!check(record)) {
      return c.json({ type: '/problems/unreadable-record', title: 'Internal error', status: 500 }, 500);
    }
    return c.body(stored, 200, { 'Content-Type': 'application/json' });
  });
  return app;
}
