// The committed declarations of the contract (types/wit/) are what sdk/wit/policy.wit gives.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { OUT_DIR, witTypes } from "../bin/wit-types.js";

test("types/wit matches sdk/wit/policy.wit (run `npm run types` after changing the WIT)", async () => {
  const generated = await witTypes();
  assert.ok(generated.length >= 2);
  for (const [name, text] of generated) {
    const committed = await readFile(join(OUT_DIR, name), "utf8");
    assert.equal(committed, text, `types/wit/${name} is out of date`);
  }
  const types = generated.map(([, t]) => t).join("\n");
  // The shapes the SDK and the ported policies rely on.
  for (const shape of ["received: Timestamp", "caseNumber?: string", "liveMaxSeconds?: number", "export type Timestamp = bigint"]) {
    assert.ok(types.includes(shape), shape);
  }
});
