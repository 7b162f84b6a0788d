#!/usr/bin/env node
// Generates the TypeScript declarations of the contract (sdk/wit/policy.wit) into types/wit/,
// with the bindings generator of jco (the one componentize-js uses to map WIT to JavaScript).
// `npm run types` rewrites them; `npm test` fails if they differ from what the WIT gives.

import { $init, generateTypes } from "@bytecodealliance/jco-transpile/component";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const sdkDir = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const WIT_FILE = resolve(sdkDir, "..", "sdk", "wit", "policy.wit");
export const OUT_DIR = join(sdkDir, "types", "wit");

/** The declarations the WIT gives: [relative path, text] pairs. */
export async function witTypes() {
  await $init;
  const source = await readFile(WIT_FILE, "utf8");
  const files = generateTypes("policy", {
    wit: { tag: "source", val: source },
    world: "policy",
    guest: true,
    tlaCompat: false,
    features: { tag: "list", val: [] },
  });
  return files.map(([name, bytes]) => [name, new TextDecoder().decode(bytes)]);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  for (const [name, text] of await witTypes()) {
    const path = join(OUT_DIR, name);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, text);
    console.error(`wrote ${path}`);
  }
}
