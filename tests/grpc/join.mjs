// join.mjs - a replay of etcd 3.6/3.7's v3 discovery JoinCluster
// (server/etcdserver/api/v3discovery/discovery.go) through npm etcd3 on
// @grpc/grpc-js: a gRPC implementation independent of kindling's.
//
//   node join.mjs ENDPOINT TOKEN FIRST COUNT
//
// starts COUNT members at once (member FIRST .. FIRST+COUNT-1, each its own
// client and connection) and prints one JSON line per member:
// {"name", "initial_cluster"} or {"name", "error"} ("size key not found",
// "bad size key", "full cluster", or a transport error). Exits 0 when every
// member printed a line. A member's id is a hash of its name, peer URL and
// the token (as etcd's member id hashes its peer URLs and cluster token), so
// a member started again registers the same key. As discovery.go does,
// transport errors on steps 1-4 are retried with backoff (here 0.2 s
// doubling to 2 s, for at most TIMEOUT_MS) and a watch that fails is
// re-opened from the same revision.
import { Etcd3 } from 'etcd3';
import { createHash } from 'node:crypto';

const [endpoint, token, firstArg, countArg] = process.argv.slice(2);
const first = Number(firstArg), count = Number(countArg);
const registry = `/_etcd/registry/${token}`;
const sizeKey = `${registry}/_config/size`;
const membersKey = `${registry}/members`;
const TIMEOUT_MS = Number(process.env.JOIN_TIMEOUT_MS || 30000);

class DiscoveryError extends Error {}

// step 1: the size key must exist and be a positive number
async function clusterSize(client) {
  const rs = await client.get(sizeKey).exec();
  if (!rs.kvs.length) throw new DiscoveryError('size key not found');
  const n = Number(rs.kvs[0].value.toString());
  if (!Number.isInteger(n) || n <= 0) throw new DiscoveryError('bad size key');
  return n;
}

// step 2: the members by create_revision, and the header's revision
async function clusterMembers(client) {
  const rs = await client.getAll().prefix(membersKey).exec();
  const members = rs.kvs
    .map((kv) => ({ key: kv.key.toString(), value: kv.value.toString(), rev: BigInt(kv.create_revision) }))
    .filter((m) => m.value.includes('='));
  members.sort((a, b) => (a.rev < b.rev ? -1 : a.rev > b.rev ? 1 : 0));
  return { members, rev: BigInt(rs.header.revision) };
}

async function checkCluster(client, selfKey) {
  const size = await clusterSize(client);
  const { members, rev } = await clusterMembers(client);
  const i = members.findIndex((m) => m.key === selfKey);
  if (i >= size) throw new DiscoveryError('full cluster');
  return { size, members, rev };
}

// step 5: watch from rev + 1 until size members are known (duplicates
// ignored); a watch that errors is re-opened from the same revision
function waitPeers(client, size, members, rev) {
  if (members.length >= size) return Promise.resolve(members.slice(0, size));
  return new Promise((resolve) => {
    const known = new Map(members.map((m) => [m.key, m]));
    let done = false;
    const open = (delay) => {
      client
        .watch()
        .prefix(membersKey)
        .startRevision(String(rev + 1n))
        .create()
        .then((w) => {
          w.on('put', (kv) => {
            const m = { key: kv.key.toString(), value: kv.value.toString(), rev: BigInt(kv.create_revision) };
            if (done || !m.value.includes('=') || known.has(m.key)) return;
            known.set(m.key, m);
            if (known.size >= size) {
              done = true;
              const all = [...known.values()].sort((a, b) => (a.rev < b.rev ? -1 : a.rev > b.rev ? 1 : 0));
              w.cancel().catch(() => {});
              resolve(all.slice(0, size));
            }
          });
          w.on('error', () => {
            if (done) return;
            w.cancel().catch(() => {});
            setTimeout(() => open(Math.min(delay * 2, 2000)), delay);
          });
        }, () => setTimeout(() => open(Math.min(delay * 2, 2000)), delay));
    };
    open(200);
  });
}

// retry FN - FN again after a transport error, with backoff (discovery.go
// retries steps 1-3 practically forever; the process timer bounds this)
async function retry(fn) {
  for (let delay = 200; ; delay = Math.min(delay * 2, 2000)) {
    try {
      return await fn();
    } catch (e) {
      if (e instanceof DiscoveryError) throw e;
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

// step 6: --initial-cluster, refusing duplicate peer URLs as the member does
function initialCluster(members) {
  const seen = new Set();
  for (const m of members) {
    for (const u of m.value.slice(m.value.indexOf('=') + 1).split(',')) {
      if (seen.has(u)) throw new DiscoveryError(`duplicate peer URL ${u}`);
      seen.add(u);
    }
  }
  return members.map((m) => m.value).join(',');
}

async function join(n) {
  const name = `m${n}`;
  const peer = `http://127.0.0.${n}:2380`;
  const id = createHash('sha256').update(`${name}=${peer}/${token}`).digest('hex').slice(0, 16);
  const selfKey = `${membersKey}/${id}`;
  const client = new Etcd3({ hosts: endpoint, dialTimeout: 2000 });
  try {
    await retry(() => clusterSize(client)); // 1
    await retry(() => clusterMembers(client)); // 2
    await retry(() => client.put(selfKey).value(`${name}=${peer}`).exec()); // 3
    const { size, members, rev } = await retry(() => checkCluster(client, selfKey)); // 4
    const peers = await waitPeers(client, size, members, rev); // 5
    return { name, initial_cluster: initialCluster(peers) }; // 6
  } catch (e) {
    return { name, error: e instanceof DiscoveryError ? e.message : `transport: ${e.message}` };
  } finally {
    client.close();
  }
}

const timer = setTimeout(() => {
  console.log(JSON.stringify({ error: `timed out after ${TIMEOUT_MS} ms` }));
  process.exit(1);
}, TIMEOUT_MS);
const results = await Promise.all(Array.from({ length: count }, (_, i) => join(first + i)));
clearTimeout(timer);
for (const r of results) console.log(JSON.stringify(r));
process.exit(0);
