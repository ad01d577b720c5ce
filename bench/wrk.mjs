// Runs wrk against one URL and reads its report.
import { execFile } from "node:child_process";
import { promisify } from "node:util";

const run = promisify(execFile);

export const WRK = {
  threads: 1,
  connections: Number(process.env.BENCH_CONNECTIONS ?? 8),
  duration: Number(process.env.BENCH_DURATION ?? 5),
};

export function wrkSettings() {
  return `wrk -t${WRK.threads} -c${WRK.connections} -d${WRK.duration}s --latency`;
}

/**
 * One wrk run. `script` is a Lua script and `scriptArgs` its arguments.
 * A failed run yields NaN numbers and the error, never a throw.
 */
export async function runWrk(url, { duration = WRK.duration, script, scriptArgs = [] } = {}) {
  const args = [`-t${WRK.threads}`, `-c${WRK.connections}`, `-d${duration}s`, "--latency"];
  if (script) args.push("-s", script);
  args.push(url);
  if (scriptArgs.length) args.push("--", ...scriptArgs);
  try {
    const { stdout } = await run("wrk", args, { timeout: (duration + 30) * 1000 });
    return parseWrk(stdout);
  } catch (error) {
    return { rps: NaN, p50: NaN, p99: NaN, requests: 0, non2xx: 0, errors: String(error.message) };
  }
}

export function parseWrk(text) {
  const count = (pattern) => Number(text.match(pattern)?.[1] ?? 0);
  return {
    rps: Number(text.match(/Requests\/sec:\s+([\d.]+)/)?.[1] ?? NaN),
    p50: percentileMs(text, 50),
    p99: percentileMs(text, 99),
    requests: count(/(\d+) requests in/),
    non2xx: count(/Non-2xx or 3xx responses:\s+(\d+)/),
    errors: text.match(/Socket errors: (.*)/)?.[1] ?? "",
  };
}

const UNIT_MS = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** A line of wrk's latency distribution ("     99%    6.01ms"), in ms. */
function percentileMs(text, percent) {
  const match = text.match(new RegExp(`^\\s*${percent}%\\s+([\\d.]+)(us|ms|s|m|h)\\s*$`, "m"));
  return match ? Number(match[1]) * UNIT_MS[match[2]] : NaN;
}
