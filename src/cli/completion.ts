// clip completion (in progress).
import { ClipError } from "../protocol/errors.ts";
export async function completion(_sh: unknown, _cli: unknown): Promise<void> {
  throw new ClipError("INTERNAL", "not built yet");
}
