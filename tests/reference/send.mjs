// The real Segment Node client (@segment/analytics-node) pointed at a Segment-style
// receiver, as the reference for tests/integration/test_segment_reference.py.
//
//   node send.mjs <host> <writeKey> <outfile> [--auth body|basic]
//
// <host> is the receiver's base URL (http://127.0.0.1:<port>); the client POSTs its
// batches to <host>/v1/batch.  It sends a track (userId + properties), an identify
// (anonymousId + traits) and a track carrying context.externalIds the way venuegw
// does, then closeAndFlush()es and writes to <outfile> what it did:
//   {"library": {"name", "version"}, "node": process.version, "auth": …,
//    "inputs": [the calls, as made], "requests": [{url, method, headers, body (parsed)}
//    per HTTP request, as the client's own http_request event reported it],
//    "responses": [status per request, --auth basic only], "errors": [delivery errors]}
//
// --auth body (the default) leaves the client as it is: analytics-node 2.x sends no
// Authorization header and authenticates with "writeKey" in the JSON body (Segment's
// documented "writeKey authentication").  --auth basic gives the client a fetch (its
// documented httpClient option) that adds "Authorization: Basic base64(writeKey:)",
// which is what analytics-node 3.x sends by itself (it needs Node >= 20).
//
// Exit status: 0 when the client delivered everything, 1 when it reported a delivery
// error, 2 on a usage error.
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Analytics } from '@segment/analytics-node';

const args = process.argv.slice(2);
let auth = 'body';
const pos = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--auth') auth = args[++i];
  else pos.push(args[i]);
}
if (pos.length !== 3 || !['body', 'basic'].includes(auth)) {
  console.error('usage: node send.mjs <host> <writeKey> <outfile> [--auth body|basic]');
  process.exit(2);
}
const [host, writeKey, outfile] = pos;

// The installed client's version, from its package.json (not exported by the package).
const require = createRequire(import.meta.url);
const pkgPath = require.resolve('@segment/analytics-node').replace(/dist[\\/].*$/, 'package.json');
const pkg = JSON.parse(readFileSync(pkgPath, 'utf8'));

const responses = [];
const settings = {
  writeKey,
  host: host.replace(/\/+$/, ''),
  path: '/v1/batch',
  flushAt: 10,          // maxEventsInBatch in the brief: deprecated alias of flushAt in 2.x
  flushInterval: 100,
  maxRetries: 1,
  httpRequestTimeout: 10000,
};
if (auth === 'basic') {
  const basic = 'Basic ' + Buffer.from(writeKey + ':').toString('base64');
  settings.httpClient = async (url, init) => {
    const res = await globalThis.fetch(url, {
      ...init,
      headers: { ...init.headers, Authorization: basic },
    });
    responses.push(res.status);
    return res;
  };
}
const analytics = new Analytics(settings);

const requests = [];
const errors = [];
analytics.on('http_request', (r) => {
  let body;
  try {
    body = JSON.parse(r.body);
  } catch {
    body = r.body;
  }
  const headers = { ...r.headers };
  if (auth === 'basic') headers.Authorization = 'Basic ' + Buffer.from(writeKey + ':').toString('base64');
  requests.push({ url: r.url, method: r.method, headers, body });
});
analytics.on('error', (e) => {
  errors.push({ code: e.code, reason: String(e.reason ?? e.message ?? e) });
});

const inputs = [
  {
    call: 'track',
    args: {
      userId: 'ref-user-1',
      event: 'checkin.scanned',
      properties: { location: 'door-1', amount_minor: 1250, currency: 'EUR', vip: true },
      timestamp: new Date('2026-07-01T10:00:00.250Z'),
    },
  },
  {
    call: 'identify',
    args: {
      anonymousId: 'ref-anon-1',
      traits: { plan: 'gold', visits: 3 },
    },
  },
  {
    call: 'track',
    args: {
      anonymousId: 'v1.ph.AAAAAAAAAAAAAAAAAAAAAA',
      event: 'payment.succeeded',
      properties: { amount_minor: 101, currency: 'EUR' },
      context: {
        externalIds: [
          { id: 'v1.ph.AAAAAAAAAAAAAAAAAAAAAA', type: 'phone_token', collection: 'users', encoding: 'none' },
          { id: 'L-1', type: 'loyalty_id', collection: 'users', encoding: 'none' },
        ],
      },
    },
  },
];
// The client adds to the objects it is given (context.library): keep what we passed.
const asCalled = JSON.parse(JSON.stringify(inputs));
for (const { call, args: a } of inputs) analytics[call](a);

try {
  await analytics.closeAndFlush({ timeout: 20000 });
} catch (e) {
  errors.push({ code: 'close_and_flush', reason: String(e) });
}

writeFileSync(outfile, JSON.stringify({
  library: { name: pkg.name, version: pkg.version },
  node: process.version,
  auth,
  inputs: asCalled,
  requests,
  responses,
  errors,
}, null, 2) + '\n');
process.exit(errors.length ? 1 : 0);
