// The SDK's main module for tests, through the testing hooks (it imports the contract's `log`).
import "../src/testing.js";

export const { debugString, parseConfig, everything, intersect, policy } = await import("porchlight-sdk");
