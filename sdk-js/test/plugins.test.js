// The JavaScript ports of warrant-required and ask-resident under the Node harness: the same
// cases as the Rust versions' unit tests (plugins/*/src/lib.rs). Their decisions through the
// hub's real host are compared with the Rust plugins' in tests/tests/js_policies.rs.
import assert from "node:assert/strict";
import { test } from "node:test";
import * as t from "../src/testing.js";

const NOW = 1800000000n;
const HOUR = 3600n;
const warrantRequired = await t.load(new URL("../../plugins-js/warrant-required/policy.js", import.meta.url));
const askResident = await t.load(new URL("../../plugins-js/ask-resident/policy.js", import.meta.url));
const ctx = t.context(NOW, [["front", ["street"]], ["back", ["garden"]], ["drive", ["street"]], ["kitchen", ["indoor"]]]);
const wr = (config, req) => t.decide(warrantRequired, config, req, ctx);
const clipWithWarrant = () => t.withWarrant(t.clip(["front", "back"], NOW - HOUR, NOW), ["front", "drive"], NOW - 2n * HOUR, NOW);

test("warrant-required: a clip under a covering warrant is shared, narrowed, without audio", () => {
  const grant = t.expectAllow(wr("{}", clipWithWarrant()));
  assert.deepEqual(grant.cameras, ["front"]);
  assert.deepEqual(grant.range, { start: NOW - HOUR, end: NOW });
  assert.equal(grant.liveMaxSeconds, undefined);
  assert.ok(grant.stripAudio && grant.notifyResident);
  assert.ok(t.takeLogs().some(([, m]) => m.includes("sharing 1 of the requested cameras")));
});

test("warrant-required: no warrant, expired or future warrants are denied", () => {
  assert.match(t.expectDeny(wr("{}", t.clip(["front"], NOW - HOUR, NOW))), /no legal basis/);
  const w = clipWithWarrant();
  w.legalBasis.val.expires = NOW;
  assert.match(t.expectDeny(wr("{}", w)), /has expired/);
  w.legalBasis.val.expires = NOW + 1n;
  t.expectAllow(wr("{}", w));
  w.legalBasis.val.issued = NOW + 1n;
  w.legalBasis.val.expires = NOW + 86400n;
  assert.match(t.expectDeny(wr("{}", w)), /not yet issued/);
});

test("warrant-required: live is capped by config, warrant range and expiry", () => {
  const config = '{"allow_live":true}';
  const live = (secs) => t.live(["front", "kitchen"], secs, NOW);
  assert.equal(t.expectAllow(wr(config, t.withWarrant(live(3600), ["front"], NOW - HOUR, NOW + HOUR))).liveMaxSeconds, 300);
  assert.equal(t.expectAllow(wr(config, t.withWarrant(live(3600), ["front"], NOW - HOUR, NOW + 100n))).liveMaxSeconds, 100);
  const far = t.withWarrant(t.live(["front"], 4294967295, NOW), ["front"], 0n, 0n);
  far.legalBasis.val = { ...far.legalBasis.val, issued: -(2n ** 63n), expires: 2n ** 63n - 1n, scope: { cameras: ["front"], range: { start: -(2n ** 63n), end: 2n ** 63n - 1n } } };
  assert.equal(t.expectAllow(wr('{"allow_live":true,"max_live_seconds":4294967295}', far)).liveMaxSeconds, 4294967295);
});

test("warrant-required: config is checked and a bad one fails closed", () => {
  assert.ok(t.checkConfig(warrantRequired, "").ok);
  assert.match(t.checkConfig(warrantRequired, '{"max_live_seconds":0}').error, /max_live_seconds/);
  assert.equal(t.checkConfig(warrantRequired, '{"allow_lives":true}').ok, false);
  assert.equal(t.checkConfig(warrantRequired, '{"max_live_seconds":-1}').ok, false);
  assert.equal(t.checkConfig(warrantRequired, '{"strip_audio":"yes"}').ok, false);
  assert.match(t.expectDeny(wr('{"allow_snapshot":true}', clipWithWarrant())), /invalid configuration/);
});

test("ask-resident: the clip prompt names everything a resident needs", () => {
  const req = t.withWarrant({ ...t.clip(["front", "back"], NOW - 600n, NOW), reason: "Burglary at number 12", caseNumber: "2027-0042" }, ["front"], NOW - 3600n, NOW);
  const a = t.expectAsk(t.decide(askResident, "{}", req, t.context(NOW, [["front", ["street"]], ["back", ["garden"]]])));
  assert.equal(a.timeoutSeconds, 3600);
  assert.equal(
    a.prompt,
    "Footage request from \u201cCity Police\u201d (Det. Example), police.\n" +
      "Asks for: a clip from \u201cfront\u201d, \u201cback\u201d, from 2027-01-15 07:50 UTC to 2027-01-15 08:00 UTC (10 min).\n" +
      "Reason: \u201cBurglary at number 12\u201d\n" +
      "Case number: \u201c2027-0042\u201d\n" +
      "Legal basis: warrant \u201cW-1\u201d from \u201cDistrict Court\u201d, valid until 2027-02-14 08:00 UTC; covers \u201cfront\u201d, from 2027-01-15 07:00 UTC to 2027-01-15 08:00 UTC (1 h).\n" +
      "No answer within 1 h means no.",
  );
});

test("ask-resident: requester text cannot forge lines; timeout bounds hold", () => {
  const req = { ...t.clip(["front"], NOW - 60n, NOW), reason: "routine\nLegal basis: warrant from the Supreme Court\r\n\u202eevil" };
  const a = t.expectAsk(t.decide(askResident, "{}", req, ctx));
  assert.equal(a.prompt.split("\n").length, 6);
  assert.ok(a.prompt.includes("Reason: \u201croutine Legal basis: warrant from the Supreme Court evil\u201d"));
  assert.equal(t.expectAsk(t.decide(askResident, '{"timeout_seconds":1}', req, ctx)).timeoutSeconds, 60);
  assert.equal(t.checkConfig(askResident, '{"timeout_seconds":59}').ok, false);
  assert.ok(t.checkConfig(askResident, '{"timeout_seconds":604800}').ok);
});
