// Run by tests in a process of its own (under script(1), for a terminal):
// `clip desktop`'s body with an in-memory region, or one OSC 52 send, so
// that what reaches the terminal and the exit status can be checked.
// Usage: bun desktop-child.ts osc52-send TEXT [MAX] | osc52-bridge

import { desktop } from "../../src/desktop/command.ts";
import { sendOsc52 } from "../../src/desktop/osc52.ts";
import { ClipError } from "../../src/protocol/errors.ts";
import { FakeRegion } from "./desktop.ts";

const [mode, ...rest] = process.argv.slice(2);
try {
  if (mode === "osc52-send") {
    sendOsc52(new TextEncoder().encode(rest[0]), { max: rest[1] ? Number(rest[1]) : undefined });
  } else if (mode === "osc52-bridge") {
    // Every later write goes out; then the last one expires and is cleared.
    const region = new FakeRegion();
    region.writeElsewhere("already there");
    const ac = new AbortController();
    const lines: string[] = [];
    const run = desktop("4", { osc52: true }, async () => region.port(), { argv: ["4", "--osc52"], signal: ac.signal, log: (l) => lines.push(l) });
    const wait = async (n: number) => {
      while (lines.filter((l) => l.includes("-> desktop") || l.includes("cleared")).length < n) await Bun.sleep(10);
    };
    await wait(1);
    region.writeElsewhere("first");
    await wait(2);
    region.writeElsewhere("second");
    await wait(3);
    region.expire();
    await wait(4);
    ac.abort();
    await run;
    process.stderr.write(lines.map((l) => `log: ${l}\n`).join(""));
  } else {
    throw new Error(`unknown mode ${mode}`);
  }
} catch (e) {
  // As clip's main() does: one line, the error's exit status.
  process.stderr.write(`clip: ${(e as Error).message}\n`);
  process.exit(e instanceof ClipError ? e.exitCode : 1);
}
