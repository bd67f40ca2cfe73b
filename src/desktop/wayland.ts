// The Wayland clipboard through wl-clipboard: `wl-paste --list-types`,
// `wl-paste --type T`, `wl-copy --type T` (which offers text under all of
// text's names by itself), and `wl-paste --watch` as the change signal: it
// runs a command for each new selection, which prints one line to us.
// wl-copy forks and serves pastes after the bridge has gone, as a person's
// own `wl-copy` would.

import { type DesktopBackend, lineTicks, type Tick, untilHeld } from "./backend.ts";
import { run, spawnProgram } from "./exec.ts";

export interface WaylandOptions {
  env?: Record<string, string | undefined>;
}

export function waylandBackend(o: WaylandOptions = {}): DesktopBackend {
  const env = o.env ?? process.env;
  const types = async (): Promise<string[]> => {
    const r = await run(["wl-paste", "--list-types"], { env, max: 64 << 10, timeoutMs: 5000 });
    return r.ok ? new TextDecoder().decode(r.out).split("\n").filter(Boolean) : [];
  };
  // --no-newline: for text, wl-paste would otherwise add one.
  const read = (type: string, max: number) => run(["wl-paste", "--no-newline", "--type", type], { env, max, timeoutMs: 15_000 });

  return {
    name: "wayland (wl-clipboard)",
    types,
    read,
    async write(bytes, type) {
      const r = await run(["wl-copy", "--type", type], { env, input: bytes, max: 4096, timeoutMs: 10_000, detach: true });
      if (!r.ok) throw new Error(`wl-copy: ${r.detail}`);
      return untilHeld({ types, read }, type, bytes, () => true, "wl-copy");
    },
    async clear() {
      const r = await run(["wl-copy", "--clear"], { env, max: 4096, timeoutMs: 10_000, detach: true });
      if (!r.ok) throw new Error(`wl-copy --clear: ${r.detail}`);
    },
    async *watch(signal): AsyncIterable<Tick> {
      // The command reads nothing of the offer: a line per change is all we need (no copy of a large image each time).
      const proc = spawnProgram(["wl-paste", "--watch", "echo", "."], { stdin: "ignore", stdout: "pipe", stderr: "ignore", env });
      // wl-paste runs the command once at start for what is there already: that one is not a copy.
      yield* lineTicks(proc, "wl-paste --watch", signal, { fresh: false });
    },
    close() {},
  };
}
