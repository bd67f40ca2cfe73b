// clip's web view: the ten regions and the tree of servers, live over one
// event stream (GET /v1/regions/events: browsers allow few connections per
// host), with download, paste-text and drop-a-file into a region. It speaks
// only the documented API (docs/HTTP.md). Over TCP it asks for the cluster
// token once and trades it for an HttpOnly session cookie (POST /v1/session):
// the token is sent in one header, never stored, never put in a URL.
// Everything shown comes from the server and goes in as text, never as HTML.
"use strict";

const REGIONS = 10;
const IMAGE_FETCH_MAX = 8 << 20; // larger images are not fetched just for a preview
const TEXT_PREVIEW_CHARS = 2000;
const TREE_EVERY_MS = 10_000;
const SEALED = "application/x-clip-sealed";

const $ = (sel, root = document) => root.querySelector(sel);
// Whether this tab signed in (the cookie itself is HttpOnly: the page cannot see it).
// Only this flag is kept, never the token.
const SIGNED_IN = "clip-signed-in";
const state = { regions: [], cards: [], events: null, treeTimer: 0 };
const signedIn = (v) => {
  try {
    if (v === undefined) return sessionStorage.getItem(SIGNED_IN) === "1";
    if (v) sessionStorage.setItem(SIGNED_IN, "1");
    else sessionStorage.removeItem(SIGNED_IN);
  } catch {}
  return !!v;
};

// The CLI's units (src/cli/output.ts), so a size reads the same on the page and in `clip list`:
// a copy, since this file runs in the browser and imports nothing.
function humanSize(n) {
  if (n < 1000) return `${n} B`;
  const units = ["kB", "MB", "GB", "TB"];
  let v = n;
  let i = -1;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

function ago(ms) {
  if (!ms) return "-";
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

function setState(text) {
  $("#state").textContent = text;
}

function announce(text) {
  $("#announce").textContent = text;
}

/** A request to the API; a 401 shows the sign-in form and throws. */
async function api(path, init) {
  const res = await fetch(path, { credentials: "same-origin", cache: "no-store", ...init });
  if (res.status === 401) {
    showLogin();
    throw new Error("signed out");
  }
  if (!res.ok && res.status !== 204 && res.status !== 304) {
    let message = `${res.status} ${res.statusText}`;
    try {
      const body = await res.json();
      if (body && body.message) message = body.message;
    } catch {}
    throw new Error(message);
  }
  return res;
}

// ---- sign in ---------------------------------------------------------------

function showLogin() {
  stopLive();
  signedIn(false);
  $("#regions-section").hidden = true;
  $("#tree-section").hidden = true;
  $("#signout").hidden = true;
  $("#login").hidden = false;
  setState("Sign in to see this server.");
  $("#token").focus();
}

async function signIn(ev) {
  ev.preventDefault();
  const input = $("#token");
  const err = $("#login-error");
  err.textContent = "";
  // The token goes in a header of one POST; the answer sets the cookie.
  const res = await fetch("/v1/session", {
    method: "POST",
    credentials: "same-origin",
    headers: { Authorization: `Bearer ${input.value}` },
  });
  input.value = "";
  if (!res.ok) {
    err.textContent = res.status === 401 || res.status === 403 ? "That token was refused." : `Sign-in failed (${res.status}).`;
    input.focus();
    return;
  }
  signedIn(true);
  $("#login").hidden = true;
  start();
}

async function signOut() {
  await fetch("/v1/session", { method: "DELETE", credentials: "same-origin" });
  showLogin();
}

// ---- regions ---------------------------------------------------------------

// The server names the key a sealed value was sealed with (`encrypted`: its id); it never previews one.
function isSealed(r) {
  return (typeof r.encrypted === "string" && r.encrypted !== "") || r.encrypted === true || r.type === SEALED;
}

function extension(type) {
  const t = (type || "").split(";")[0].trim();
  const known = {
    "text/plain": "txt", "text/html": "html", "text/uri-list": "uri", "application/json": "json",
    "image/png": "png", "image/jpeg": "jpg", "image/gif": "gif", "image/webp": "webp", "image/svg+xml": "svg",
    "application/pdf": "pdf", "application/gzip": "gz", "application/zip": "zip",
  };
  return known[t] || "bin";
}

function makeCards() {
  const list = $("#regions");
  const tpl = $("#region-tpl");
  list.replaceChildren();
  state.cards = [];
  for (let r = 0; r < REGIONS; r++) {
    const li = tpl.content.firstElementChild.cloneNode(true);
    li.dataset.region = String(r);
    const h = $("h3", li);
    h.id = `region-${r}-h`;
    h.textContent = `Region ${r}`;
    $("article", li).setAttribute("aria-labelledby", h.id);
    $(".download", li).setAttribute("aria-label", `Download region ${r}`);
    $(".paste-open", li).setAttribute("aria-label", `Paste text into region ${r}`);
    const file = $(".file", li);
    file.id = `file-${r}`;
    file.setAttribute("aria-label", `Choose a file for region ${r}`);
    const form = $(".paste-form", li);
    const area = $("textarea", form);
    area.id = `text-${r}`;
    $("label", form).htmlFor = area.id;
    $("label", form).textContent = `Text for region ${r}`;
    $("button[type=submit]", form).textContent = `Save to region ${r}`;
    wireCard(li, r);
    list.append(li);
    state.cards.push(li);
  }
}

function wireCard(li, r) {
  const form = $(".paste-form", li);
  const open = $(".paste-open", li);
  open.addEventListener("click", () => {
    form.hidden = !form.hidden;
    open.setAttribute("aria-expanded", String(!form.hidden));
    if (!form.hidden) $("textarea", form).focus();
  });
  $(".paste-cancel", li).addEventListener("click", () => {
    form.hidden = true;
    open.setAttribute("aria-expanded", "false");
    open.focus();
  });
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const text = $("textarea", form).value;
    const ok = await upload(r, new Blob([text], { type: "text/plain;charset=utf-8" }));
    if (ok) {
      $("textarea", form).value = "";
      form.hidden = true;
      open.setAttribute("aria-expanded", "false");
      open.focus();
    }
  });
  $(".file", li).addEventListener("change", async (ev) => {
    const f = ev.target.files && ev.target.files[0];
    if (f) await upload(r, f);
    ev.target.value = "";
  });
  // Dropping a file anywhere on the card writes it to that region.
  let depth = 0;
  li.addEventListener("dragenter", (ev) => {
    if (!hasFiles(ev)) return;
    ev.preventDefault();
    depth++;
    li.classList.add("dragover");
  });
  li.addEventListener("dragover", (ev) => {
    if (!hasFiles(ev)) return;
    ev.preventDefault();
    ev.dataTransfer.dropEffect = "copy";
  });
  li.addEventListener("dragleave", () => {
    if (--depth <= 0) {
      depth = 0;
      li.classList.remove("dragover");
    }
  });
  li.addEventListener("drop", async (ev) => {
    ev.preventDefault();
    depth = 0;
    li.classList.remove("dragover");
    const f = ev.dataTransfer && ev.dataTransfer.files[0];
    if (f) await upload(r, f);
  });
  // Ctrl+V of an image (or file) while a card has focus writes it there.
  li.addEventListener("paste", async (ev) => {
    if (ev.target instanceof HTMLTextAreaElement) return;
    const f = ev.clipboardData && ev.clipboardData.files[0];
    if (!f) return;
    ev.preventDefault();
    await upload(r, f);
  });
}

function hasFiles(ev) {
  return ev.dataTransfer && Array.from(ev.dataTransfer.types || []).includes("Files");
}

async function upload(r, blob) {
  const msg = $(".message", state.cards[r]);
  msg.classList.remove("error");
  msg.textContent = `Writing ${humanSize(blob.size)}…`;
  try {
    // The browser streams a File from disk. Without a type (an unknown file),
    // no Content-Type is sent and the server recognises the bytes.
    const headers = blob.type ? { "Content-Type": blob.type } : {};
    const res = await api(`/v1/regions/${r}`, { method: "PUT", body: blob, headers });
    const { rev } = await res.json();
    msg.textContent = `Saved (revision ${rev}).`;
    announce(`Region ${r} saved.`);
    return true;
  } catch (e) {
    msg.classList.add("error");
    msg.textContent = `Not saved: ${e.message}`;
    return false;
  }
}

/** Applies what the list or an event says of a region; older news than what is shown is ignored. */
function update(info, fromEvent) {
  const r = info.region;
  if (!Number.isInteger(r) || r < 0 || r >= REGIONS) return;
  const old = state.regions[r];
  if (old && typeof info.rev === "number" && typeof old.rev === "number") {
    if (info.rev < old.rev) return;
    if (info.rev === old.rev) {
      // The same write seen again (the list after its event): take the preview the event lacked.
      if (!fromEvent && old.value === undefined && old.preview === undefined && info.preview !== undefined) {
        old.preview = info.preview;
        old.binary = info.binary;
        render(r);
      }
      return;
    }
  }
  const cur = {
    region: r,
    rev: info.rev,
    size: info.size || 0,
    type: info.type || "",
    writer: info.writer || info.by || "",
    at: typeof info.at === "number" ? info.at : fromEvent ? Date.now() : 0,
    preview: info.preview,
    binary: info.binary,
    encrypted: info.encrypted,
    value: info.value,
    empty: info.event === "expire" || info.event === "del" || !(info.size > 0),
  };
  state.regions[r] = cur;
  render(r);
  if (!fromEvent) return;
  announce(`Region ${r} ${cur.empty ? "is now empty" : `updated by ${cur.writer || "a server"}`}.`);
  // An event carries the value only up to 64 KiB: the list has a preview of larger text.
  const image = cur.type.startsWith("image/");
  if (cur.value === undefined && !cur.empty && !image && !isSealed(cur)) refreshList().catch(() => {});
}

function render(r) {
  const li = state.cards[r];
  const cur = state.regions[r];
  if (!li || !cur) return;
  $(".type", li).textContent = cur.empty ? "-" : isSealed(cur) ? `${cur.type || "?"} (encrypted)` : cur.type || "-";
  $(".size", li).textContent = cur.empty ? "empty" : humanSize(cur.size);
  $(".writer", li).textContent = cur.writer || "-";
  const age = $(".age", li);
  age.textContent = ago(cur.at);
  age.dataset.at = String(cur.at || 0);
  const dl = $(".download", li);
  if (cur.empty) {
    dl.removeAttribute("href");
    dl.setAttribute("aria-disabled", "true");
  } else {
    dl.href = `/v1/regions/${r}`;
    dl.download = `region-${r}.${isSealed(cur) ? "sealed" : extension(cur.type)}`;
    dl.removeAttribute("aria-disabled");
  }
  renderPreview(li, cur);
}

function note(text) {
  const p = document.createElement("p");
  p.className = "note";
  p.textContent = text;
  return p;
}

function bytesOf(base64) {
  const s = atob(base64);
  const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i);
  return b;
}

function renderPreview(li, cur) {
  const box = $(".preview", li);
  const old = $("img", box);
  if (old && old.src.startsWith("blob:")) URL.revokeObjectURL(old.src);
  if (cur.empty) return box.replaceChildren(note("empty"));
  if (isSealed(cur)) return box.replaceChildren(note("encrypted"));
  const type = cur.type.split(";")[0].trim();
  if (type.startsWith("image/")) {
    const img = document.createElement("img");
    img.alt = `Region ${cur.region}: ${type} image, ${humanSize(cur.size)}`;
    if (cur.value) {
      img.src = URL.createObjectURL(new Blob([bytesOf(cur.value)], { type }));
      return box.replaceChildren(img);
    }
    if (cur.size > IMAGE_FETCH_MAX) return box.replaceChildren(note(`${type} image, ${humanSize(cur.size)}: download to view`));
    const rev = cur.rev;
    box.replaceChildren(note("loading image…"));
    api(`/v1/regions/${cur.region}`)
      .then((res) => res.blob())
      .then((blob) => {
        if (state.regions[cur.region].rev !== rev) return; // a newer write came meanwhile
        img.src = URL.createObjectURL(blob);
        box.replaceChildren(img);
      })
      .catch(() => box.replaceChildren(note(`${type} image`)));
    return;
  }
  let text = null;
  if (cur.value) {
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(bytesOf(cur.value));
    } catch {}
    // eslint-disable-next-line no-control-regex
    if (text !== null && /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(text)) text = null;
  } else if (!cur.binary && typeof cur.preview === "string") text = cur.preview;
  if (cur.value === undefined && cur.preview === undefined) return box.replaceChildren(note("…"));
  if (text === null) return box.replaceChildren(note(`binary, ${humanSize(cur.size)}`));
  const pre = document.createElement("pre");
  pre.textContent = text.length > TEXT_PREVIEW_CHARS ? `${text.slice(0, TEXT_PREVIEW_CHARS)}…` : text;
  box.replaceChildren(pre);
}

let listing = null;
/** Reads the whole list again (at start, after each (re)connect, for previews events do not carry). */
function refreshList() {
  listing ??= api("/v1/regions")
    .then((res) => res.json())
    .then((list) => {
      for (const info of list) update(info, false);
    })
    .finally(() => (listing = null));
  return listing;
}

// ---- live ------------------------------------------------------------------

function stopLive() {
  if (state.events) state.events.close();
  state.events = null;
  clearInterval(state.treeTimer);
}

function goLive() {
  stopLive();
  // One stream for all ten regions. EventSource reconnects by itself and
  // sends Last-Event-ID, so the server resumes where this left off.
  const es = new EventSource("/v1/regions/events");
  state.events = es;
  es.onopen = () => {
    setState("Live.");
    // Writes between the first list and this stream's start are in the list.
    refreshList().catch(() => {});
  };
  es.onmessage = (ev) => {
    let info;
    try {
      info = JSON.parse(ev.data);
    } catch {
      return;
    }
    update(info, true);
  };
  es.onerror = () => {
    if (es.readyState === EventSource.CLOSED) {
      // The server refused the stream (signed out, or the resume point is no
      // longer held): start over from the list, which also shows the sign-in.
      setState("Reconnecting…");
      setTimeout(start, 1000);
    } else setState("Reconnecting…");
  };
  state.treeTimer = setInterval(() => loadTree().catch(() => {}), TREE_EVERY_MS);
}

// ---- servers ---------------------------------------------------------------

function treeNode(n, self) {
  const li = document.createElement("li");
  const name = document.createElement("span");
  name.textContent = n.name || n.id || "?";
  if (n.id === self) {
    name.className = "self";
    name.textContent += " (this server)";
  }
  const small = document.createElement("small");
  const clients = `${n.clients ?? 0} client${n.clients === 1 ? "" : "s"}`;
  const rev = n.rev ?? n.seq;
  small.textContent = ` ${n.role || ""} · ${(n.addrs || []).join(" ") || "no TCP address"} · ${clients}${rev === undefined ? "" : ` · rev ${rev}`}`;
  li.append(name, small);
  const kids = n.children || [];
  if (kids.length) {
    const ul = document.createElement("ul");
    for (const k of kids) ul.append(treeNode(k, self));
    li.append(ul);
  }
  return li;
}

async function loadTree() {
  const t = await (await api("/v1/tree")).json();
  const ul = document.createElement("ul");
  if (t.root) ul.append(treeNode(t.root, t.self));
  const box = $("#tree");
  box.replaceChildren(ul);
  if (t.partial) box.append(note("The root could not be reached: this is this server's subtree only."));
  const self = findNode(t.root, t.self);
  if (self) $("#server").textContent = `on ${self.name}`;
  $("#tree-section").hidden = false;
}

function findNode(n, id) {
  if (!n) return null;
  if (n.id === id) return n;
  for (const k of n.children || []) {
    const f = findNode(k, id);
    if (f) return f;
  }
  return null;
}

// ---- start -----------------------------------------------------------------

async function start() {
  try {
    await refreshList();
  } catch (e) {
    if (e.message !== "signed out") {
      setState(`Cannot reach the server: ${e.message}. Retrying…`);
      setTimeout(start, 3000);
    }
    return;
  }
  $("#login").hidden = true;
  $("#regions-section").hidden = false;
  $("#signout").hidden = !signedIn();
  goLive();
  loadTree().catch(() => {});
}

document.addEventListener("DOMContentLoaded", () => {
  makeCards();
  $("#login-form").addEventListener("submit", signIn);
  $("#signout").addEventListener("click", signOut);
  // Keep ages current without redrawing the cards.
  setInterval(() => {
    for (const el of document.querySelectorAll(".age")) el.textContent = ago(Number(el.dataset.at));
  }, 5000);
  start();
});
