// Serves the system (the three real wasm builds in Miniflare, seeded) until
// SIGTERM or SIGINT, for tools outside node's test runner such as the
// Schemathesis contract run (scripts/contract.sh).
//
// Prints one line `URL=<gateway url>` on stdout once the system is ready.
// On shutdown it stops the system and exits 0, or 1 when any worker reported
// a Rust panic ("panicked at" / "Rust panic") in its output (the message
// "serve: a worker panicked" and the log lines around it go to stderr), or 2
// when stopping failed.
//
//   node tests/support/serve.mjs [--logs FILE]
//
// --logs FILE writes everything the workers printed to FILE on shutdown.
import { writeFileSync } from "node:fs";
import { startSystem } from "./system.mjs";

const logsArg = process.argv.indexOf("--logs");
const logsFile = logsArg >= 0 ? process.argv[logsArg + 1] : undefined;

const system = await startSystem({
  // Rate limiting has its own tests (tests/gateway.test.mjs). A contract run
  // sends thousands of requests a minute under one API key, far above the
  // configured 1000 per 60 s, and 429s would hide every other answer; so the
  // limit is raised here, for this server only.
  ratelimits: { gateway: { RATE_LIMITER: { limit: 1000000 } } },
});
process.stdout.write(`URL=${system.url}\n`);

let stopping = false;
async function shutdown(signal) {
  if (stopping) return;
  stopping = true;
  let code = 0;
  setTimeout(() => {
    process.stderr.write("serve: the system did not stop within 20 s\n");
    process.exit(2);
  }, 20_000).unref();
  try {
    await system.stop();
  } catch (error) {
    process.stderr.write(`serve: stopping the system failed: ${error?.stack ?? error}\n`);
    code = 2;
  }
  const logs = system.logs();
  if (logsFile) writeFileSync(logsFile, logs);
  if (/panicked at|Rust panic/.test(logs)) {
    const lines = logs.split("\n");
    const at = lines.findIndex((line) => /panicked at|Rust panic/.test(line));
    process.stderr.write(
      `serve: a worker panicked:\n${lines.slice(Math.max(0, at - 5), at + 30).join("\n")}\n`,
    );
    code = 1;
  } else {
    process.stderr.write(`serve: stopped on ${signal}; no worker panicked\n`);
  }
  process.exit(code);
}
// Miniflare's own exit hook answers these signals with an immediate
// process.exit(128 + signal), before an asynchronous stop and the panic
// check could run: this script takes them over and disposes of Miniflare
// itself (which also ends workerd).
for (const signal of ["SIGTERM", "SIGINT"]) {
  process.removeAllListeners(signal);
  process.on(signal, () => shutdown(signal));
}
