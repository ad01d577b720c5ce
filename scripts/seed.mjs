// Seeds the local KV that `wrangler dev` persists under .wrangler/state
// with the demo data in seed/. A key that already exists is left alone, so
// seeding again neither duplicates nor overwrites what was changed since.
import { getPlatformProxy } from "wrangler";
import { readConfig, seedEntries } from "../tests/support/system.mjs";

const PERSIST = { path: ".wrangler/state/v3" };

for (const name of ["users", "products"]) {
  const { env, dispose } = await getPlatformProxy({ configPath: `wrangler-${name}.toml`, persist: PERSIST });
  try {
    for (const { binding } of readConfig(name).kv_namespaces) {
      let added = 0;
      const entries = seedEntries(name);
      for (const { key, value } of entries) {
        if ((await env[binding].get(key)) === null) {
          await env[binding].put(key, typeof value === "string" ? value : JSON.stringify(value));
          added += 1;
        }
      }
      console.log(`seed: ${binding}: ${added} of ${entries.length} keys added, the rest already there`);
    }
  } finally {
    await dispose();
  }
}
