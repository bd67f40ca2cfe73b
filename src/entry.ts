// The executable's entry point. `clip paste N` is what scripts run in loops,
// and for it starting up is most of the cost: here it goes straight to the
// paste command without loading cac and the command table (main.ts). Any
// other command line, or a paste with any other flag, is main.ts's,
// unchanged: this only skips work, never decides. The paste command is
// imported statically: a dynamic import costs more than loading it for
// every command (each import() is a trip through the module loader).

import { paste } from "./cli/clipboard.ts";
import { ClipError } from "./protocol/errors.ts";

/** `paste <0-9>` with at most one --server/-s; null for anything else. */
function plainPaste(argv: string[]): { region: string; server?: string } | null {
  if (argv[0] !== "paste") return null;
  let region: string | undefined;
  let server: string | undefined;
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i];
    if ((a === "--server" || a === "-s") && server === undefined && i + 1 < argv.length && !argv[i + 1].startsWith("-")) server = argv[++i];
    else if (a.startsWith("--server=") && server === undefined && a.length > 9) server = a.slice(9);
    else if (/^[0-9]$/.test(a) && region === undefined) region = a;
    else return null;
  }
  return region === undefined ? null : { region, server };
}

function fail(e: unknown): never {
  // As main.ts's fail(): one line, the SPEC exit code; a closed stdout exits quietly.
  if (e instanceof Error && ((e as NodeJS.ErrnoException).code === "EPIPE" || /broken pipe/i.test(e.message))) process.exit(141);
  process.stderr.write(`clip: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(e instanceof ClipError ? e.exitCode : 1);
}

const fast = plainPaste(process.argv.slice(2));
if (fast) {
  process.on("unhandledRejection", fail);
  try {
    await paste(fast.region, { server: fast.server });
  } catch (e) {
    fail(e);
  }
  process.exit(0);
} else {
  await import("./main.ts");
}
