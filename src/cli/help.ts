// What every `--help` shows, whichever cac parser prints it (main.ts, and the
// kv and group families): the command's one-line purpose above its usage,
// and no trailing blanks after option descriptions.

import type { CAC } from "cac";

type Section = { title?: string; body: string };

export function helpLayout(cli: CAC): (sections: Section[]) => Section[] {
  return (sections) => {
    const out = sections.map((s) => ({ ...s, body: s.body.replace(/[ \t]+$/gm, "") }));
    const purpose = cli.matchedCommand?.description;
    if (purpose) out.splice(1, 0, { body: purpose });
    return out;
  };
}
