import { startSystem, client } from "./support/system.mjs";
const system = await startSystem();
const request = client(system);
for (const p of ["/users/1", "/users/999", "/users", "/products/101", "/products?ids=101,102", "/users/1/favorites", "/health", "/openapi.json"]) {
  const g = await fetch(system.url + p); const gt = await g.arrayBuffer();
  const h = await fetch(system.url + p, { method: "HEAD" }); const ht = await h.arrayBuffer();
  console.log(p, "GET", g.status, g.headers.get("etag"), g.headers.get("content-length"), gt.byteLength, "| HEAD", h.status, h.headers.get("etag"), h.headers.get("content-length"), ht.byteLength, h.headers.get("content-type"), h.headers.get("vary"));
  if (g.headers.get("etag")) { const c = await fetch(system.url + p, { method: "HEAD", headers: { "if-none-match": g.headers.get("etag") } }); console.log("  cond", c.status, c.headers.get("etag"), c.headers.get("content-length")); }
}
for (const [m, p] of [["POST", "/health"], ["PUT", "/users"], ["DELETE", "/users"], ["POST", "/users/1"], ["POST", "/openapi.json"], ["POST", "/products/101"], ["POST", "/users/1/favorites"]]) {
  const r = await request(m, p); console.log(m, p, r.status, r.headers.get("allow"));
}
await system.stop();
