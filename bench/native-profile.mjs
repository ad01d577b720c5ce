// Where workerd's CPU goes per request, native frames included: the V8
// profiler (bench/profile.mjs) sees only JavaScript and wasm, and slows
// wasm down. This samples the whole workerd process with Linux `perf`
// (software cpu-clock, so it works in a VM without hardware counters),
// drives one route with wrk, and prints microseconds per request by where
// they were spent: compiled code (our wasm and JavaScript, or the peer's
// JavaScript), V8's built-ins and interpreter, V8 itself (GC included),
// workerd's runtime (headers, requests, responses, promises), the
// allocator, the kernel. Then the functions that cost the most per request.
//
//   node bench/native-profile.mjs <ours|peer|parity> [path] [seconds]
//
// peer and parity need PROFILE_PEER=<dir>, bundled as scripts/bench.sh
// does (<dir>/dist/, <dir>/parity-dist/). Needs `perf` on the PATH.
import { execFile, execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { workerdChildren } from "./cpu.mjs";
import { startOurs, startParity, startPeer } from "./systems.mjs";
import { runWrk } from "./wrk.mjs";

const run = promisify(execFile);
const SAMPLES_PER_SECOND = 4000;
const WARM_UP_SECONDS = 2;
const TOP = 25;
const [side = "ours", path = "/users/1", seconds = "8"] = process.argv.slice(2);
const STARTS = {
  ours: () => startOurs(),
  peer: () => startPeer(peerDir()),
  parity: () => startParity(peerDir()),
};

function peerDir() {
  if (!process.env.PROFILE_PEER) throw new Error("PROFILE_PEER=<dir> is needed for the peer and parity");
  return process.env.PROFILE_PEER;
}

if (!STARTS[side]) throw new Error(`side must be one of ${Object.keys(STARTS).join(", ")}`);
const scratch = mkdtempSync(join(tmpdir(), "native-profile-"));
const before = new Set(workerdChildren());
const system = await STARTS[side]();
try {
  const pids = workerdChildren().filter((pid) => !before.has(pid));
  await runWrk(system.url + path, { duration: WARM_UP_SECONDS });
  const data = join(scratch, "perf.data");
  const duration = Number(seconds);
  const load = runWrk(system.url + path, { duration: duration + 2 });
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const record = ["record", "-e", "cpu-clock", "-F", String(SAMPLES_PER_SECOND), "-o", data];
  await run("perf", [...record, "-p", pids.join(","), "--", "sleep", String(duration)]);
  const { rps } = await load;
  const requests = rps * duration;
  console.log(`${side} ${path}: ${rps.toFixed(0)} req/s; microseconds of workerd CPU per request:\n`);
  const perRequest = (samples) => (samples * 1e6) / SAMPLES_PER_SECOND / requests;
  const functions = report(data, "dso,sym");
  const total = functions.reduce((sum, { samples }) => sum + samples, 0);
  console.log(`  ${perRequest(total).toFixed(0).padStart(6)}  all`);
  const byKind = new Map();
  for (const { name, samples } of functions) byKind.set(kind(name), (byKind.get(kind(name)) ?? 0) + samples);
  for (const [label, samples] of [...byKind].sort((a, b) => b[1] - a[1])) {
    console.log(`  ${perRequest(samples).toFixed(1).padStart(6)}  ${label}`);
  }
  console.log("\n  top functions:");
  for (const { samples, name } of functions.slice(0, TOP)) {
    console.log(`  ${perRequest(samples).toFixed(1).padStart(6)}  ${name.slice(0, 140)}`);
  }
} finally {
  await system.stop();
  rmSync(scratch, { recursive: true, force: true });
}

/** What a function of `perf report` is part of. */
function kind(name) {
  const KINDS = [
    [/^\[JIT\]/, "compiled code (wasm, optimised JavaScript)"],
    [/^\[kernel/, "kernel"],
    [/\[\.\] (Builtins_|v8_Default_embedded)/, "V8 built-ins and interpreter"],
    [/\[\.\] (tcmalloc|TCMalloc)/, "allocator (tcmalloc)"],
    [/\[\.\] (v8::|cppgc::|heap::|_ZN2v8|Runtime_)/, "V8 (GC included)"],
    [/\[\.\] (workerd::|kj::|capnp::|_ZN7workerd|_ZN2kj)/, "workerd runtime"],
    [/^libc/, "libc"],
  ];
  return KINDS.find(([pattern]) => pattern.test(name))?.[1] ?? "other";
}

/** `perf report` grouped by `sort`: samples and name, most first. */
function report(data, sort) {
  const text = execFileSync(
    "perf",
    ["report", "-i", data, "--no-children", "--sort", sort, "-g", "none", "--stdio", "-n", "-q"],
    { encoding: "utf8", maxBuffer: 64 * 1024 * 1024, stdio: ["ignore", "pipe", "ignore"] },
  );
  const rows = new Map();
  for (const line of text.split("\n")) {
    const match = line.match(/^\s*[\d.]+%\s+(\d+)\s+(.*)$/);
    if (!match) continue;
    const name = match[2].replace(/\[JIT\] tid \d+/, "[JIT]").replace(/\s+/g, " ").trim();
    rows.set(name, (rows.get(name) ?? 0) + Number(match[1]));
  }
  return [...rows].map(([name, samples]) => ({ name, samples })).sort((a, b) => b.samples - a.samples);
}
