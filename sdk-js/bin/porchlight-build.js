#!/usr/bin/env node
// porchlight-build POLICY.js -o OUT.wasm: builds a JavaScript policy into a WebAssembly component
// for Porchlight with componentize-js.
//
// The policy's folder (its .js files) and this SDK are copied into a temporary folder, where
// `import ... from "porchlight-sdk"` is pointed at the copy of the SDK (componentize-js follows
// only relative imports). The engine's optional features that a policy must not have are turned
// off: outbound HTTP (`fetch`) and incoming HTTP events. What is left (standard output and
// error, clocks, randomness) is given harmless stand-ins by the hub (docs/ref/plugins.md).

import { componentize } from "@bytecodealliance/componentize-js";
import { init, parse } from "es-module-lexer";
import { realpathSync } from "node:fs";
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const sdkDir = resolve(dirname(fileURLToPath(import.meta.url)), "..");
/** The contract, from the SDK's repository (sdk/wit), the same file the Rust SDK reads. */
export const WIT = resolve(sdkDir, "..", "sdk", "wit");
/** Features of componentize-js's engine that a policy never gets. */
export const DISABLED_FEATURES = ["http", "fetch-event"];

function usage(msg) {
  if (msg) console.error(`porchlight-build: ${msg}`);
  console.error("usage: porchlight-build POLICY.js -o OUT.wasm [--wit DIR]");
  process.exit(2);
}

/** Copies every .js file under `from` to `to`, keeping the tree (node_modules left out). */
async function copyJs(from, to) {
  for (const entry of await readdir(from, { withFileTypes: true })) {
    if (entry.name === "node_modules" || entry.name.startsWith(".")) continue;
    const src = join(from, entry.name);
    if (entry.isDirectory()) await copyJs(src, join(to, entry.name));
    else if (entry.name.endsWith(".js") || entry.name.endsWith(".mjs")) {
      await mkdir(to, { recursive: true });
      await cp(src, join(to, entry.name));
    }
  }
}

/** Points `porchlight-sdk` (and `porchlight-sdk/text`) imports of `file` at `sdk`. */
async function rewriteImports(file, sdk) {
  const source = await readFile(file, "utf8");
  const [imports] = parse(source);
  let out = "";
  let last = 0;
  for (const i of imports) {
    if (i.n === "porchlight-sdk" || i.n === "porchlight-sdk/text") {
      let target = relative(dirname(file), join(sdk, i.n === "porchlight-sdk" ? "index.js" : "text.js"));
      if (!target.startsWith(".")) target = `./${target}`;
      out += source.slice(last, i.s) + target;
      last = i.e;
    }
  }
  if (last > 0) await writeFile(file, out + source.slice(last));
}

async function walk(dir, f) {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) await walk(p, f);
    else await f(p);
  }
}

/** The WIT package at `wit` (a file, or a folder of `.wit` files), as one text. */
async function readWit(wit) {
  const entries = await readdir(wit, { withFileTypes: true }).catch(() => undefined);
  if (entries === undefined) return readFile(wit, "utf8");
  const files = entries.filter((e) => e.isFile() && e.name.endsWith(".wit")).map((e) => e.name).sort();
  if (files.length !== 1) throw new Error(`${wit}: expected one .wit file, found ${files.length}`);
  return readFile(join(wit, files[0]), "utf8");
}

/**
 * Builds `policy` (a path to an ES module) into a component; returns its bytes.
 * @param {string} policy
 * @param {{ wit?: string }} options
 */
export async function build(policy, { wit = WIT } = {}) {
  await init;
  const work = await mkdtemp(join(tmpdir(), "porchlight-build-"));
  try {
    const src = join(work, "policy");
    const sdk = join(work, "policy", ".porchlight-sdk");
    await copyJs(dirname(resolve(policy)), src);
    await copyJs(join(sdkDir, "src"), sdk);
    await walk(src, async (f) => {
      if (!f.startsWith(sdk)) await rewriteImports(f, sdk);
    });
    // The WIT goes in as text: the splicer's own file access (through preview2-shim) does not
    // reach arbitrary paths.
    const witWorld = await readWit(wit);
    const { component } = await componentize({
      sourcePath: join(src, basename(policy)),
      witWorld,
      worldName: "policy",
      disableFeatures: DISABLED_FEATURES,
    });
    return component;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function main() {
  const args = process.argv.slice(2);
  let input;
  let output;
  let wit;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "-o" || args[i] === "--output") output = args[++i];
    else if (args[i] === "--wit") wit = args[++i];
    else if (args[i] === "-h" || args[i] === "--help") usage();
    else if (input === undefined) input = args[i];
    else usage(`unexpected argument ${args[i]}`);
  }
  if (!input || !output) usage("a policy file and -o OUT.wasm are required");
  const started = Date.now();
  const component = await build(input, { wit });
  await writeFile(output, component);
  console.error(`porchlight-build: ${output} (${component.length} bytes) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e) => {
    console.error(`porchlight-build: ${e.message ?? e}`);
    process.exit(1);
  });
}
