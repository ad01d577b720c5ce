// Floor (b): JavaScript that awaits once (one promise hop) before answering.
export default {
  async fetch() {
    await Promise.resolve();
    return new Response("ok");
  },
};
