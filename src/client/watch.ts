// Watches that survive their connection: a subscription that, when the
// connection drops (a server restarted, a link cut), opens it again through
// the client (on the same server or the next of its addresses) and resumes
// from the last revision it delivered, so its reader misses nothing and sees
// nothing twice. The server refuses a resume it cannot honour (writes no
// longer held, or counted by another numbering after a heal): that ends the
// watch with NOTFOUND, as SPEC says, never with a gap.

import { ClipError } from "../protocol/errors.ts";
import type { Mux } from "./mux.ts";

/** What a watch needs of its client: the connection now, and a new one when it was lost. */
export interface Link {
  readonly mux: Mux;
  /** A connection that works: the current one, or a new one (throws once it gives up). */
  revive(): Promise<Mux>;
}

/** Where a watch stands, to resume from. */
export interface Position {
  /** The last revision delivered (or the one the watch started at). */
  rev: number | undefined;
  /** The numbering that revision belongs to. */
  lineage: string | undefined;
}

/** A connection-level failure a watch resumes after (not a refusal of the watch itself). */
export function isLinkLoss(e: unknown): boolean {
  return e instanceof ClipError && (e.code === "LOST" || e.code === "SHUTDOWN" || e.code === "NOSERVER");
}
