// Module resolution hooks for running a policy under plain Node (registered by ../testing.js):
// `porchlight-sdk` and `porchlight-sdk/text` resolve to this SDK, and `log` (the contract's
// import, which componentize-js provides inside the hub) to log.js, which records the messages.

const here = new URL("./", import.meta.url);
const targets = {
  "porchlight-sdk": new URL("../index.js", here).href,
  "porchlight-sdk/text": new URL("../text.js", here).href,
  "porchlight-sdk/testing": new URL("../testing.js", here).href,
  log: new URL("./log.js", here).href,
};

export async function resolve(specifier, context, next) {
  const url = targets[specifier];
  if (url !== undefined) return { url, shortCircuit: true };
  return next(specifier, context);
}
