// warrant-required, in JavaScript: shares footage only under a valid warrant, and only what the
// warrant covers. The same policy as plugins/warrant-required (Rust), decision for decision.
//
// A clip is shared when the request carries a warrant that has been issued and has not expired
// (by the hub's clock), and then only the overlap of what was asked and what the warrant names:
// the requested cameras the warrant lists (and this hub has), over the part of the requested
// time the warrant covers. Audio is stripped unless you turn that off; you are told about every
// share. Anything without a warrant is denied with a reason naming what is missing. Snapshots
// and live streams are denied unless you allow them, and then need a warrant whose time range
// includes the present; a live stream is cut short when the warrant's range or the warrant ends,
// and after `max_live_seconds`.
//
//   [plugins.policy.warrant-required.config]
//   strip_audio = true       # share video only (default)
//   allow_snapshots = false  # stills, when the warrant covers the present (default: no)
//   allow_live = false       # live streams, when the warrant covers the present (default: no)
//   max_live_seconds = 300   # longest live stream when allow_live = true (default: 5 minutes)

import { U32_MAX, allow, camera, cameras, debugString, deny, everything, intersect, log, min, policy } from "porchlight-sdk";

export const { checkConfig, decide, onEvent } = policy({
  config: { strip_audio: true, allow_snapshots: false, allow_live: false, max_live_seconds: 300 },
  check(config) {
    if (config.max_live_seconds === 0) {
      return "max_live_seconds must be at least 1 (to share no live streams, set allow_live = false)";
    }
  },
  decide(config, request, context) {
    try {
      return allow(grantFor(config, request, context));
    } catch (e) {
      if (e instanceof Refusal) return deny(e.message);
      throw e;
    }
  },
});

/** A reason to deny. */
class Refusal extends Error {}

function grantFor(config, request, context) {
  const kind = request.kind.tag;
  if (kind === "snapshot" && !config.allow_snapshots) {
    throw new Refusal("snapshots are not shared, even with a warrant (allow_snapshots = false)");
  }
  if (kind === "live" && !config.allow_live) {
    throw new Refusal("live streams are not shared, even with a warrant (allow_live = false)");
  }
  const basis = request.legalBasis;
  switch (basis.tag) {
    case "warrant":
      break;
    case "none":
      throw new Refusal("a warrant is required; the request gives no legal basis");
    case "consent":
      throw new Refusal("a warrant is required; the requester's claim of consent is not a warrant");
    default:
      throw new Refusal("a warrant is required; a claimed emergency (exigent circumstances) is not a warrant");
  }
  const warrant = basis.val;
  checkValid(warrant, context.now);
  const shared = sharedCameras(request, warrant, context);
  const grant = { ...everything(request), cameras: shared, stripAudio: config.strip_audio, notifyResident: true };

  if (kind === "clip") {
    const requested = request.kind.val.range;
    const range = sharedRange(requested, warrant);
    if (range.start !== requested.start || range.end !== requested.end) {
      log(
        "info",
        `request ${request.id}: time narrowed to warrant ${debugString(warrant.reference)}: ` +
          `${range.start}..${range.end} of ${requested.start}..${requested.end}`,
      );
    }
    return { ...grant, range };
  }
  if (kind === "snapshot") {
    secondsCoveredFromNow(warrant, context.now);
    return grant;
  }
  const asked = request.kind.val.maxSeconds;
  if (asked === 0) throw new Refusal("the request asks for a live stream of zero seconds");
  const left = secondsCoveredFromNow(warrant, context.now);
  const most = Math.min(asked, config.max_live_seconds, left);
  if (most === 0) throw new Refusal("max_live_seconds is 0: no live stream can be shared");
  if (most < asked) {
    log(
      "info",
      `request ${request.id}: live stream capped at ${most} s (asked ${asked} s, max_live_seconds ` +
        `${config.max_live_seconds}, warrant covers ${left} s more)`,
    );
  }
  return { ...grant, liveMaxSeconds: most };
}

/** Issued, not expired, and well-formed at `now`. */
function checkValid(warrant, now) {
  const reference = debugString(warrant.reference);
  if (warrant.expires <= warrant.issued) {
    throw new Refusal(
      `warrant ${reference} is malformed: it expires (${warrant.expires}) no later than it was issued (${warrant.issued})`,
    );
  }
  if (now < warrant.issued) {
    throw new Refusal(`warrant ${reference} is not yet issued (issued ${warrant.issued}, now ${now})`);
  }
  if (now >= warrant.expires) {
    throw new Refusal(`warrant ${reference} has expired (expired ${warrant.expires}, now ${now})`);
  }
}

/** The requested cameras that the warrant names and the hub has, in the request's order, once each. */
function sharedCameras(request, warrant, context) {
  const reference = debugString(warrant.reference);
  const requested = cameras(request);
  if (requested.length === 0) throw new Refusal("the request names no cameras");
  const named = warrant.scope.cameras;
  if (named.length === 0) throw new Refusal(`warrant ${reference} names no cameras, so it covers none`);
  const inScope = [];
  for (const c of requested) {
    if (named.includes(c) && !inScope.includes(c)) inScope.push(c);
  }
  if (inScope.length === 0) {
    throw new Refusal(
      `warrant ${reference} covers none of the requested cameras (${requested.join(", ")}); it names ${named.join(", ")}`,
    );
  }
  const known = inScope.filter((c) => camera(context, c) !== undefined);
  const unknown = inScope.filter((c) => camera(context, c) === undefined);
  if (known.length === 0) {
    throw new Refusal(`no camera of this hub is both requested and covered by the warrant (${unknown.join(", ")})`);
  }
  if (known.length < requested.length) {
    const missing = unknown.length === 0 ? "" : `; not on this hub: ${unknown.join(", ")}`;
    log(
      "info",
      `request ${request.id}: sharing ${known.length} of the requested cameras (${known.join(", ")}) ` +
        `under warrant ${reference}${missing}`,
    );
  }
  return known;
}

/** The requested time the warrant covers; more than an instant of it. */
function sharedRange(requested, warrant) {
  const reference = debugString(warrant.reference);
  const scope = warrant.scope.range;
  if (requested.start > requested.end) {
    throw new Refusal(
      `the requested time range is reversed (starts ${requested.start}, after it ends ${requested.end})`,
    );
  }
  if (requested.start === requested.end) {
    throw new Refusal(`the requested time range has zero length (${requested.start}..${requested.end})`);
  }
  if (scope.start >= scope.end) {
    throw new Refusal(
      `warrant ${reference} covers no time: its range ${scope.start}..${scope.end} is reversed or has zero length`,
    );
  }
  const range = intersect(requested, scope);
  if (range !== undefined && range.start < range.end) return range;
  throw new Refusal(
    `warrant ${reference} covers ${scope.start}..${scope.end}, none of the requested time ${requested.start}..${requested.end}`,
  );
}

/**
 * For snapshots and live streams: the warrant's time range must include `now`, with at least a
 * second left. Returns the seconds the warrant still covers (its range and its validity).
 */
function secondsCoveredFromNow(warrant, now) {
  const scope = warrant.scope.range;
  const until = min(scope.end, warrant.expires);
  if (now < scope.start || now >= until) {
    throw new Refusal(
      `warrant ${debugString(warrant.reference)} covers ${scope.start}..${scope.end}, not the present (${now}): ` +
        "it does not cover a snapshot or live stream",
    );
  }
  const left = until - now;
  return left > BigInt(U32_MAX) ? U32_MAX : Number(left);
}
