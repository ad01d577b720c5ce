// The benchmark's markdown: the side-by-side table, the table of our own
// measures, and bench/RESULTS.md (latest run first, earlier ones kept under
// "## History").
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { GZIP_TARGET_KIB } from "./sizes.mjs";

const RESULTS = fileURLToPath(new URL("./RESULTS.md", import.meta.url));
const LATEST_HEADING = "## Latest run";
const HISTORY_HEADING = /^## History[ \t]*$/m;

/** The latest run's section of RESULTS.md, also what is printed. */
export function renderRun({ date, environment, routes, parity, gateway, favorites, assets, before, sizes, coldStart, notes }) {
  return [
    `${LATEST_HEADING}: ${date}`,
    "",
    environment,
    "",
    comparisonTable(routes, "peer"),
    "",
    PARITY_INTRO,
    "",
    comparisonTable(parity, "parity"),
    "",
    measureTable({ gateway, favorites, assets, sizes, coldStart }),
    ...(before ? ["", beforeTable(before)] : []),
    ...(notes.length ? ["", "Notes:", "", ...notes.map((note) => `- ${note}`)] : []),
    "",
  ].join("\n");
}

const DEFAULT_PREAMBLE = [
  "# Benchmark results",
  "",
  "Written by `npm run bench` (scripts/bench.sh, bench/bench.mjs): the latest run first, earlier runs under History.",
].join("\n");

/** Writes RESULTS.md; the run it replaced moves to the top of History. */
export function writeResults(run, path = RESULTS) {
  const previous = existsSync(path) ? readFileSync(path, "utf8") : "";
  const start = previous.search(HISTORY_HEADING);
  const current = start < 0 ? previous : previous.slice(0, start);
  const history = start < 0 ? "" : previous.slice(start).replace(HISTORY_HEADING, "").trim();
  const latest = current.indexOf(`${LATEST_HEADING}:`);
  const demoted = latest < 0 ? "" : current.slice(latest).replace(`${LATEST_HEADING}:`, "### Run:").trim();
  const older = [demoted, history].filter(Boolean).join("\n\n");
  // What is written above the latest run by hand (the targets, read run by
  // run) stays.
  const preamble = latest > 0 ? current.slice(0, latest).trimEnd() : DEFAULT_PREAMBLE;
  const parts = [preamble, "", run];
  if (older) parts.push("## History", "", older, "");
  writeFileSync(path, parts.join("\n"));
  return path;
}

/** Ours against `other` ("peer" or "parity"), route by route: each row is `{ route, ours, [other] }`. */
function comparisonTable(routes, other) {
  const header = [
    `| route | ours req/s (rounds' range) | ${other} req/s (rounds' range) | ratio (ours/${other}) | ours p50 | ${other} p50 | ours p99 | ${other} p99 | ours workerd CPU/req | ${other} workerd CPU/req | CPU ratio (${other}/ours) |`,
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
  ];
  const rows = routes.map(({ route, ours, [other]: theirs }) =>
    ours.wrongStatus || theirs.wrongStatus ? voidRow(route, { ours, [other]: theirs }) : comparisonRow(route, ours, theirs),
  );
  return [...header, ...rows].join("\n");
}

function comparisonRow(route, ours, theirs) {
  return row([
    route,
    rateWithRange(ours),
    rateWithRange(theirs),
    fixed(ours.rps / theirs.rps, 2),
    ms(ours.p50),
    ms(theirs.p50),
    ms(ours.p99),
    ms(theirs.p99),
    ms(ours.cpu, 3),
    ms(theirs.cpu, 3),
    fixed(theirs.cpu / ours.cpu, 2),
  ]);
}

/** A route where a side answered the wrong status: its figures measure something else. */
function voidRow(route, sides) {
  const wrong = Object.entries(sides)
    .filter(([, result]) => result.wrongStatus)
    .map(([side, result]) => `${side} answered ${result.wrongStatus}`)
    .join(", ");
  return row([route, `void: ${wrong} (see the notes)`, ...Array(9).fill("–")]);
}

const PARITY_INTRO =
  "Against the parity peer (bench/parity/: the peer's Hono with the same concerns as ours, built from Hono's own middleware, on our seed data; reads only):";

/** This run's system against the one at an earlier commit, same run, same load. */
function beforeTable({ ref, routes }) {
  const header = [
    `Before/after: this commit against \`${ref}\` (built from its own checkout, run in this same run):`,
    "",
    "| route | before req/s | now req/s | ratio (now/before) | before p50 | now p50 | before workerd CPU/req | now workerd CPU/req |",
    "|---|---:|---:|---:|---:|---:|---:|---:|",
  ];
  const rows = routes.map(({ route, before, now }) =>
    row([
      route,
      rate(before.rps),
      rate(now.rps),
      fixed(now.rps / before.rps, 2),
      ms(before.p50),
      ms(now.p50),
      ms(before.cpu, 3),
      ms(now.cpu, 3),
    ]),
  );
  return [...header, ...rows].join("\n");
}

function gatewayCost(through, direct) {
  return `${ms(through.p50)} through / ${ms(direct.p50)} direct = ${fixed(through.p50 / direct.p50, 2)}×`;
}

function gatewayCpu(through, direct) {
  return `${ms(through.cpu, 3)} − ${ms(direct.cpu, 3)} = ${ms(through.cpu - direct.cpu, 3)}`;
}

function measureTable({ gateway, favorites, assets, sizes, coldStart }) {
  const rows = [
    [
      "gateway cost, GET /users/1 p50",
      gatewayCost(gateway.through, gateway.direct),
      gatewayCost(gateway.peerThrough, gateway.peerDirect),
      `req/s through the gateway / direct to users: ours ${rate(gateway.through.rps)} / ${rate(gateway.direct.rps)}, peer ${rate(gateway.peerThrough.rps)} / ${rate(gateway.peerDirect.rps)}`,
    ],
    [
      "gateway cost, GET /users/1 workerd CPU/req",
      gatewayCpu(gateway.through, gateway.direct),
      gatewayCpu(gateway.peerThrough, gateway.peerDirect),
      "through the gateway − direct to users: what the gateway hop adds (its worker, one more service call in workerd)",
    ],
    [
      "rate limiter bound (Miniflare's simulation), GET /users/1",
      `${rate(gateway.limited.rps)} req/s, p50 ${ms(gateway.limited.p50)}, p99 ${ms(gateway.limited.p99)}`,
      "–",
      `${fixed(gateway.limited.rps / gateway.through.rps, 2)}× the throughput without it: a Durable Object round trip per request that the production binding does not make`,
    ],
    [
      "static assets bound (Miniflare's router in front), GET /users/1",
      `${rate(assets.rps)} req/s, p50 ${ms(assets.p50)}, CPU ${ms(assets.cpu, 3)}/req`,
      "–",
      `${fixed(assets.rps / gateway.through.rps, 2)}× the throughput without them: a router worker invocation per request that a worker running first does not pay in production`,
    ],
    [
      "GET /users/1/favorites, 10 favourites",
      `${rate(favorites.rps)} req/s, p50 ${ms(favorites.p50)}, p99 ${ms(favorites.p99)}`,
      "–",
      "no such route in the peer",
    ],
    ...Object.entries(sizes.ours).map(([name, size]) => sizeRow(name, size, sizes.peer[name])),
    [
      "cold start, median of 3",
      ms(coldStart.ours, 0),
      ms(coldStart.peer, 0),
      "`new Miniflare(...)` to the first 200 of GET /users/1 through the gateway, KV seeding included",
    ],
    [
      "wasm compile, median of 5",
      Object.entries(sizes.ours)
        .map(([name, size]) => `${name} ${ms(size.compileMs, 1)}`)
        .join(", "),
      "–",
      "`await WebAssembly.compile(bytes)` of index_bg.wasm in Node",
    ],
  ];
  return ["| measure | ours | peer | note |", "|---|---|---|---|", ...rows.map(row)].join("\n");
}

function sizeRow(name, size, peer) {
  const verdict = Number.isNaN(size.uploadGzipKiB)
    ? "unknown against"
    : size.uploadGzipKiB <= GZIP_TARGET_KIB
      ? "within"
      : "over";
  return [
    `${name} size, KiB raw / gzip`,
    `wasm ${kib(size.wasmKiB)} / ${kib(size.wasmGzipKiB)}; upload ${kib(size.uploadKiB)} / ${kib(size.uploadGzipKiB)}`,
    peer ? `bundle ${kib(peer.bundleKiB)} / ${kib(peer.bundleGzipKiB)}` : "–",
    `upload gzip ${verdict} the ${GZIP_TARGET_KIB} KiB target (wasm: gzip -9; upload: wrangler deploy --dry-run)`,
  ];
}

function row(cells) {
  return `| ${cells.join(" | ")} |`;
}

function fixed(value, digits) {
  return Number.isFinite(value) ? value.toFixed(digits) : "n/a";
}

function rate(value) {
  return fixed(value, 0);
}

/** A median req/s with the lowest and highest round: how far one number can be trusted. */
function rateWithRange({ rps, rpsRange = [] }) {
  const [low, high] = rpsRange;
  return Number.isFinite(low) ? `${rate(rps)} (${rate(low)}–${rate(high)})` : rate(rps);
}

function ms(value, digits = 2) {
  return Number.isFinite(value) ? `${value.toFixed(digits)} ms` : "n/a";
}

function kib(value) {
  return fixed(value, 1);
}
