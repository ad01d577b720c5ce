// The await reference in JavaScript: one resolved promise awaited, its value answered.
export default {
  async fetch() {
    const value = await Promise.resolve("value");
    return new Response(value);
  },
};
