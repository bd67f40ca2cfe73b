// Descriptor pressure, process-wide: every queued send of a file value holds
// that file open until it is sent. A reader that falls behind on many values
// would hold many descriptors, and a process out of them fails everyone
// (accept fails, clients hang). Before one more file is opened for a send,
// past the limit, the connection with the most file sends waiting (the
// slowest reader) is cut off, and its files are closed with it.

import { ClipError } from "../protocol/errors.ts";
import { SESSION_LIMITS } from "./limits.ts";
import { isValueFileOpen, openValueFiles } from "./values.ts";

export interface FileHolder {
  /** File sends queued and not yet made. */
  readonly pendingFiles: number;
  cut(err: ClipError): void;
}

/**
 * Admits a send of `file` for `me`, cutting the worst holder among `all`
 * when the process holds too many value files. False if `me` was the one cut.
 */
export function admitFileSend(me: FileHolder, file: string, all: Iterable<FileHolder>): boolean {
  if (isValueFileOpen(file) || openValueFiles() < SESSION_LIMITS.maxOpenValueFiles) return true;
  let victim = me;
  for (const h of all) if (h.pendingFiles > victim.pendingFiles) victim = h;
  victim.cut(new ClipError("SLOW", `${victim.pendingFiles} values wait for this reader while the server holds ${openValueFiles()} value files open; cut off`));
  return victim !== me;
}
