// The key-value rows alone (bench/rows/kv.ts: put+get and watcher wake-ups,
// clip against Redis, interleaved), printed and not written to BENCHMARKS.md.
//
//   npm run build && npx bun bench/kv.ts [--quick]

import { main } from "./run.ts";

process.exit(await main(["--only", "kv", ...process.argv.slice(2)]));
