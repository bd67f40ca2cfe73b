// clip shell (in progress).
import { ClipError } from "../protocol/errors.ts";
export async function shell(_flags: Record<string, unknown>): Promise<void> {
  throw new ClipError("INTERNAL", "clip shell is not built yet");
}
