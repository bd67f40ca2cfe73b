// The web page in a real headless browser (Debian's chromium, driven by
// playwright-core) against the fake HTTP server (tests/helpers/fake-http.ts),
// which speaks SPEC's routes over an in-memory map. The same tests are meant
// to run later against clip's own HTTP listener.
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
import { FakeHttp } from "../helpers/fake-http.ts";
import { makePng } from "../helpers/png.ts";

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

interface Session {
  fake: FakeHttp;
  ctx: BrowserContext;
  page: Page;
  /** Every URL the page asked for, as the browser saw it. */
  urls: string[];
  errors: string[];
  [Symbol.asyncDispose](): Promise<void>;
}

async function open(fake: FakeHttp, viewport = { width: 1100, height: 900 }, colorScheme: "light" | "dark" = "light"): Promise<Session> {
  const ctx = await browser.newContext({ viewport, colorScheme });
  const page = await ctx.newPage();
  const urls: string[] = [];
  const errors: string[] = [];
  page.on("request", (r) => urls.push(r.url()));
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(`${fake.url}/`);
  return {
    fake,
    ctx,
    page,
    urls,
    errors,
    async [Symbol.asyncDispose]() {
      await ctx.close();
      await fake.stop();
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
    const fake = new FakeHttp({ name: "alpha" });
    fake.write(0, "hello world", { by: "laptop" });
    const png = makePng(40, 30, (x, y) => [x * 6, y * 8, 90]);
    fake.write(2, png, { by: "desktop" });
    fake.write(3, new Uint8Array([0, 1, 2, 3, 255]), { by: "ci" });
    fake.write(5, "top secret, sealed", { type: "text/plain", encrypted: true, by: "phone" });
    await using s = await open(fake);
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
    await using s = await open(new FakeHttp());
    const { page, fake } = s;
    await live(page);
    fake.write(4, "written on another machine", { by: "beta" });
    await card(page, 4).locator(".preview pre", { hasText: "written on another machine" }).waitFor({ timeout: 10_000 });
    expect(await card(page, 4).locator(".writer").textContent()).toBe("beta");
    const png = makePng(8, 8, () => [255, 0, 0]);
    fake.write(9, png, { by: "beta" });
    const img = card(page, 9).locator(".preview img");
    await img.waitFor({ timeout: 10_000 });
    await until(() => img.evaluate((el: any) => el.naturalWidth === 8), 10_000, "live image");
    // One stream for everything, not one per region.
    expect(s.urls.filter((u) => u.includes("/events")).length).toBe(1);
    expect(fake.openStreams).toBe(1);
  });

  test("page - the stream resumes after a cut with Last-Event-ID: writes made meanwhile are not lost", async () => {
    await using s = await open(new FakeHttp());
    const { page, fake } = s;
    await live(page);
    fake.write(1, "before the cut");
    await card(page, 1).locator(".preview pre", { hasText: "before the cut" }).waitFor();
    const resumes = () => fake.log.filter((l) => l.url.endsWith("/v1/regions/events")).length;
    const before = resumes();
    await fake.dropStreams();
    fake.write(6, "made while the page was away");
    await until(() => resumes() > before, 15_000, "EventSource reconnects");
    await card(page, 6).locator(".preview pre", { hasText: "made while the page was away" }).waitFor({ timeout: 10_000 });
    expect(fake.lastEventIds.at(-1)).toBe("1");
  });

  test("page - text pasted into a region arrives byte-exact, by keyboard alone", async () => {
    await using s = await open(new FakeHttp());
    const { page, fake } = s;
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
    await until(() => bytesEqual(fake.regions[3]?.bytes, new TextEncoder().encode(text)), 10_000, "region 3 written");
    expect(fake.regions[3]!.type).toBe("text/plain;charset=utf-8");
    await card(page, 3).locator(".message", { hasText: "Saved" }).waitFor();
    // Focus returns to the button that opened the form.
    expect(await target.evaluate((el) => el === document.activeElement)).toBe(true);
  });

  test("page - a file dropped on a region, and one chosen with the picker, arrive byte-exact", async () => {
    await using s = await open(new FakeHttp());
    const { page, fake } = s;
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
    await until(() => bytesEqual(fake.regions[7]?.bytes, dropped), 10_000, "dropped file stored");
    // Untyped: sent without Content-Type, so the server recognised it (not UTF-8: octet-stream).
    expect(fake.regions[7]!.type).toBe("application/octet-stream");
    await c7.locator(".message", { hasText: "Saved" }).waitFor();
    expect(await c7.getAttribute("class")).not.toContain("dragover");

    const picked = makePng(64, 64, (x, y) => [(x * y) & 255, x * 4, y * 4]);
    await card(page, 8).locator("input[type=file]").setInputFiles({ name: "pic.png", mimeType: "image/png", buffer: Buffer.from(picked) });
    await until(() => bytesEqual(fake.regions[8]?.bytes, picked), 10_000, "picked file stored");
    expect(fake.regions[8]!.type).toBe("image/png");
    // Its own write comes back as an event and shows the image.
    await card(page, 8).locator(".preview img").waitFor({ timeout: 10_000 });
  });

  test("page - download gets the region's bytes exactly", async () => {
    const fake = new FakeHttp();
    const value = new Uint8Array(70_000).map((_, i) => (i * 7) & 255);
    fake.write(2, value);
    await using s = await open(fake);
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
    const token = "t0k3n-Secret_value";
    await using s = await open(new FakeHttp({ listener: "tcp", token }));
    const { page, fake } = s;
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
    fake.write(0, "after sign-in");
    await card(page, 0).locator(".preview pre", { hasText: "after sign-in" }).waitFor();
    // The cookie: HttpOnly (scripts cannot read it) and SameSite=Strict.
    const cookies = await s.ctx.cookies();
    expect(cookies.map((c) => [c.name, c.httpOnly, c.sameSite])).toEqual([["clip_session", true, "Strict"]]);
    expect(await page.evaluate(() => document.cookie)).toBe("");
    // The token went once, in the header of POST /v1/session, and nowhere else.
    const carrying = fake.log.filter((l) => l.authorization?.includes(token));
    expect(carrying.map((l) => `${l.method} ${new URL(l.url).pathname}`)).toEqual(["POST /v1/session"]);
    const after = fake.log.slice(fake.log.indexOf(carrying[0]) + 1);
    expect(after.length).toBeGreaterThan(2);
    for (const l of after) expect(l.authorization).toBeNull();
    expect(after.filter((l) => l.url.includes("/v1/regions")).every((l) => l.cookie?.includes("clip_session="))).toBe(true);
    for (const u of [...s.urls, ...fake.log.map((l) => l.url)]) {
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
      await using s = await open(new FakeHttp(), undefined, scheme);
      const { page } = s;
      s.fake.write(1, makePng(4, 4, () => [0, 0, 0]));
      s.fake.write(2, "text");
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
    const fake = new FakeHttp();
    fake.write(0, "a long line ".repeat(40));
    fake.write(1, "x".repeat(500));
    await using s = await open(fake, { width: 360, height: 740 });
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
