// streams.mjs - load for the etcd v3 gRPC surface through @grpc/grpc-js
// (an independent gRPC implementation), the same against kindling and a
// real etcd:
//
//   node streams.mjs watch ENDPOINT TOKEN STREAMS CHANNELS [PID]
//     opens STREAMS Watch streams (each its own bidi call, spread over
//     CHANNELS connections), each with one create_request for the token's
//     members prefix; once every stream has its created response it reads
//     VmRSS/VmHWM/Threads of PID (/proc/PID/status: the server), then puts
//     one member and measures the time until every stream has the event.
//   node streams.mjs put ENDPOINT TOKEN[,TOKEN...] PUTS CHANNELS
//     PUTS registrations (distinct member keys, round robin over the
//     tokens) with PUT_CONCURRENCY (default 64) in flight over CHANNELS
//     connections: registrations per second.
//
// Prints one JSON line; exits 1 when something did not complete within
// STREAMS_TIMEOUT_MS (default 120000). Messages are encoded by hand (the
// few fields V3.md lists), so nothing of kindling's is used.
import grpc from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';

const [mode, endpoint, token, nArg, cArg, pidArg] = process.argv.slice(2);
const N = Number(nArg), C = Number(cArg);
const target = endpoint.replace(/^https?:\/\//, '');
const tokens = token.split(',');
const prefix = Buffer.from(`/_etcd/registry/${tokens[0]}/members`);
const TIMEOUT_MS = Number(process.env.STREAMS_TIMEOUT_MS || 120000);

// protobuf: a length-delimited field, lengths as varints
function varint(n) {
  const out = [];
  while (n > 127) {
    out.push((n & 127) | 128);
    n >>>= 7;
  }
  out.push(n);
  return Buffer.from(out);
}
const field = (no, bytes) => Buffer.concat([varint((no << 3) | 2), varint(bytes.length), bytes]);
const rangeEnd = Buffer.from(prefix);
rangeEnd[rangeEnd.length - 1] += 1;
// WatchRequest{create_request 1: WatchCreateRequest{key 1, range_end 2}}
const watchCreate = field(1, Buffer.concat([field(1, prefix), field(2, rangeEnd)]));
// PutRequest{key 1, value 2}
const putRequest = (key, value) => Buffer.concat([field(1, Buffer.from(key)), field(2, Buffer.from(value))]);

const id = (b) => b;
const channels = Array.from(
  { length: C },
  (_, i) =>
    new grpc.Client(target, grpc.credentials.createInsecure(), {
      'grpc.use_local_subchannel_pool': 1, // a connection of its own
      'grpc.kindling_channel': i,
      'grpc.max_receive_message_length': 4 << 20,
    }),
);

// a WatchResponse: does it hold events (field 11)? created is field 3.
function hasEvents(buf) {
  let i = 0;
  while (i < buf.length) {
    let key = 0, shift = 0, b;
    do {
      b = buf[i++];
      key |= (b & 127) << shift;
      shift += 7;
    } while (b & 128);
    const no = key >>> 3, wt = key & 7;
    if (no === 11) return true;
    if (wt === 0) {
      while (buf[i++] & 128);
    } else if (wt === 2) {
      let len = 0;
      shift = 0;
      do {
        b = buf[i++];
        len |= (b & 127) << shift;
        shift += 7;
      } while (b & 128);
      i += len;
    } else return false;
  }
  return false;
}

function status(pid) {
  if (!pid) return {};
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k) => Number((s.match(new RegExp(`^${k}:\\s+(\\d+)`, 'm')) || [])[1]);
  return { rss_kb: kb('VmRSS'), hwm_kb: kb('VmHWM'), threads: kb('Threads') };
}

function unary(ch, path, msg) {
  return new Promise((resolve, reject) =>
    ch.makeUnaryRequest(path, id, id, msg, (err, res) => (err ? reject(err) : resolve(res))),
  );
}

const timer = setTimeout(() => {
  console.log(JSON.stringify({ mode, error: `timed out after ${TIMEOUT_MS} ms`, ...progress() }));
  process.exit(1);
}, TIMEOUT_MS);
let created = 0, delivered = 0, failed = 0, done = 0;
const progress = () => ({ created, delivered, failed, done });

async function watch() {
  const t0 = Date.now();
  const calls = [];
  let allCreated, allDelivered;
  const createdP = new Promise((r) => (allCreated = r));
  const deliveredP = new Promise((r) => (allDelivered = r));
  for (let i = 0; i < N; i++) {
    const call = channels[i % C].makeBidiStreamRequest('/etcdserverpb.Watch/Watch', id, id);
    let seen = false, gotEvent = false;
    call.on('data', (m) => {
      if (!seen) {
        seen = true;
        if (++created === N) allCreated();
      }
      if (!gotEvent && hasEvents(m)) {
        gotEvent = true;
        if (++delivered === N) allDelivered();
      }
    });
    call.on('error', () => failed++);
    call.write(watchCreate);
    calls.push(call);
  }
  await createdP;
  const openMs = Date.now() - t0;
  await new Promise((r) => setTimeout(r, 500));
  const held = status(pidArg);
  const t1 = Date.now();
  await unary(channels[0], '/etcdserverpb.KV/Put', putRequest(`${prefix}/${Date.now().toString(16).padStart(16, "f")}`, 'f=http://10.9.9.9:2380'));
  await deliveredP;
  const fanoutMs = Date.now() - t1;
  for (const c of calls) c.cancel();
  return { mode, streams: N, connections: C, created, delivered, failed, open_ms: openMs, fanout_ms: fanoutMs, ...held };
}

async function put() {
  const t0 = Date.now();
  let next = 0;
  const worker = async (w) => {
    while (next < N) {
      const i = next++;
      const key = `/_etcd/registry/${tokens[i % tokens.length]}/members/${i.toString(16).padStart(16, '0')}`;
      await unary(channels[w % C], '/etcdserverpb.KV/Put', putRequest(key, `m${i}=http://10.0.${i >> 8 & 255}.${i & 255}:2380`));
      done++;
    }
  };
  await Promise.all(Array.from({ length: Number(process.env.PUT_CONCURRENCY || 64) }, (_, w) => worker(w)));
  const s = (Date.now() - t0) / 1000;
  return { mode, puts: done, seconds: s, per_s: Math.round(done / s) };
}

const out = mode === 'watch' ? await watch() : await put();
clearTimeout(timer);
console.log(JSON.stringify(out));
for (const ch of channels) ch.close();
process.exit(out.mode === 'watch' && (out.created !== N || out.delivered !== N) ? 1 : 0);
