// Where a request's time goes: loads our system in Miniflare with workerd's
// V8 inspector open, drives one route with wrk, and prints each worker's
// top functions by self time (wasm and JavaScript frames alike).
//
//   node bench/profile.mjs [path] [seconds]     (default /users/1, 5)
//   PROFILE_SCRIPT=bench/post-user.lua node bench/profile.mjs /users 5
//     (a wrk script for writes; it gets the dev key and a run tag)
//   PROFILE_PEER=<dir> node bench/profile.mjs     (the Hono peer instead,
//     bundled in <dir>/dist/ as scripts/bench.sh does)
//
// For wasm function names, build with KEEP_WASM_NAMES=1 scripts/build.sh.
import { devApiKey, startSystem } from "../tests/support/system.mjs";
import { startPeer } from "./systems.mjs";
import { runWrk } from "./wrk.mjs";

const INSPECTOR_PORT = 9331;
const SAMPLING_MICROS = 50;
const TOP = 18;
const [path = "/users/1", seconds = "5"] = process.argv.slice(2);

const system = process.env.PROFILE_PEER
  ? await startPeer(process.env.PROFILE_PEER, { inspectorPort: INSPECTOR_PORT })
  : await startSystem({
      ratelimits: { gateway: { RATE_LIMITER: null } },
      assets: false,
      keepLogs: false,
      inspectorPort: INSPECTOR_PORT,
    });
try {
  const targets = await (await fetch(`http://127.0.0.1:${INSPECTOR_PORT}/json`)).json();
  const sessions = await Promise.all(targets.map((target) => openSession(target)));
  const script = process.env.PROFILE_SCRIPT;
  const wrk = script ? { script, scriptArgs: [devApiKey(), `profile-${Date.now()}`] } : {};
  await runWrk(system.url + path, { duration: 1, ...wrk });
  await Promise.all(sessions.map((s) => s.start()));
  const load = await runWrk(system.url + path, { duration: Number(seconds), ...wrk });
  const profiles = await Promise.all(sessions.map((s) => s.stop()));
  console.log(`${path}: ${load.rps.toFixed(0)} req/s, p50 ${load.p50} ms, p99 ${load.p99} ms under the profiler\n`);
  sessions.forEach((session, i) => printProfile(session.title, profiles[i]));
  if (process.env.PROFILE_OUT) {
    const { writeFileSync } = await import("node:fs");
    writeFileSync(process.env.PROFILE_OUT, JSON.stringify(sessions.map((s, i) => ({ title: s.title, profile: profiles[i] }))));
  }
  sessions.forEach((s) => s.close());
} finally {
  await system.stop();
}

async function openSession(target) {
  const socket = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise((resolve, reject) => {
    socket.onopen = resolve;
    socket.onerror = reject;
  });
  let nextId = 1;
  const pending = new Map();
  socket.onmessage = (event) => {
    const message = JSON.parse(event.data);
    pending.get(message.id)?.(message.result);
    pending.delete(message.id);
  };
  const send = (method, params = {}) =>
    new Promise((resolve) => {
      const id = nextId++;
      pending.set(id, resolve);
      socket.send(JSON.stringify({ id, method, params }));
    });
  await send("Profiler.enable");
  await send("Profiler.setSamplingInterval", { interval: SAMPLING_MICROS });
  return {
    title: target.title,
    start: () => send("Profiler.start"),
    stop: async () => (await send("Profiler.stop")).profile,
    close: () => socket.close(),
  };
}

function printProfile(title, profile) {
  const totalSamples = profile.samples.length;
  const selfSamples = new Map();
  for (const node of profile.nodes) {
    const { functionName, url, lineNumber, columnNumber } = node.callFrame;
    const file = url.split("/").pop() || "";
    const where = file && !functionName ? `${file}:${lineNumber + 1}:${columnNumber + 1}` : file;
    const name = `${functionName || "(anonymous)"} ${where}`.trim();
    selfSamples.set(name, (selfSamples.get(name) ?? 0) + (node.hitCount ?? 0));
  }
  const busy = totalSamples - (selfSamples.get("(idle)") ?? 0);
  console.log(`${title}: ${busy} busy samples of ${totalSamples}`);
  const rows = [...selfSamples].filter(([name]) => name !== "(idle)").sort((a, b) => b[1] - a[1]);
  for (const [name, samples] of rows.slice(0, TOP)) {
    console.log(`  ${((100 * samples) / Math.max(busy, 1)).toFixed(1).padStart(5)}%  ${name}`);
  }
  console.log();
}
