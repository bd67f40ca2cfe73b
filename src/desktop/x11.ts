// The X11 clipboard through xclip: TARGETS lists the types, `-t TYPE -o`
// fetches one, and `xclip -i -t TYPE` becomes the selection's owner. X11
// keeps no clipboard data itself: the owner serves every paste, so the xclip
// we start runs in the foreground (we know its pid, to clear) and is left
// running when the bridge exits, so what it holds can still be pasted.
// Changes come as XFIXES events (x11events.ts); without them, a poll.

import { contentFingerprint, type DesktopBackend, POLL_MS, pollTicks, type Tick, untilHeld } from "./backend.ts";
import { run, spawnProgram } from "./exec.ts";
import { isPlainText } from "./types.ts";
import { selectionEvents } from "./x11events.ts";

export interface X11Options {
  display: string;
  /** The environment of the programs run (XAUTHORITY is taken from it too); DISPLAY is set from `display`. */
  env?: Record<string, string | undefined>;
  /** "events" (XFIXES, falling back to a poll), or "poll" to force the poll. */
  signal?: "events" | "poll";
  pollMs?: number;
  log?: (line: string) => void;
}

const SEL = ["-selection", "clipboard"];

export function x11Backend(o: X11Options): DesktopBackend {
  const env: Record<string, string | undefined> = { ...(o.env ?? process.env), DISPLAY: o.display };
  let owner: ReturnType<typeof Bun.spawn> | null = null;
  const types = async (): Promise<string[]> => {
    const r = await run(["xclip", ...SEL, "-o", "-t", "TARGETS"], { env, max: 64 << 10, timeoutMs: 5000 });
    return r.ok ? new TextDecoder().decode(r.out).split("\n").filter((t) => t && t !== "TARGETS" && t !== "TIMESTAMP" && t !== "MULTIPLE" && t !== "SAVE_TARGETS") : [];
  };
  const read = (type: string, max: number, keep?: boolean) => run(["xclip", ...SEL, "-o", "-t", type], { env, max, keep, timeoutMs: 15_000 });
  const fingerprint = contentFingerprint({ types, read });

  return {
    name: "x11 (xclip)",
    types,
    read,
    async write(bytes, type) {
      // xclip offers one target (and TARGETS), and answers a request for any
      // target with the value: text goes out as UTF8_STRING, the name every X
      // application asks for; STRING/TEXT/text/plain requests get it too.
      const target = isPlainText(type) ? "UTF8_STRING" : type;
      const proc = spawnProgram(["xclip", ...SEL, "-i", "-quiet", "-t", target], { stdin: bytes, stdout: "ignore", stderr: "ignore", env });
      // Not waited for at exit: it outlives the bridge, holding the value.
      proc.unref();
      owner = proc;
      try {
        // xclip exits 0 when another application takes the clipboard from it.
        const alive = () => (proc.exitCode === 0 ? "superseded" : proc.exitCode === null && proc.signalCode === null ? true : `${proc.exitCode ?? proc.signalCode}`);
        return await untilHeld({ types, read }, target, bytes, alive, "xclip");
      } catch (e) {
        proc.kill(9);
        throw e;
      }
    },
    async clear() {
      // Our own owner going away leaves the selection with no owner: nothing to paste.
      if (owner && owner.exitCode === null && owner.signalCode === null) {
        owner.kill();
        await owner.exited;
      }
      if ((await types()).length) {
        // Someone else holds it: take it over with nothing.
        const p = spawnProgram(["xclip", ...SEL, "-i", "-quiet", "-t", "UTF8_STRING"], { stdin: new Uint8Array(0), stdout: "ignore", stderr: "ignore", env });
        p.unref();
        owner = p;
      }
    },
    async *watch(signal): AsyncIterable<Tick> {
      if (o.signal !== "poll") {
        let subscribed = false;
        try {
          for await (const t of selectionEvents(o.display, signal, () => (subscribed = true), env.XAUTHORITY)) yield t;
          return;
        } catch (e) {
          // Lost after it worked (the X server went away): the bridge says so and watches again.
          if (subscribed || signal.aborted) throw e;
          o.log?.(`x11: no XFIXES selection events (${(e as Error).message}); polling the clipboard every ${o.pollMs ?? 2 * POLL_MS} ms`);
        }
      }
      yield* pollTicks(fingerprint, o.pollMs ?? 2 * POLL_MS, signal);
    },
    close() {},
  };
}
