// ask-resident, in JavaScript: asks you about every request, on your phone. The same policy as
// plugins/ask-resident (Rust), prompt for prompt.
//
// Nothing is shared unless you say yes; no answer within `timeout_seconds` means no. The prompt
// tells you who asks, for what (a clip, a snapshot or a live stream, from which cameras, over
// which time, in UTC), why, under which case number and on which legal basis, and points out
// cameras this hub does not have and warrants that have expired or are not issued yet.
// Requester-written text is cleaned first (`text.clean`), so a request cannot forge a line.
//
//   [plugins.policy.ask-resident.config]
//   timeout_seconds = 3600  # how long to wait for your answer: 60 (a minute) to 604800 (a week)

import { ask, camera, cameras, policy, text } from "porchlight-sdk";

const { MAX_NAME, MAX_TEXT, cameraList, clean, duration, quoted, requesterKind, utc } = text;

/** The shortest and longest wait for the resident's answer. */
const SHORTEST = 60;
const LONGEST = 604800;

export const { checkConfig, decide, onEvent } = policy({
  config: { timeout_seconds: 3600 },
  check(config) {
    const t = config.timeout_seconds;
    if (t < SHORTEST || t > LONGEST) {
      return `timeout_seconds = ${t} is out of range: it must be ${SHORTEST} (a minute) to ${LONGEST} (a week)`;
    }
  },
  decide(config, request, context) {
    // `decide` is not always preceded by `checkConfig` (tests); keep the hub's bounds anyway.
    const timeoutSeconds = Math.min(Math.max(config.timeout_seconds, SHORTEST), LONGEST);
    return ask(prompt(request, context, timeoutSeconds), timeoutSeconds);
  },
});

/** The question for the resident, one fact a line. */
function prompt(request, context, timeoutSeconds) {
  let p = `Footage request from ${requester(request.requester)}.\n`;
  const names = cameras(request);
  const kind = request.kind;
  if (kind.tag === "clip") {
    p += `Asks for: a clip from ${cameraList(names)}, ${range(kind.val.range)}.\n`;
  } else if (kind.tag === "snapshot") {
    p += `Asks for: a snapshot from ${cameraList(names)}.\n`;
  } else {
    p += `Asks for: a live stream from ${cameraList(names)}, for up to ${duration(kind.val.maxSeconds)}.\n`;
  }
  const unknown = [];
  for (const c of names) {
    if (camera(context, c) === undefined && !unknown.includes(c)) unknown.push(c);
  }
  if (unknown.length > 0) p += `Not cameras of this hub: ${cameraList(unknown)}.\n`;
  p += `Reason: ${quoted(request.reason, MAX_TEXT)}\n`;
  const caseNumber = request.caseNumber === undefined ? "none given" : quoted(request.caseNumber, MAX_NAME);
  p += `Case number: ${caseNumber}\n`;
  p += `Legal basis: ${legalBasis(request.legalBasis, context.now)}\n`;
  p += `No answer within ${duration(timeoutSeconds)} means no.`;
  return p;
}

function requester(r) {
  const organisation = quoted(r.organisation, MAX_NAME);
  const kind = requesterKind(r.kind);
  const person = clean(r.person, MAX_NAME);
  return person === "" ? `${organisation}, ${kind}` : `${organisation} (${person}), ${kind}`;
}

function legalBasis(basis, now) {
  switch (basis.tag) {
    case "none":
      return "none given";
    case "consent":
      return "the requester says you consented";
    case "exigent":
      return `claimed emergency, no warrant: ${quoted(basis.val, MAX_TEXT)}`;
    default: {
      const w = basis.val;
      let status;
      if (now < w.issued) status = ` NOT YET ISSUED (issued ${utc(w.issued)})`;
      else if (now >= w.expires) status = ` EXPIRED on ${utc(w.expires)}`;
      else status = ` valid until ${utc(w.expires)}`;
      return (
        `warrant ${quoted(w.reference, MAX_NAME)} from ${quoted(w.court, MAX_NAME)},${status}; ` +
        `covers ${cameraList(w.scope.cameras)}, ${range(w.scope.range)}.`
      );
    }
  }
}

const I64_MAX = 2n ** 63n - 1n;
const I64_MIN = -(2n ** 63n);

function range(r) {
  const t = `from ${utc(r.start)} to ${utc(r.end)}`;
  if (r.start > r.end) return `${t} (reversed: it ends before it starts)`;
  // As the Rust version: the length saturates at the largest timestamp.
  let length = r.end - r.start;
  if (length > I64_MAX) length = I64_MAX;
  if (length < I64_MIN) length = I64_MIN;
  return `${t} (${duration(length)})`;
}
