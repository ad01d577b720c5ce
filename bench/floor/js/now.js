// Floor (a): JavaScript answering at once.
export default {
  fetch() {
    return new Response("ok");
  },
};
