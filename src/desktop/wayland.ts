// The Wayland clipboard through wl-clipboard: `wl-paste --list-types`,
// `wl-paste --type T`, `wl-copy --type T` (which offers text under all of
// text's names by itself), and `wl-paste --watch` as the change signal: it
// runs a command for each new selection, which prints one line to us.
// Compositors without the data-control protocol (GNOME) refuse --watch:
// there the clipboard is polled.
// wl-copy forks and serves pastes after the bridge has gone, as a person's
// own `wl-copy` would.

import { contentFingerprint, type DesktopBackend, lineTicks, POLL_MS, pollTicks, type Tick, untilHeld } from "./backend.ts";
import { run, spawnProgram } from "./exec.ts";

export interface WaylandOptions {
  env?: Record<string, string | undefined>;
  log?: (line: string) => void;
}

export function waylandBackend(o: WaylandOptions = {}): DesktopBackend {
  const env = o.env ?? process.env;
  const types = async (): Promise<string[]> => {
    const r = await run(["wl-paste", "--list-types"], { env, max: 64 << 10, timeoutMs: 5000 });
    return r.ok ? new TextDecoder().decode(r.out).split("\n").filter(Boolean) : [];
  };
  // --no-newline: for text, wl-paste would otherwise add one.
  const read = (type: string, max: number, keep?: boolean) => run(["wl-paste", "--no-newline", "--type", type], { env, max, keep, timeoutMs: 15_000 });
  let polling = false;
  const fingerprint = contentFingerprint({ types, read });

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
      if (!polling) {
        // The command reads nothing of the offer: a line per change is all we need (no copy of a large image each time).
        const proc = spawnProgram(["wl-paste", "--watch", "echo", "."], { stdin: "ignore", stdout: "pipe", stderr: "pipe", env });
        const started = Date.now();
        try {
          // wl-paste runs the command once at start for what is there already: that one is not a copy.
          yield* lineTicks(proc, "wl-paste --watch", signal, { fresh: false });
          return;
        } catch (e) {
          // GNOME's compositor has no data-control protocol: wl-paste --watch gives up at once, saying so.
          const why = (await new Response(proc.stderr as ReadableStream).text().catch(() => "")).trim().split("\n")[0];
          if (Date.now() - started > 2000 || !/data-control|not supported|does not support/i.test(why)) throw e;
          polling = true;
          o.log?.(`wayland: ${why || "wl-paste --watch is not supported here"}; polling the clipboard every ${(2 * POLL_MS) / 1000} s (on GNOME, --backend x11 through XWayland gets change events)`);
        }
      }
      yield* pollTicks(fingerprint, 2 * POLL_MS, signal);
    },
    close() {},
  };
}
