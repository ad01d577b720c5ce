// The KV reference in JavaScript: one KV get answered as the body.
export default {
  async fetch(_request, env) {
    const value = await env.KV.get("k");
    return new Response(value);
  },
};
