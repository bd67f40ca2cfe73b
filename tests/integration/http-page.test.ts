// The web page in a real headless browser (Debian's chromium, driven by
// playwright-core) against clip itself: `clip serve --http` from the
// compiled binary, with a child server in the tree, and writes made by
// other clients through the library.
//
// What a person does: sees the ten regions and the servers, sees a write made
// elsewhere appear, downloads, pastes text, drops or picks a file, signs in
// with the token over TCP; and what must hold meanwhile: bytes arrive exactly,
// the token is never in a URL, everything is reachable by keyboard and named
// for a screen reader, and a phone-sized screen needs no sideways scrolling.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import type { Client } from "../../src/index.ts";
import { toSource } from "../../src/value/source.ts";
import { makePng } from "../helpers/png.ts";
import { freePort, TreeFixture, type TreeNodeHandle } from "../helpers/tree.ts";

const CHROMIUM = process.env.CLIP_CHROMIUM ?? "/usr/bin/chromium";
const HAVE = existsSync(CHROMIUM);
if (!HAVE) {
  if (process.env.CI) throw new Error(`${CHROMIUM} is missing: .ci/run installs Debian's chromium package`);
  console.warn(`http-page: ${CHROMIUM} missing (apt-get install chromium); the browser tests are skipped here`);
}

// What the functions evaluated in the page use (tsconfig has no DOM library: the rest is Bun code).
declare const document: any;
declare const window: any;
declare const getComputedStyle: any;
declare const DataTransfer: any;
type Element = any;

let browser: Browser;

beforeAll(async () => {
  if (!HAVE) return;
  // launch() gives the browser a fresh profile folder of its own and removes it on close.
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // Nothing beyond loopback: no component updates, sync, background fetches or QUIC probes.
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
});

afterAll(async () => {
  await browser?.close();
});

const TOKEN = "page-test-token";
const enc = new TextEncoder();

/** A clip server with the HTTP door on a fixed loopback port (a restart keeps the page's origin), and writers. */
class Site implements AsyncDisposable {
  readonly tree = new TreeFixture(TOKEN);
  readonly httpPort = freePort();
  root!: TreeNodeHandle;

  /** signIn: the door takes the token (the page must sign in); else --insecure lifts it, as on a trusted network. */
  static async start(opts: { name?: string; signIn?: boolean } = {}): Promise<Site> {
    const s = new Site();
    s.root = await s.tree.add({ name: opts.name ?? "alpha", args: ["--http", `tcp:127.0.0.1:${s.httpPort}`, ...(opts.signIn ? [] : ["--insecure"])] });
    return s;
  }

  get url(): string {
    return `http://127.0.0.1:${this.httpPort}`;
  }

  /** A server of that name in the tree, as a child of the root (made on first use): its writes carry its name. */
  async via(name?: string): Promise<Client> {
    if (!name || name === this.root.name) return this.root.client();
    if (!this.tree.nodes.has(name)) await this.tree.add({ name, connect: [this.root.name] });
    return this.tree.get(name).client();
  }

  /** Another client's copy, made on `by` (the root, or a child of that name). */
  async write(r: number, value: Uint8Array | string, opts: { by?: string; type?: string } = {}): Promise<number> {
    const c = await this.via(opts.by);
    const w = await c.copy(r, typeof value === "string" ? enc.encode(value) : value, opts.type ? { type: opts.type } : {});
    // Written on a child: it is applied on the root once it came back down.
    await this.tree.converged(r, () => true, 10_000, [this.root.name]);
    return w.rev;
  }

  /**
   * A value sealed by a client (clip copy --encrypt), as its meta says: the
   * server only stores the key id. Sent by hand while the library's
   * --encrypt is being wired (the wire field is the server's today).
   */
  async writeSealed(r: number, value: Uint8Array | string, type: string): Promise<void> {
    const c = (await this.via()) as unknown as { current: { upload(op: string, meta: object, src: unknown): Promise<unknown> } };
    await c.current.upload("copy", { r, type, sealed: "0123456789abcdef" }, toSource(value));
  }

  async bytes(r: number): Promise<Uint8Array> {
    return (await this.root.client()).paste(r);
  }

  async type(r: number): Promise<string | undefined> {
    return (await (await this.root.client()).read(r))?.type;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.tree[Symbol.asyncDispose]();
  }
}

interface Logged {
  method: string;
  url: string;
  headers: Record<string, string>;
}

interface Session {
  site: Site;
  ctx: BrowserContext;
  page: Page;
  /** Every request the page made, with all its headers (cookies included), as the browser sent them. */
  log: Logged[];
  errors: string[];
  [Symbol.asyncDispose](): Promise<void>;
}

async function open(site: Site, viewport = { width: 1100, height: 900 }, colorScheme: "light" | "dark" = "light"): Promise<Session> {
  const ctx = await browser.newContext({ viewport, colorScheme });
  const page = await ctx.newPage();
  const log: Logged[] = [];
  const errors: string[] = [];
  page.on("request", (r) => {
    const entry: Logged = { method: r.method(), url: r.url(), headers: r.headers() };
    log.push(entry);
    r.allHeaders().then(
      (h) => (entry.headers = h),
      () => {},
    );
  });
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(`${site.url}/`);
  return {
    site,
    ctx,
    page,
    log,
    errors,
    async [Symbol.asyncDispose]() {
      await ctx.close();
      await site[Symbol.asyncDispose]();
    },
  };
}

const card = (page: Page, r: number) => page.locator(`li.region[data-region="${r}"]`);

async function live(page: Page): Promise<void> {
  await page.locator("#state", { hasText: "Live." }).waitFor({ timeout: 10_000 });
}

async function until(cond: () => boolean | Promise<boolean>, ms = 10_000, what = "condition"): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(20);
  }
}

const bytesEqual = (a: Uint8Array | undefined, b: Uint8Array) => !!a && a.length === b.length && Buffer.from(a).equals(Buffer.from(b));

describe.skipIf(!HAVE)("http page", () => {
  test("page - shows the ten regions with type, size, writer, preview, images as images, and the servers", async () => {
    const site = await Site.start({ name: "alpha" });
    await site.write(0, "hello world", { by: "laptop" });
    const png = makePng(40, 30, (x, y) => [x * 6, y * 8, 90]);
    await site.write(2, png);
    await site.write(3, new Uint8Array([0, 1, 2, 3, 255]));
    await site.writeSealed(5, "top secret, sealed", "text/plain");
    await using s = await open(site);
    const { page } = s;
    await live(page);
    await expect(page.locator("li.region").count()).resolves.toBe(10);
    for (let r = 0; r < 10; r++) expect(await card(page, r).locator("h3").textContent()).toBe(`Region ${r}`);
    const c0 = card(page, 0);
    expect(await c0.locator(".type").textContent()).toBe("text/plain;charset=utf-8");
    expect(await c0.locator(".size").textContent()).toBe("11 B");
    expect(await c0.locator(".writer").textContent()).toBe("laptop");
    expect(await c0.locator(".preview pre").textContent()).toBe("hello world");
    expect(await c0.locator(".age").textContent()).toMatch(/^\d+s ago$/);
    // The image is drawn: the browser decoded it to its real size.
    const img = card(page, 2).locator(".preview img");
    await img.waitFor();
    await until(() => img.evaluate((el: any) => el.complete && el.naturalWidth === 40 && el.naturalHeight === 30), 10_000, "image decoded");
    expect(await img.getAttribute("alt")).toContain("image/png");
    expect(await card(page, 3).locator(".preview").textContent()).toBe("binary, 5 B");
    // Sealed: marked, and nothing of it previewed.
    expect(await card(page, 5).locator(".preview").textContent()).toBe("encrypted");
    expect(await card(page, 5).locator(".type").textContent()).toContain("encrypted");
    expect(await card(page, 5).textContent()).not.toContain("top secret");
    expect(await card(page, 1).locator(".size").textContent()).toBe("empty");
    expect(await card(page, 1).locator(".download").getAttribute("aria-disabled")).toBe("true");
    // The servers: this one and its child.
    await page.locator("#tree li").first().waitFor();
    expect(await page.locator("#tree").textContent()).toContain("alpha (this server)");
    expect(await page.locator("#tree").textContent()).toContain("laptop");
    expect(s.errors).toEqual([]);
  });

  test("page - a write made elsewhere appears live, over one event stream for all regions", async () => {
    const site = await Site.start();
    await site.via("beta");
    await using s = await open(site);
    const { page } = s;
    await live(page);
    await site.write(4, "written on another machine", { by: "beta" });
    await card(page, 4).locator(".preview pre", { hasText: "written on another machine" }).waitFor({ timeout: 10_000 });
    expect(await card(page, 4).locator(".writer").textContent()).toBe("beta");
    const png = makePng(8, 8, () => [255, 0, 0]);
    await site.write(9, png, { by: "beta" });
    const img = card(page, 9).locator(".preview img");
    await img.waitFor({ timeout: 10_000 });
    await until(() => img.evaluate((el: any) => el.naturalWidth === 8), 10_000, "live image");
    // One stream for everything, not one per region.
    expect(s.log.filter((l) => l.url.includes("/events")).length).toBe(1);
    const status = await (await site.root.client()).status();
    expect(status.name).toBe("alpha");
  });

  test("page - the stream resumes after a cut with Last-Event-ID: writes made meanwhile are not lost", async () => {
    const site = await Site.start();
    await using s = await open(site);
    const { page } = s;
    await live(page);
    const seen = await site.write(1, "before the cut");
    await card(page, 1).locator(".preview pre", { hasText: "before the cut" }).waitFor();
    // The server restarts (same port, same data). The page's reconnection is held until a write was
    // made meanwhile, and its lists are refused from now on: what it missed can only come by the
    // stream resuming where it left off (the browser sends Last-Event-ID below what a route sees).
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    await page.route("**/v1/regions/events", async (route) => {
      await held;
      await route.continue();
    });
    await page.route("**/v1/regions", (route) => route.abort());
    const streams = () => s.log.filter((l) => l.url.endsWith("/v1/regions/events"));
    const before = streams().length;
    await site.root.stop("SIGTERM");
    await site.root.restart();
    await until(() => streams().length > before, 15_000, "EventSource to try again");
    const missed = await site.write(6, "made while the page was away");
    release();
    await card(page, 6).locator(".preview pre", { hasText: "made while the page was away" }).waitFor({ timeout: 10_000 });
    expect(missed).toBeGreaterThan(seen);
    expect(streams().length).toBe(before + 1);
  });

  test("page - text pasted into a region arrives byte-exact, by keyboard alone", async () => {
    const site = await Site.start();
    await using s = await open(site);
    const { page } = s;
    await live(page);
    const text = "line one\nline two: naïve café ✓ 日本語\ttab\n\nend without newline";
    // Tab to region 3's "Paste text" button and open it with the keyboard.
    const target = card(page, 3).locator(".paste-open");
    let found = false;
    for (let i = 0; i < 80 && !found; i++) {
      await page.keyboard.press("Tab");
      found = await target.evaluate((el) => el === document.activeElement);
    }
    expect(found).toBe(true);
    await page.keyboard.press("Enter");
    const area = card(page, 3).locator("textarea");
    await until(() => area.evaluate((el) => el === document.activeElement), 5000, "textarea focused");
    await page.keyboard.insertText(text);
    await page.keyboard.press("Tab"); // to "Save to region 3"
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe("Save to region 3");
    await page.keyboard.press("Enter");
    await card(page, 3).locator(".message", { hasText: "Saved" }).waitFor();
    expect(bytesEqual(await site.bytes(3), new TextEncoder().encode(text))).toBe(true);
    expect(await site.type(3)).toBe("text/plain;charset=utf-8");
    await card(page, 3).locator(".message", { hasText: "Saved" }).waitFor();
    // Focus returns to the button that opened the form.
    expect(await target.evaluate((el) => el === document.activeElement)).toBe(true);
  });

  test("page - a file dropped on a region, and one chosen with the picker, arrive byte-exact", async () => {
    const site = await Site.start();
    await using s = await open(site);
    const { page } = s;
    await live(page);
    const dropped = new Uint8Array(300_000);
    crypto.getRandomValues(dropped);
    const handle = await page.evaluateHandle(
      ({ b64 }) => {
        const bin = atob(b64);
        const bytes = new Uint8Array(bin.length);
        for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
        const dt = new DataTransfer();
        dt.items.add(new File([bytes], "random.bin", { type: "" }));
        return dt;
      },
      { b64: Buffer.from(dropped).toString("base64") },
    );
    const c7 = card(page, 7);
    await c7.dispatchEvent("dragenter", { dataTransfer: handle });
    expect(await c7.getAttribute("class")).toContain("dragover");
    await c7.dispatchEvent("drop", { dataTransfer: handle });
    await c7.locator(".message", { hasText: "Saved" }).waitFor();
    expect(bytesEqual(await site.bytes(7), dropped)).toBe(true);
    // Untyped: sent without Content-Type, so the server recognised it (not UTF-8: octet-stream).
    expect(await site.type(7)).toBe("application/octet-stream");
    expect(await c7.getAttribute("class")).not.toContain("dragover");

    const picked = makePng(64, 64, (x, y) => [(x * y) & 255, x * 4, y * 4]);
    await card(page, 8).locator("input[type=file]").setInputFiles({ name: "pic.png", mimeType: "image/png", buffer: Buffer.from(picked) });
    await card(page, 8).locator(".message", { hasText: "Saved" }).waitFor();
    expect(bytesEqual(await site.bytes(8), picked)).toBe(true);
    expect(await site.type(8)).toBe("image/png");
    // Its own write comes back as an event and shows the image.
    await card(page, 8).locator(".preview img").waitFor({ timeout: 10_000 });
  });

  test("page - download gets the region's bytes exactly", async () => {
    const site = await Site.start();
    const value = new Uint8Array(70_000).map((_, i) => (i * 7) & 255);
    await site.write(2, value);
    await using s = await open(site);
    const { page } = s;
    await live(page);
    const link = card(page, 2).locator(".download");
    expect(await link.getAttribute("href")).toBe("/v1/regions/2");
    expect(await link.getAttribute("download")).toBe("region-2.bin");
    const [download] = await Promise.all([page.waitForEvent("download"), link.click()]);
    const path = await download.path();
    expect(bytesEqual(new Uint8Array(await Bun.file(path!).arrayBuffer()), value)).toBe(true);
  });

  test("page - over TCP: asks for the token once, trades it for an HttpOnly cookie, and no URL ever holds it", async () => {
    const token = TOKEN;
    const site = await Site.start({ signIn: true });
    await using s = await open(site);
    const { page } = s;
    const input = page.locator("#token");
    await input.waitFor();
    expect(await page.locator("#regions-section").isHidden()).toBe(true);
    expect(await input.evaluate((el) => el === document.activeElement)).toBe(true);
    // A wrong token is refused and said so.
    await input.fill("wrong");
    await page.keyboard.press("Enter");
    await page.locator("#login-error", { hasText: "refused" }).waitFor();
    await input.fill(token);
    await page.keyboard.press("Enter");
    await live(page);
    await site.write(0, "after sign-in");
    await card(page, 0).locator(".preview pre", { hasText: "after sign-in" }).waitFor();
    // The cookie: HttpOnly (scripts cannot read it) and SameSite=Strict.
    const cookies = await s.ctx.cookies();
    expect(cookies.map((c) => [c.name, c.httpOnly, c.sameSite])).toEqual([["clip_session", true, "Strict"]]);
    expect(await page.evaluate(() => document.cookie)).toBe("");
    // The token went once, in the header of POST /v1/session, and nowhere else.
    const carrying = s.log.filter((l) => l.headers.authorization?.includes(token));
    expect(carrying.map((l) => `${l.method} ${new URL(l.url).pathname}`)).toEqual(["POST /v1/session"]);
    const after = s.log.slice(s.log.indexOf(carrying[0]) + 1);
    expect(after.length).toBeGreaterThan(2);
    for (const l of after) expect(l.headers.authorization).toBeUndefined();
    expect(after.filter((l) => l.url.includes("/v1/regions")).every((l) => l.headers.cookie?.includes("clip_session="))).toBe(true);
    for (const u of s.log.map((l) => l.url)) {
      expect(u).not.toContain(token);
      expect(decodeURIComponent(u)).not.toContain(token);
    }
    // A reload stays signed in (the cookie), without asking again.
    await page.reload();
    await live(page);
    expect(await page.locator("#login").isHidden()).toBe(true);
    // Signing out clears the session: the API asks again.
    await page.locator("#signout").click();
    await input.waitFor();
    expect((await s.ctx.cookies()).length).toBe(0);
  });

  test("page - every control has a name, images have text, focus is visible, text has contrast, light and dark", async () => {
    for (const scheme of ["light", "dark"] as const) {
      const site = await Site.start();
      await site.write(1, makePng(4, 4, () => [0, 0, 0]));
      await site.write(2, "text");
      await using s = await open(site, undefined, scheme);
      const { page } = s;
      await live(page);
      await card(page, 1).locator(".preview img").waitFor();
      const cdp = await s.ctx.newCDPSession(page);
      const { nodes } = (await cdp.send("Accessibility.getFullAXTree")) as { nodes: { role?: { value: string }; name?: { value: string }; ignored?: boolean }[] };
      const controls = nodes.filter((n) => !n.ignored && ["button", "link", "textbox", "image", "img"].includes(n.role?.value ?? ""));
      // 10 "Paste text" buttons, 10 file pickers (buttons), 2 download links (regions with a value), 1 image.
      expect(controls.length).toBeGreaterThanOrEqual(23);
      const unnamed = controls.filter((n) => !n.name?.value?.trim());
      expect(unnamed.map((n) => n.role?.value)).toEqual([]);
      // Contrast of text against its card, and of button text, per WCAG's formula (AA: 4.5).
      const ratios = await page.evaluate(() => {
        const lum = (c: string) => {
          const [r, g, b] = c.match(/[\d.]+/g)!.slice(0, 3).map(Number).map((v) => {
            const s = v / 255;
            return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
          });
          return 0.2126 * r + 0.7152 * g + 0.0722 * b;
        };
        const ratio = (fg: string, bg: string) => {
          const [a, b] = [lum(fg), lum(bg)].sort((x, y) => y - x);
          return (a + 0.05) / (b + 0.05);
        };
        const bgOf = (el: Element): string => {
          for (let e: Element | null = el; e; e = e.parentElement) {
            const c = getComputedStyle(e).backgroundColor;
            if (c && !c.startsWith("rgba(0, 0, 0, 0)") && c !== "transparent") return c;
          }
          return getComputedStyle(document.documentElement).backgroundColor;
        };
        const sel = ["h3", "dt", "dd", ".preview pre", ".note", ".paste-open", ".download", "#state", ".hint"];
        return sel.map((q) => {
          const el = document.querySelector(q)!;
          return [q, ratio(getComputedStyle(el).color, bgOf(el))] as const;
        });
      });
      for (const [q, r] of ratios) {
        if (r < 4.5) throw new Error(`${scheme}: ${q} has contrast ${r.toFixed(2)}`);
      }
      // Focus is drawn: a focused button gets an outline.
      await card(page, 0).locator(".paste-open").focus();
      await page.keyboard.press("Shift+Tab");
      await page.keyboard.press("Tab");
      const outline = await page.evaluate(() => getComputedStyle(document.activeElement!).outlineStyle);
      expect(outline).not.toBe("none");
    }
  });

  test("page - readable on a phone: one column, no sideways scrolling, controls big enough to tap", async () => {
    const site = await Site.start();
    await site.write(0, "a long line ".repeat(40));
    await site.write(1, "x".repeat(500));
    await using s = await open(site, { width: 360, height: 740 });
    const { page } = s;
    await live(page);
    const m = await page.evaluate(() => {
      const cards = [...document.querySelectorAll("li.region")].map((e) => e.getBoundingClientRect());
      const buttons = [...document.querySelectorAll("li.region button, li.region .button")].map((e) => e.getBoundingClientRect()).filter((r) => r.width > 0);
      return {
        scroll: document.documentElement.scrollWidth,
        inner: window.innerWidth,
        lefts: new Set(cards.map((c) => Math.round(c.left))).size,
        widest: Math.max(...cards.map((c) => c.right)),
        smallest: Math.min(...buttons.map((b) => b.height)),
      };
    });
    expect(m.scroll).toBeLessThanOrEqual(m.inner);
    expect(m.lefts).toBe(1);
    expect(m.widest).toBeLessThanOrEqual(360);
    expect(m.smallest).toBeGreaterThanOrEqual(40);
    await page.screenshot({ path: join(tmpdir(), "clip-page-phone.png") });
  });
});
