// The Node dialer (src/net/node.ts) keeps the Conn's promises under Node:
// the queue is ours and counted (Node holds one write at most), drained()
// waits for a peer that does not read, the hard limit closes as "slow", and
// a value sent through reused frame buffers arrives whole. The harness
// (tests/helpers/node-conn.ts) is bundled for Node and run by `node`, which
// is required, never skipped (CI has it: npm needs it).

import { describe, expect, test } from "bun:test";
import { join, resolve } from "node:path";
import { tempDir } from "../helpers/clip.ts";

const HARNESS = resolve(import.meta.dir, "../helpers/node-conn.ts");
const MiB = 1 << 20;

describe("conn under Node", () => {
  test("conn-node - backpressure and bounds as Bun's: one write held by Node, drained waits, slow past the limit, bytes whole", async () => {
    const node = Bun.which("node");
    if (!node) throw new Error("node is not on PATH: the Node dialer's tests need Node 20+ (CI has it: npm needs it)");
    using d = tempDir("cn");
    const dir = String(d);
    const built = Bun.spawnSync([process.execPath, "build", HARNESS, "--target=node", "--format=esm", "--outfile", join(dir, "h.mjs")], { stdout: "pipe", stderr: "pipe" });
    expect({ code: built.exitCode, err: built.stderr.toString() }).toEqual({ code: 0, err: "" });
    const p = Bun.spawn([node, join(dir, "h.mjs"), dir], { stdout: "pipe", stderr: "pipe" });
    const timer = setTimeout(() => p.kill(9), 50_000);
    const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    clearTimeout(timer);
    expect({ code, err }).toEqual({ code: 0, err: "" });
    const seen = JSON.parse(out);
    expect(seen.integrity).toEqual({ sent: 20 * MiB + 5, bytes: 20 * MiB + 5, fin: true, same: true });

    // Nothing the kernel did not take left our count; Node never held more than one 1 MiB frame.
    expect(seen.bounds.maxPending).toBeGreaterThan(0);
    expect(seen.bounds.maxPending).toBeLessThanOrEqual(MiB);
    expect(seen.bounds.queued).toBeGreaterThan(seen.bounds.sent - MiB);
    expect(seen.bounds.queued).toBeLessThanOrEqual(seen.bounds.sent);
    expect(seen.drainedWhilePaused).toBe(false);
    // 24 MiB queued, then sends until the next would pass 64 MiB: the 41st is refused and the Conn closes.
    expect(seen.slow).toEqual({ refusedAt: seen.slow.hardLimit / MiB - 24, closed: "slow", hardLimit: 64 * MiB });
  });
});
