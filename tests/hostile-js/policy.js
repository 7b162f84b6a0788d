// A hostile JavaScript policy for the tests (tests/tests/js_policies.rs): the request's `reason`
// picks how it misbehaves. The hub must deny, or make the attempt harmless, every time.

import { allow, deny, everything, log } from "porchlight-sdk";

const modes = {
  // Never returns: the time or fuel limit ends it.
  loop() {
    for (;;) {}
  },
  // Allocates until the memory limit traps it.
  grow() {
    const keep = [];
    for (;;) keep.push(new Array(1 << 20).fill(keep.length));
  },
  // A string far larger than any memory limit.
  "huge-string"() {
    let s = "x";
    for (;;) s = s + s;
  },
  // A 1 MiB deny reason: the host cuts it.
  "huge-reason"() {
    return deny("x".repeat(1 << 20));
  },
  // Tries to reach the network.
  async fetch() {
    try {
      const r = await fetch("http://127.0.0.1:9/steal");
      return allow({ ...everything(this.request), cameras: [`fetched-${r.status}`] });
    } catch (e) {
      return deny(`fetch failed: ${e}`);
    }
  },
  // Reads the clocks, to decide differently each time.
  clock() {
    return deny(`Date.now=${Date.now()} performance.now=${performance.now()} date=${new Date().toISOString()}`);
  },
  // Reads randomness, to decide differently each time.
  random() {
    const words = crypto.getRandomValues(new Uint32Array(4)).join(",");
    if (Math.random() < 0.5) return deny(`random: low ${words}`);
    return deny(`random: high ${words}`);
  },
  // Waits an hour on a timer before answering.
  async timer() {
    await new Promise((resolve) => setTimeout(resolve, 3600 * 1000));
    return deny(`waited; Date.now=${Date.now()}`);
  },
  // Writes to standard output and error, and floods the log.
  console() {
    console.log("hostile says hello on stdout");
    console.error("hostile says hello on stderr");
    for (let i = 0; i < 1000; i++) console.log(`flood ${i} ${"y".repeat(100)}`);
    log("info", "still here");
    return deny("wrote to the console");
  },
  // Throws.
  throw() {
    throw new Error("hostile threw");
  },
  // Grants a camera that was not asked for.
  "grant-more"() {
    const g = everything(this.request);
    return allow({ ...g, cameras: [...g.cameras, "kitchen"] });
  },
  // Looks for things a policy has no business with.
  snoop() {
    const found = [];
    for (const name of ["process", "require", "Deno", "Bun", "XMLHttpRequest", "WebSocket", "fetch"]) {
      if (typeof globalThis[name] !== "undefined") found.push(name);
    }
    return deny(`globals: ${found.join(",") || "none"}`);
  },
};

export function checkConfig(_config) {}

export function decide(_config, request, _context) {
  const mode = modes[request.reason];
  if (mode === undefined) return deny(`hostile: unknown mode ${request.reason}`);
  return mode.call({ request });
}

export function onEvent(_config, _event, _context) {
  return undefined;
}
