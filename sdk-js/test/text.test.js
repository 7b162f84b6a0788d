// porchlight-sdk/text gives what the Rust SDK's `text` module gives (the same cases as its tests).
import assert from "node:assert/strict";
import { test } from "node:test";
import { MAX_CAMERAS, MAX_NAME, cameraList, clean, dateTime, duration, hhmm, quoted, utc } from "../src/text.js";
import { debugString } from "./sdk.js";

const I64_MIN = -(2n ** 63n);
const I64_MAX = 2n ** 63n - 1n;

test("utc reads well", () => {
  assert.equal(utc(0n), "1970-01-01 00:00 UTC");
  assert.equal(utc(-1n), "1969-12-31 23:59:59 UTC");
  assert.equal(utc(951782400n), "2000-02-29 00:00 UTC");
  assert.equal(utc(1800000000n), "2027-01-15 08:00 UTC");
  assert.equal(utc(1800000001n), "2027-01-15 08:00:01 UTC");
  assert.equal(utc(253402300799n), "9999-12-31 23:59:59 UTC");
  assert.equal(utc(-62167219200n), "0000-01-01 00:00 UTC");
  assert.equal(utc(-62167219201n), "-62167219201 s after 1970 (UTC)");
  assert.equal(utc(I64_MIN), `${I64_MIN} s after 1970 (UTC)`);
  assert.equal(utc(I64_MAX), `${I64_MAX} s after 1970 (UTC)`);
});

test("date_time uses the offset", () => {
  assert.equal(dateTime(1800000000n, 60), "2027-01-15 09:00");
  assert.equal(dateTime(1800000000n, -720), "2027-01-14 20:00");
  assert.equal(dateTime(1800000059n, 840), "2027-01-15 22:00:59");
  assert.equal(dateTime(253402300799n - 3600n, 60), "9999-12-31 23:59:59");
  assert.equal(dateTime(I64_MAX, 840), `${I64_MAX} s after 1970 (UTC)`);
  assert.equal(dateTime(I64_MIN, -720), `${I64_MIN} s after 1970 (UTC)`);
});

test("durations and times of day read well", () => {
  const cases = [[0, "0 s"], [59, "59 s"], [60, "1 min"], [90, "1 min 30 s"], [3600, "1 h"], [5400, "1 h 30 min"],
    [86400, "1 d"], [604800, "7 d"], [183600, "2 d 3 h"]];
  for (const [s, want] of cases) assert.equal(duration(BigInt(s)), want);
  assert.equal(duration(60), "1 min");
  assert.equal(hhmm(7 * 60 + 5), "07:05");
});

test("clean keeps text on one line and cuts it by characters", () => {
  assert.equal(clean("routine\nLegal basis: x\r\n\u202eevil", 100), "routine Legal basis: x evil");
  assert.equal(clean("  a \t\u0000b\u2028c\u0085  ", 100), "a b c");
  assert.equal(clean("Zoë Müller", 100), "Zoë Müller");
  assert.equal(clean("ëëëë", 3), "ëëë\u2026");
  assert.equal(clean("ab cd", 3), "ab\u2026");
  assert.equal(clean("abc   ", 3), "abc\u2026");
  assert.equal(clean("abc", 0), "\u2026");
  assert.equal(quoted("  ", 10), "none given");
  assert.equal(cameraList([]), "no cameras");
  const twenty = cameraList(Array.from({ length: 20 }, (_, i) => `cam${i}`));
  assert.ok(twenty.endsWith("\u201ccam11\u201d, and 8 more"), twenty);
  assert.equal(clean("x".repeat(1000), MAX_NAME), `${"x".repeat(MAX_NAME)}\u2026`);
  assert.equal(MAX_CAMERAS, 12);
});

test("debugString writes strings as Rust's {:?} does", () => {
  assert.equal(debugString("W-1"), '"W-1"');
  assert.equal(debugString('a"b\\c\nd\te\u0000'), '"a\\"b\\\\c\\nd\\te\\0"');
  assert.equal(debugString("x\u202ey\u0007"), '"x\\u{202e}y\\u{7}"');
  assert.equal(debugString("Zoë"), '"Zoë"');
});
