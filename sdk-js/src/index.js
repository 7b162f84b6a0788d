// Porchlight policy SDK for JavaScript: write a sharing policy as an ES module, test it under
// Node (`porchlight-sdk/testing`), build it into a WebAssembly component (`porchlight-build`).
//
// The contract is sdk/wit/policy.wit (porchlight:policy@0.1.0). Values cross it as
// componentize-js maps WIT types to JavaScript (types/policy.d.ts has them all):
// records are objects with camelCase fields, variants are `{ tag, val }`, enums are strings,
// `option<T>` is the value or `undefined`, timestamps (s64) are BigInt seconds since 1970,
// `u32` values are numbers.
//
// A policy module exports `checkConfig`, `decide` and `onEvent`; `policy()` makes all three from
// a description, with the configuration parsed and checked like the Rust SDK does:
//
//   import { policy, deny, allow, everything } from "porchlight-sdk";
//   export const { checkConfig, decide, onEvent } = policy({
//     config: { tag: "street" },
//     decide(config, request, context) { ... return deny("..."); },
//   });

import hostLog from "log";

export * as text from "./text.js";

/** Log levels of the contract. */
export const LogLevel = Object.freeze({ debug: "debug", info: "info", warn: "warn", error: "error" });

/**
 * Writes to the hub's log (at most 4 KiB per message; the hub also limits the total).
 * @param {"debug"|"info"|"warn"|"error"} level
 * @param {string} message
 */
export function log(level, message) {
  hostLog(level, String(message));
}

/** A `deny` decision with this reason. */
export function deny(reason) {
  return { tag: "deny", val: String(reason) };
}

/** An `ask` decision: ask the resident, deny after `timeoutSeconds` without an answer. */
export function ask(prompt, timeoutSeconds) {
  return { tag: "ask", val: { prompt: String(prompt), timeoutSeconds } };
}

/** An `allow` decision with this grant (see `everything`). */
export function allow(grant) {
  return { tag: "allow", val: grant };
}

/** The cameras the request names, whatever its kind. */
export function cameras(request) {
  return request.kind.val.cameras;
}

/** The time range of a clip request, or `undefined`. */
export function clipRange(request) {
  return request.kind.tag === "clip" ? request.kind.val.range : undefined;
}

/** The camera of the context with this name, or `undefined` if the hub has none. */
export function camera(context, name) {
  return context.cameras.find((c) => c.name === name);
}

/** Whether the camera has this tag. */
export function hasTag(info, tag) {
  return info.tags.includes(tag);
}

/** Everything the request asked for, nothing more: narrow it with `{ ...everything(r), ... }`. */
export function everything(request) {
  return {
    cameras: [...cameras(request)],
    range: clipRange(request),
    liveMaxSeconds: request.kind.tag === "live" ? request.kind.val.maxSeconds : undefined,
    stripAudio: false,
    notifyResident: true,
  };
}

/** The overlap of two time ranges, or `undefined`. */
export function intersect(a, b) {
  const start = a.start > b.start ? a.start : b.start;
  const end = a.end < b.end ? a.end : b.end;
  return start <= end ? { start, end } : undefined;
}

/** The smaller of two BigInts (or numbers of one kind). */
export function min(a, b) {
  return a < b ? a : b;
}

/** The larger of two BigInts (or numbers of one kind). */
export function max(a, b) {
  return a > b ? a : b;
}

/** The largest `u32`. */
export const U32_MAX = 4294967295;

/** A policy's configuration was not acceptable. */
export class ConfigError extends Error {}

/**
 * Parses the resident's configuration (JSON text, `""` meaning `{}`) against `defaults`: every
 * key must be one of theirs and of the same type (integers for integer defaults; `u32` range
 * unless `ranges` says otherwise), and missing keys take the default. Throws `ConfigError`
 * with a message starting "invalid configuration: ".
 * @param {string} text
 * @param {Record<string, boolean|number|string|null>} defaults
 */
export function parseConfig(text, defaults) {
  const bad = (why) => new ConfigError(`invalid configuration: ${why}`);
  let value;
  try {
    value = JSON.parse(text.trim() === "" ? "{}" : text);
  } catch (e) {
    throw bad(e.message);
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw bad("expected a table (a JSON object)");
  }
  const config = { ...defaults };
  for (const [key, v] of Object.entries(value)) {
    if (!Object.hasOwn(defaults, key)) {
      throw bad(`unknown field \`${key}\`, expected one of ${Object.keys(defaults).map((k) => `\`${k}\``).join(", ")}`);
    }
    const d = defaults[key];
    if (typeof d === "number") {
      if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > U32_MAX) {
        throw bad(`\`${key}\` must be a whole number from 0 to ${U32_MAX}, not ${JSON.stringify(v)}`);
      }
    } else if (d !== null && typeof v !== typeof d) {
      throw bad(`\`${key}\` must be a ${typeof d}, not ${JSON.stringify(v)}`);
    }
    config[key] = v;
  }
  return config;
}

/**
 * Makes the three exports of a policy module from a description:
 * - `config`: the defaults of every configuration key (see `parseConfig`);
 * - `check(config)`: optional, returns an error message (string) to reject it, or nothing;
 * - `decide(config, request, context)`: the decision;
 * - `onEvent(config, event, context)`: optional, an offer or `undefined`.
 * A configuration that does not parse is rejected at load and makes `decide` deny (fail closed).
 */
export function policy({ config: defaults = {}, check, decide, onEvent }) {
  const parse = (text) => parseConfig(text, defaults);
  return {
    checkConfig(text) {
      let why;
      try {
        why = check?.(parse(text));
      } catch (e) {
        why = e instanceof ConfigError ? e.message : `check failed: ${e}`;
      }
      if (why !== undefined && why !== null) {
        // componentize-js turns a thrown value into the `err` of `result<_, string>`.
        throw String(why);
      }
    },
    decide(text, request, context) {
      let config;
      try {
        config = parse(text);
      } catch (e) {
        return deny(e.message);
      }
      return decide(config, request, context);
    },
    onEvent(text, event, context) {
      if (!onEvent) return undefined;
      let config;
      try {
        config = parse(text);
      } catch {
        return undefined;
      }
      return onEvent(config, event, context);
    },
  };
}

/**
 * A string as Rust's `{:?}` writes it (`"W-1"`, with `\n`, `\"`, `\u{202e}` escapes), so a
 * policy ported from Rust gives the same reasons word for word.
 */
export function debugString(s) {
  let out = '"';
  for (const c of s) {
    const p = c.codePointAt(0);
    if (c === "\0") out += "\\0";
    else if (c === "\t") out += "\\t";
    else if (c === "\r") out += "\\r";
    else if (c === "\n") out += "\\n";
    else if (c === "\\") out += "\\\\";
    else if (c === '"') out += '\\"';
    else if (notPrintable(p)) out += `\\u{${p.toString(16)}}`;
    else out += c;
  }
  return `${out}"`;
}

// Rust escapes what it does not print: control and format characters, separators other than
// the space, private-use and unassigned code points, and combining marks. The engine inside a
// policy has no Unicode database (no ICU), so this is a table of the ranges that occur in
// practice: control characters, the format characters, separators and private-use areas, and
// the common combining marks. Text of other scripts' combining marks may be escaped by Rust but
// not here.
const NOT_PRINTABLE = [
  [0x00, 0x1f], [0x7f, 0x9f], [0xa0, 0xa0], [0xad, 0xad], [0x300, 0x36f], [0x483, 0x489],
  [0x591, 0x5bd], [0x600, 0x605], [0x61c, 0x61c], [0x6dd, 0x6dd], [0x70f, 0x70f], [0x1680, 0x1680],
  [0x180e, 0x180e], [0x1ab0, 0x1aff], [0x1dc0, 0x1dff], [0x2000, 0x200f], [0x2028, 0x202f],
  [0x205f, 0x2064], [0x2066, 0x206f], [0x20d0, 0x20ff], [0x3000, 0x3000], [0xd800, 0xf8ff],
  [0xfe00, 0xfe0f], [0xfe20, 0xfe2f], [0xfeff, 0xfeff], [0xfff9, 0xfffb], [0xe0000, 0xe0fff],
  [0xf0000, 0x10ffff],
];

function notPrintable(p) {
  return NOT_PRINTABLE.some(([lo, hi]) => p >= lo && p <= hi);
}
