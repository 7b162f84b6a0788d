// The contract's `log` import under Node: messages are kept for `takeLogs()` (../testing.js).

const logs = (globalThis.__porchlightLogs ??= []);

export default function log(level, message) {
  logs.push([level, message]);
}
