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
// member printed a line.
import { Etcd3 } from 'etcd3';
import { randomBytes } from 'node:crypto';

const [endpoint, token, firstArg, countArg] = process.argv.slice(2);
const first = Number(firstArg), count = Number(countArg);
const registry = `/_etcd/registry/${token}`;
const sizeKey = `${registry}/_config/size`;
const membersKey = `${registry}/members`;
const TIMEOUT_MS = 30000;

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

// step 5: watch from rev + 1 until size members are known (duplicates ignored)
function waitPeers(client, size, members, rev) {
  if (members.length >= size) return Promise.resolve(members.slice(0, size));
  return new Promise((resolve, reject) => {
    const known = new Map(members.map((m) => [m.key, m]));
    client
      .watch()
      .prefix(membersKey)
      .startRevision(String(rev + 1n))
      .create()
      .then((w) => {
        w.on('put', (kv) => {
          const m = { key: kv.key.toString(), value: kv.value.toString(), rev: BigInt(kv.create_revision) };
          if (!m.value.includes('=') || known.has(m.key)) return;
          known.set(m.key, m);
          if (known.size >= size) {
            const all = [...known.values()].sort((a, b) => (a.rev < b.rev ? -1 : a.rev > b.rev ? 1 : 0));
            w.cancel().catch(() => {});
            resolve(all.slice(0, size));
          }
        });
        w.on('error', reject);
      }, reject);
  });
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
  const id = randomBytes(8).toString('hex');
  const selfKey = `${membersKey}/${id}`;
  const client = new Etcd3({ hosts: endpoint, dialTimeout: 2000 });
  try {
    await clusterSize(client); // 1
    await clusterMembers(client); // 2
    await client.put(selfKey).value(`${name}=http://127.0.0.${n}:2380`).exec(); // 3
    const { size, members, rev } = await checkCluster(client, selfKey); // 4
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
