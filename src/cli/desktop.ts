// `clip desktop [R]` from the command line: the CLI's flags (server, token,
// key) turned into what the desktop command needs, a way to open region R
// on the server (two connections, see src/desktop/clip-port.ts). The body
// itself is src/desktop/command.ts.

import type { DesktopFlags } from "../desktop/command.ts";
import { type ClientFlags, openClient } from "./common.ts";
import { sealingKey } from "./keys.ts";

export interface DesktopCliFlags extends ClientFlags, DesktopFlags {
  encrypt?: boolean;
  /** cac's key for --osc52-max (it joins only letter-dash-letter). */
  "osc52-max"?: string;
}

/** The words after `desktop` as typed, for a unit or an autostart entry that runs the same command. */
function ownArgs(argv: string[]): string[] {
  const i = argv.indexOf("desktop");
  return i < 0 ? [] : argv.slice(i + 1);
}

export async function desktop(region: unknown, flags: DesktopCliFlags): Promise<void> {
  const [{ desktop: run }, { clipPort }] = await Promise.all([import("../desktop/command.ts"), import("../desktop/clip-port.ts")]);
  await run(
    region,
    { ...flags, osc52Max: flags["osc52-max"] },
    async (r, signal) => {
      // --encrypt with no usable key fails here (exit 1), before a connection is opened.
      const encrypt = await sealingKey(flags);
      const calls = await openClient(flags, { once: false, name: "desktop" });
      try {
        return clipPort({ calls, follow: await openClient(flags, { once: false, name: "desktop" }) }, r, { encrypt, signal });
      } catch (e) {
        calls.close();
        throw e;
      }
    },
    { argv: ownArgs(process.argv.slice(2)) },
  );
}
