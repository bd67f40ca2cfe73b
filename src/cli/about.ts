// `clip version` (and `clip --version`): what runs, in one line.

import { PROTOCOL_VERSION } from "../protocol/frame.ts";
import { VERSION } from "../version.ts";

/** cac's own version line reports Bun's Node-compatibility version ("bun-v26"): this says what runs instead. */
export function version(): void {
  process.stdout.write(`clip/${VERSION} (protocol ${PROTOCOL_VERSION}) bun/${Bun.version} ${process.platform}-${process.arch}\n`);
}
