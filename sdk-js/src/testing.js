// Test a JavaScript policy under plain Node, without the hub and without building it:
//
//   import { test } from "node:test";
//   import * as t from "porchlight-sdk/testing";
//   const policy = await t.load(new URL("../policy.js", import.meta.url));
//   const req = t.withWarrant(t.clip(["front"], NOW - 3600n, NOW), ["front"], NOW - 7200n, NOW);
//   t.expectAllow(t.decide(policy, "{}", req, t.context(NOW, [["front", ["street"]]])));
//
// `load` imports the policy module with `porchlight-sdk` pointing at this SDK and the contract's
// `log` import recording into `takeLogs()`. Values are the ones the hub passes (types/wit/):
// timestamps are BigInt seconds. `fromJson`/`contextFromJson` read the JSON files of
// `porchlight plugin test` (docs/ref/plugins.md), so the same request files serve both.
//
// Under Node the policy runs on Node's engine, not on the one the hub embeds: build it
// (`porchlight-build`) and try it with `porchlight plugin test` before installing it.

import { register } from "node:module";

register(new URL("./node/hooks.js", import.meta.url));

const logs = (globalThis.__porchlightLogs ??= []);

/** Imports a policy module (a path or file URL) for testing. */
export async function load(policy) {
  const url = policy instanceof URL ? policy : new URL(policy, `file://${process.cwd()}/`);
  const module = await import(url.href);
  for (const name of ["checkConfig", "decide", "onEvent"]) {
    if (typeof module[name] !== "function") {
      throw new Error(`${url.pathname} does not export a function \`${name}\` (the contract needs all three)`);
    }
  }
  return module;
}

/** What the policy logged so far, as `[level, message]` pairs (and clears it). */
export function takeLogs() {
  return logs.splice(0, logs.length);
}

/** Runs `decide` as the hub does: `config` is JSON text. */
export function decide(policy, config, request, context) {
  return policy.decide(config, request, context);
}

/** Runs `checkConfig` as the hub does: `{ ok: true }` or `{ ok: false, error }`. */
export function checkConfig(policy, config) {
  try {
    policy.checkConfig(config);
    return { ok: true };
  } catch (e) {
    return { ok: false, error: typeof e === "string" ? e : (e?.payload ?? String(e)) };
  }
}

/** Runs `onEvent` as the hub does. */
export function onEvent(policy, config, event, context) {
  return policy.onEvent(config, event, context);
}

function expect(decision, tag) {
  if (decision?.tag !== tag) {
    throw new Error(`expected ${tag}, got ${JSON.stringify(decision, bigints)}`);
  }
  return decision.val;
}

/** The grant of an `allow`; throws on anything else. */
export const expectAllow = (decision) => expect(decision, "allow");
/** The reason of a `deny`; throws on anything else. */
export const expectDeny = (decision) => expect(decision, "deny");
/** The question of an `ask`; throws on anything else. */
export const expectAsk = (decision) => expect(decision, "ask");

/** A JSON replacer that writes BigInts as numbers (their decimal digits). */
export function bigints(_key, value) {
  return typeof value === "bigint" ? JSON.rawJSON?.(value.toString()) ?? value.toString() : value;
}

const police = () => ({ organisation: "City Police", person: "Det. Example", kind: "police" });

function request(kind, received) {
  return {
    id: "test-request",
    requester: police(),
    kind,
    reason: "test",
    caseNumber: undefined,
    legalBasis: { tag: "none" },
    received: BigInt(received),
  };
}

/** A clip request from the police, with no legal basis. */
export function clip(cameras, start, end) {
  return request({ tag: "clip", val: { cameras: [...cameras], range: { start: BigInt(start), end: BigInt(end) } } }, end);
}

/** A live request from the police, with no legal basis. */
export function live(cameras, maxSeconds, received) {
  return request({ tag: "live", val: { cameras: [...cameras], maxSeconds } }, received);
}

/** A snapshot request from the police, with no legal basis. */
export function snapshot(cameras, received) {
  return request({ tag: "snapshot", val: { cameras: [...cameras] } }, received);
}

/** The request, now with a warrant covering these cameras and this time range. */
export function withWarrant(req, cameras, start, end) {
  return {
    ...req,
    legalBasis: {
      tag: "warrant",
      val: {
        reference: "W-1",
        court: "District Court",
        issued: BigInt(start),
        expires: BigInt(end) + 30n * 86400n,
        scope: { cameras: [...cameras], range: { start: BigInt(start), end: BigInt(end) } },
      },
    },
  };
}

/** The request, now from someone of this kind. */
export function from(req, kind) {
  return { ...req, requester: { ...req.requester, kind } };
}

/** A hub at home at time `now`, with these `[name, tags]` cameras and no recent events. */
export function context(now, cameras) {
  return {
    now: BigInt(now),
    mode: "home",
    privacy: false,
    cameras: cameras.map(([name, tags]) => ({
      name,
      tags: [...tags],
      lastMotion: undefined,
      lastDoorbell: undefined,
      lastAlarm: undefined,
    })),
  };
}

/** An RFC 3339 time as whole seconds: rounded down, or up with `up`. */
function seconds(text, up = false) {
  const ms = Date.parse(text);
  if (Number.isNaN(ms)) throw new Error(`not an RFC 3339 time: ${JSON.stringify(text)}`);
  const s = BigInt(Math.floor(ms / 1000));
  return up && ms % 1000 !== 0 ? s + 1n : s;
}

const optionalTime = (t) => (t === undefined || t === null ? undefined : seconds(t));

/** A request as `porchlight plugin test --request` reads it, as the policy sees it. */
export function fromJson(r) {
  const k = r.kind;
  let kind;
  if (k.type === "clip") {
    kind = { tag: "clip", val: { cameras: k.cameras, range: { start: seconds(k.from), end: seconds(k.to, true) } } };
  } else if (k.type === "live") {
    kind = { tag: "live", val: { cameras: k.cameras, maxSeconds: k.max_seconds } };
  } else if (k.type === "snapshot") {
    kind = { tag: "snapshot", val: { cameras: k.cameras } };
  } else throw new Error(`unknown request kind ${JSON.stringify(k.type)}`);
  const b = r.legal_basis ?? { type: "none" };
  let legalBasis;
  if (b.type === "warrant") {
    legalBasis = {
      tag: "warrant",
      val: {
        reference: b.reference,
        court: b.court,
        issued: seconds(b.issued),
        expires: seconds(b.expires),
        scope: {
          cameras: b.scope?.cameras ?? [],
          range: { start: seconds(b.scope.from), end: seconds(b.scope.to) },
        },
      },
    };
  } else if (b.type === "exigent") legalBasis = { tag: "exigent", val: b.statement };
  else if (b.type === "consent" || b.type === "none") legalBasis = { tag: b.type };
  else throw new Error(`unknown legal basis ${JSON.stringify(b.type)}`);
  return {
    id: r.id,
    requester: { organisation: r.requester.organisation, person: r.requester.person ?? "", kind: r.requester.kind },
    kind,
    reason: r.reason ?? "",
    caseNumber: r.case_number ?? undefined,
    legalBasis,
    received: seconds(r.received_at),
  };
}

/** A context as `porchlight plugin test --context` reads it, as the policy sees it. */
export function contextFromJson(c) {
  return {
    now: seconds(c.now),
    mode: c.mode ?? "home",
    privacy: c.privacy ?? false,
    cameras: (c.cameras ?? []).map((cam) => ({
      name: cam.name,
      tags: cam.tags ?? [],
      lastMotion: optionalTime(cam.last_motion),
      lastDoorbell: optionalTime(cam.last_doorbell),
      lastAlarm: optionalTime(cam.last_alarm),
    })),
  };
}
