#!/usr/bin/env node
// porchlight-test POLICY.js --request R.json [--context C.json] [--config CONFIG.json]: decides
// one request with a JavaScript policy under Node, without the hub and without building it, and
// prints the decision (JSON, timestamps as numbers). The request and context files are the ones
// `porchlight plugin test` reads; without --context: now, at home, the request's cameras
// untagged. The policy's log lines go to stderr.

import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import * as t from "../src/testing.js";

function usage(msg) {
  if (msg) console.error(`porchlight-test: ${msg}`);
  console.error("usage: porchlight-test POLICY.js --request R.json [--context C.json] [--config CONFIG.json]");
  process.exit(2);
}

const args = process.argv.slice(2);
const opts = {};
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  if (a === "--request" || a === "--context" || a === "--config") opts[a.slice(2)] = args[++i];
  else if (opts.policy === undefined && !a.startsWith("-")) opts.policy = a;
  else usage(`unexpected argument ${a}`);
}
if (!opts.policy || !opts.request) usage("a policy and --request are required");
const json = (path) => {
  try {
    return JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    usage(`${path}: ${e.message}`);
  }
};
const request = t.fromJson(json(opts.request));
const context = opts.context
  ? t.contextFromJson(json(opts.context))
  : t.context(BigInt(Math.floor(Date.now() / 1000)), request.kind.val.cameras.map((c) => [c, []]));
const config = opts.config ? JSON.stringify(json(opts.config)) : "{}";
const policy = await t.load(pathToFileURL(resolve(opts.policy)));
const checked = t.checkConfig(policy, config);
if (!checked.ok) {
  console.error(`porchlight-test: the policy rejected its configuration: ${checked.error}`);
  process.exit(1);
}
const decision = t.decide(policy, config, request, context);
for (const [level, message] of t.takeLogs()) console.error(`${level.toUpperCase()} ${message}`);
console.log(JSON.stringify(decision, (_k, v) => (typeof v === "bigint" ? Number(v) : v), 2));
