// Media types between the desktop and a region (pure, no I/O). Coming in,
// the desktop offers a list of names (MIME types, and on X11 also its own
// names for text); one is chosen by priority and fetched explicitly, and
// stored under a name that is the same whichever desktop it came from.
// (Going out, the backends offer text under text's other names: wl-copy
// does it by itself, xclip answers any target.)

export const TEXT_UTF8 = "text/plain;charset=utf-8";

/** X11's own names for text (ICCCM), alongside the MIME ones. */
const X11_TEXT = ["UTF8_STRING", "STRING", "TEXT"];

const norm = (t: string) => t.trim().toLowerCase().replace(/\s*;\s*/g, ";");

const isUtf8Plain = (t: string) => norm(t) === TEXT_UTF8 || norm(t) === "text/plain;charset=utf8";

/** Plain text under any of its names (not text/html, not text/uri-list). */
export function isPlainText(t: string): boolean {
  const n = norm(t);
  return X11_TEXT.includes(t) || n === "text/plain" || n.startsWith("text/plain;");
}

/**
 * The offered type to fetch: image/png, then other images, then
 * text/uri-list, then text/plain;charset=utf-8, then other text (plain text
 * under its other names first, text/html and the like last). Null when
 * nothing offered is an image or text (the bridge then leaves R alone).
 */
export function chooseType(offered: readonly string[]): string | null {
  const ranked: [number, string][] = [];
  for (const t of offered) {
    const n = norm(t);
    let rank: number;
    if (n === "image/png") rank = 0;
    else if (n.startsWith("image/")) rank = 1;
    else if (n === "text/uri-list") rank = 2;
    else if (isUtf8Plain(t)) rank = 3;
    else if (t === "UTF8_STRING") rank = 4;
    else if (n === "text/plain" || n.startsWith("text/plain;")) rank = 5;
    else if (t === "STRING" || t === "TEXT") rank = 6;
    // COMPOUND_TEXT is ISO 2022, not worth decoding when one of the above is there.
    else if (n.startsWith("text/")) rank = 7;
    else continue;
    ranked.push([rank, t]);
  }
  // Stable: among equals (two other images), the desktop's own order wins.
  ranked.sort((a, b) => a[0] - b[0]);
  return ranked[0]?.[1] ?? null;
}

const fatal = new TextDecoder("utf-8", { fatal: true });

export function isUtf8(bytes: Uint8Array): boolean {
  try {
    fatal.decode(bytes);
    return true;
  } catch {
    return false;
  }
}

/**
 * The type a value read from the desktop is stored with in R: plain text
 * under any name becomes text/plain;charset=utf-8 when it is valid UTF-8
 * (what `clip copy` would call it), so that the same text copied on an X11
 * and a Wayland desktop compares equal; other types keep their MIME name.
 */
export function storedType(fetched: string, bytes: Uint8Array): string {
  if (isPlainText(fetched)) {
    if (isUtf8(bytes)) return TEXT_UTF8;
    return fetched === "STRING" ? "text/plain;charset=iso-8859-1" : "text/plain";
  }
  return norm(fetched);
}
