// Text for prompts and log lines: dates, durations, and requester-written text made safe.
// The same functions, with the same results, as the Rust SDK's `porchlight_sdk::text`.
//
// A policy that asks the resident writes a prompt that shows text the requester chose (a reason,
// a name, a case number, camera names). `clean` and `quoted` make such text safe for one line:
// line breaks and other control or text-direction characters become spaces and long texts are
// cut, so a request cannot dress up its reason as a line of the prompt's own.
//
// Timestamps are BigInt seconds since 1970 (as the contract passes them); numbers are accepted
// too. Policies get no time zone database: dates come from arithmetic alone.

/** A sensible longest name (organisation, person, camera, case number, ...), in characters. */
export const MAX_NAME = 80;
/** A sensible longest free text (a reason, a statement), in characters. */
export const MAX_TEXT = 300;
/** Cameras `cameraList` names; the rest are counted. */
export const MAX_CAMERAS = 12;

const I64_MIN = -(2n ** 63n);
const I64_MAX = 2n ** 63n - 1n;

function divEuclid(a, b) {
  const q = a / b;
  return a % b < 0n ? q - 1n : q;
}

function remEuclid(a, b) {
  const r = a % b;
  return r < 0n ? r + b : r;
}

const pad = (n, width) => String(n).padStart(width, "0");

/** The civil date and time, if years 0000–9999. */
function civil(ts, utcOffsetMinutes) {
  const t = BigInt(ts) + BigInt(utcOffsetMinutes) * 60n;
  if (t < I64_MIN || t > I64_MAX) return undefined;
  const days = divEuclid(t, 86400n);
  const secs = remEuclid(t, 86400n);
  // Howard Hinnant's civil_from_days.
  const z = days + 719468n;
  const era = divEuclid(z, 146097n);
  const doe = remEuclid(z, 146097n);
  const yoe = (doe - doe / 1460n + doe / 36524n - doe / 146096n) / 365n;
  const doy = doe - (365n * yoe + yoe / 4n - yoe / 100n);
  const mp = (5n * doy + 2n) / 153n;
  const day = doy - (153n * mp + 2n) / 5n + 1n;
  const month = mp < 10n ? mp + 3n : mp - 9n;
  const year = yoe + era * 400n + (month <= 2n ? 1n : 0n);
  if (year < 0n || year > 9999n) return undefined;
  const [h, m, s] = [secs / 3600n, (secs / 60n) % 60n, secs % 60n];
  const hm = `${pad(year, 4)}-${pad(month, 2)}-${pad(day, 2)} ${pad(h, 2)}:${pad(m, 2)}`;
  return s === 0n ? hm : `${hm}:${pad(s, 2)}`;
}

const far = (ts) => `${BigInt(ts)} s after 1970 (UTC)`;

/**
 * A timestamp as a civil date and time at `utcOffsetMinutes` from UTC, `2027-01-15 08:00`
 * (with seconds when not zero), without a zone; far outside years 0000–9999 the number of
 * seconds since 1970, `253402300800 s after 1970 (UTC)`.
 */
export function dateTime(ts, utcOffsetMinutes) {
  return civil(ts, utcOffsetMinutes) ?? far(ts);
}

/** A timestamp in UTC, `2027-01-15 08:00 UTC`. */
export function utc(ts) {
  const t = civil(ts, 0);
  return t === undefined ? far(ts) : `${t} UTC`;
}

/** A time of day given in minutes after midnight, `07:05`. */
export function hhmm(minutes) {
  return `${pad(Math.floor(minutes / 60), 2)}:${pad(minutes % 60, 2)}`;
}

/**
 * A length of time in seconds, rounded down to its two largest units: `45 s`, `10 min`,
 * `1 min 30 s`, `1 h 30 min`, `2 d 3 h`.
 */
export function duration(seconds) {
  const secs = BigInt(seconds);
  const [d, h, m, s] = [secs / 86400n, (secs / 3600n) % 24n, (secs / 60n) % 60n, secs % 60n];
  if (secs < 60n) return `${secs} s`;
  if (secs < 3600n && s === 0n) return `${m} min`;
  if (secs < 3600n) return `${m} min ${s} s`;
  if (secs < 86400n && m === 0n) return `${h} h`;
  if (secs < 86400n) return `${h} h ${m} min`;
  if (h === 0n) return `${d} d`;
  return `${d} d ${h} h`;
}

// The engine inside a policy has no Unicode database (no ICU, so no `\p{…}` in regular
// expressions): the two classes `clean` needs are spelt out. Control characters (Cc) and the
// White_Space property, as Rust's `char::is_control` and `char::is_whitespace` have them.
const isControl = (p) => p <= 0x1f || (p >= 0x7f && p <= 0x9f);
const WHITE_SPACE = new Set([
  0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x20, 0x85, 0xa0, 0x1680, 0x2000, 0x2001, 0x2002, 0x2003, 0x2004,
  0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200a, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000,
]);

/**
 * Whether `c` is one of the Unicode bidirectional formatting characters (marks, embeddings,
 * overrides and isolates), which can make text display in another order than it is written.
 */
export function isDirectionMark(c) {
  const p = c.codePointAt(0);
  return (
    p === 0x200e || p === 0x200f || (p >= 0x202a && p <= 0x202e) || (p >= 0x2066 && p <= 0x2069) || p === 0x061c
  );
}

/**
 * Requester-written text made safe for one line: control characters (line breaks included),
 * other whitespace and text-direction characters become spaces, runs of spaces one, leading and
 * trailing spaces go, and it is cut to `maxChars` characters (code points), marked with `…`.
 */
export function clean(text, maxChars) {
  let out = "";
  let count = 0;
  for (let c of text) {
    const p = c.codePointAt(0);
    if (isControl(p) || WHITE_SPACE.has(p) || isDirectionMark(c)) c = " ";
    if (c === " " && (out === "" || out.endsWith(" "))) continue;
    if (count === maxChars) return `${out.replace(/ +$/, "")}\u2026`;
    out += c;
    count += 1;
  }
  return out.replace(/ +$/, "");
}

/** Requester-written text `clean`ed and in quotation marks, `“Burglary”`, or `none given`. */
export function quoted(text, maxChars) {
  const t = clean(text, maxChars);
  return t === "" ? "none given" : `\u201c${t}\u201d`;
}

/**
 * Camera names, each `quoted` (at most `MAX_NAME` characters), the first `MAX_CAMERAS` by name
 * and the rest counted: `“front”, “back”`, `…, “cam11”, and 8 more`, or `no cameras`.
 */
export function cameraList(cameras) {
  if (cameras.length === 0) return "no cameras";
  const names = cameras.slice(0, MAX_CAMERAS).map((c) => quoted(c, MAX_NAME));
  if (cameras.length > MAX_CAMERAS) names.push(`and ${cameras.length - MAX_CAMERAS} more`);
  return names.join(", ");
}

const KINDS = {
  police: "police",
  monitoring: "monitoring company",
  insurer: "insurer",
  neighbour: "neighbour",
  resident: "resident",
  other: "other",
};

/** What kind of requester this is, for the resident: `police`, `monitoring company`, ... */
export function requesterKind(kind) {
  return KINDS[kind] ?? "other";
}
