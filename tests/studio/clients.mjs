// Runs a plan of @mastra/client-js calls against a server and prints what came back.
//
// stdin: {"baseUrl": "...", "headers"?: {...}, "retries"?: n,
//         "calls": [{"method": "listTraces", "args": [...]}, ...]}
// Arguments are passed as written, except {"$date": "ISO"}, which becomes a Date (as an
// app would pass one). stdout: one entry per call, in order:
//   {"ok": <the client's answer>, "attempts": n}
//   {"error": {"status", "message", "body"}, "attempts": n}
// "attempts" counts the HTTP requests the client made (it retries 5xx answers).
import { MastraClient } from '@mastra/client-js';

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const plan = JSON.parse(Buffer.concat(chunks).toString('utf8'), (_key, value) =>
  value && typeof value === 'object' && !Array.isArray(value) &&
  Object.keys(value).length === 1 && typeof value.$date === 'string'
    ? new Date(value.$date)
    : value);

let attempts = 0;
const client = new MastraClient({
  baseUrl: plan.baseUrl,
  headers: plan.headers ?? {},
  retries: plan.retries ?? 3,
  backoffMs: 10,
  maxBackoffMs: 20,
  fetch: (...args) => {
    attempts += 1;
    return fetch(...args);
  },
});

const out = [];
for (const call of plan.calls) {
  attempts = 0;
  if (typeof client[call.method] !== 'function') {
    throw new Error(`@mastra/client-js has no method ${call.method}`);
  }
  try {
    out.push({ ok: await client[call.method](...(call.args ?? [])), attempts });
  } catch (error) {
    out.push({
      error: { status: error.status ?? null, message: String(error.message), body: error.body ?? null },
      attempts,
    });
  }
}
process.stdout.write(JSON.stringify(out));
