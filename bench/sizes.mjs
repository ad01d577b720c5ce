// What each worker weighs: our wasm (raw and gzip -9), wrangler's upload
// size, the peer's bundles, and how long Node takes to compile our wasm.
import { execFile } from "node:child_process";
import { readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { ROOT, WORKERS, readConfig } from "../tests/support/system.mjs";
import { median } from "./stats.mjs";

const run = promisify(execFile);

export const GZIP_TARGET_KIB = 150;

export function wasmPath(name) {
  return join(ROOT, dirname(readConfig(name).main), "index_bg.wasm");
}

/** Per worker: { wasmKiB, wasmGzipKiB, uploadKiB, uploadGzipKiB, compileMs }. */
export async function ourSizes(workDir) {
  const sizes = {};
  for (const name of WORKERS) {
    const file = wasmPath(name);
    sizes[name] = {
      wasmKiB: kib(statSync(file).size),
      wasmGzipKiB: kib(await gzipBytes(file)),
      ...(await uploadSize(name, workDir)),
      compileMs: await compileMs(file),
    };
  }
  return sizes;
}

/** The peer's bundles, raw and gzip -9. */
export async function peerSizes(peerDir, names) {
  const sizes = {};
  for (const name of names) {
    const file = join(peerDir, "dist", `${name}.js`);
    sizes[name] = { bundleKiB: kib(statSync(file).size), bundleGzipKiB: kib(await gzipBytes(file)) };
  }
  return sizes;
}

/**
 * `wrangler deploy --dry-run` of the worker's own config, its build step
 * keeping the wasm just built (REUSE_BUILD): nothing is rebuilt.
 */
async function uploadSize(name, workDir) {
  const out = join(workDir, `dry-run-${name}`);
  const args = ["deploy", "--dry-run", "--outdir", out, "-c", `wrangler-${name}.toml`];
  const env = { ...process.env, REUSE_BUILD: "1", WRANGLER_SEND_METRICS: "false" };
  try {
    const { stdout, stderr } = await run("wrangler", args, { cwd: ROOT, env, timeout: 120_000 });
    const match = (stdout + stderr).match(/Total Upload:\s*([\d.]+) KiB \/ gzip:\s*([\d.]+) KiB/);
    return { uploadKiB: Number(match?.[1] ?? NaN), uploadGzipKiB: Number(match?.[2] ?? NaN) };
  } catch {
    return { uploadKiB: NaN, uploadGzipKiB: NaN };
  }
}

async function gzipBytes(file) {
  const { stdout } = await run("sh", ["-c", 'gzip -9 -c "$1" | wc -c', "sh", file]);
  return Number(stdout.trim());
}

/**
 * Median of 5 `WebAssembly.compile` calls, in ms, after one discarded
 * warm-up. Each call gets distinct bytes (a custom section appended):
 * V8 would otherwise answer a repeat from its module cache.
 */
async function compileMs(file, times = 5) {
  const bytes = readFileSync(file);
  await WebAssembly.compile(withCustomSection(bytes, "warm-up"));
  const samples = [];
  for (let i = 0; i < times; i += 1) {
    const distinct = withCustomSection(bytes, `sample-${i}`);
    const started = performance.now();
    await WebAssembly.compile(distinct);
    samples.push(performance.now() - started);
  }
  return median(samples);
}

/** The module with a short custom section (id 0) named `label` at its end. */
function withCustomSection(bytes, label) {
  const name = Buffer.from(label);
  const content = Buffer.concat([Buffer.from([name.length]), name]);
  return Buffer.concat([bytes, Buffer.from([0, content.length]), content]);
}

function kib(bytes) {
  return bytes / 1024;
}
