/**
 * Presence traffic of a fabric (docs/spec/16-fabric.md §16.3–16.5), over
 * @peertap/mvlan alone with a virtual clock: N members (10, 100, 1000) for
 * 30 simulated minutes. Each member publishes a record at a random moment
 * of the first 300 s, then every 300 s ± 10 % (lifetime 900 s); each record
 * is broadcast on the MVLAN and reaches every other member, which offers it
 * to its Directory. At the end a newcomer asks one member for its
 * directory (`records()`, one CONTROL channel 12 batch) and offers it all.
 * Prints, per N: records sent and received per member per minute, bytes
 * received per member per minute, the newcomer's sync, directory sizes;
 * and the measured cost of signing, verifying and offering one record.
 * A benchmark, not a test: it asserts only that the directories agree.
 *
 *   node --conditions=peertap:source tools/bench/src/presence.ts [--members 10,100,1000] [--receivers 100]
 *
 * Assumed per frame on the MVLAN: the record, an Ethernet header (14),
 * the presence type byte (1) and the sealed payload's overhead (30: the
 * protected header and the GCM tag, 04-sealed-payload.md); the trunk's own
 * framing and the VFT are not counted. Each record is signed once, and
 * receivers share one cache of signature verdicts (a record is verified
 * once, whoever receives it), so the run measures the directories, not N
 * times the same Ed25519 check. With more than `--receivers` members (100),
 * only that many receivers, spread evenly, keep a Directory: every member
 * receives every other's records, so the per-member figures are the same
 * (checked: `--members 1000 --receivers 1000` gives the same figures in
 * 458 s and 4 GB, a million directory entries, against 10 s).
 */
import { createPrivateKey, createPublicKey } from 'node:crypto'
import {
  Directory,
  decodePresence,
  decodePresenceBatch,
  encodePresenceBatch,
  encodePresenceFrame,
  fabricKeys,
  mvlanPortMac,
  type PresenceRecord,
  signPresence,
  verifyPresence,
} from '@peertap/mvlan'

const arg = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(name)
  return i > 0 ? (process.argv[i + 1] ?? fallback) : fallback
}
const memberCounts = arg('--members', '10,100,1000').split(',').map(Number)
const maxReceivers = Number(arg('--receivers', '100'))

const T0 = 1_800_000_000
const DURATION = 1800
const INTERVAL = 300
const JITTER = 0.1
const LIFETIME = 900
/** 14 Ethernet header, 1 type byte, 30 seal overhead (assumed, see above). */
const FRAME_OVERHEAD = 14 + 1 + 30
const BROADCAST = new Uint8Array(6).fill(0xff)
const PKCS8 = Buffer.from('302e020100300506032b657004220420', 'hex')
const VLANS = [
  { vlanId: fabricKeys(new TextEncoder().encode('bench fabric')).mvlanId, name: 'fabric' },
  { vlanId: new Uint8Array(32).fill(0x1a), name: 'lab' },
  { vlanId: new Uint8Array(32).fill(0x2b) },
]

interface Member {
  readonly seed: Uint8Array
  readonly peerId: Uint8Array
  readonly addresses: string[]
  seq: bigint
}

/** A deterministic generator (mulberry32), so runs are comparable. */
function random(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
}

function member(n: number): Member {
  const seed = new Uint8Array(32).fill(0x77)
  new DataView(seed.buffer).setUint32(0, n)
  const key = createPrivateKey({ key: Buffer.concat([PKCS8, seed]), format: 'der', type: 'pkcs8' })
  const spki = createPublicKey(key).export({ format: 'der', type: 'spki' })
  const peerId = Uint8Array.from([0x00, 0x24, 0x08, 0x01, 0x12, 0x20, ...spki.subarray(12)])
  const a = (n >> 8) & 0xff
  const b = n & 0xff
  return {
    seed,
    peerId,
    addresses: [`/ip4/203.0.${a}.${b}/udp/7400/quic-v1`, `/ip4/10.${a}.${b}.1/udp/7400/quic-v1`],
    seq: 0n,
  }
}

function publish(m: Member, now: number): Uint8Array {
  m.seq++
  return signPresence({
    seed: m.seed,
    peerId: m.peerId,
    role: 'node',
    seq: m.seq,
    issuedAt: now,
    expiresAt: now + LIFETIME,
    addresses: m.addresses,
    vlans: VLANS,
    load: 0,
  })
}

/** Verdicts by signature: each record is checked once, whoever receives it. */
function sharedVerifier(): (record: PresenceRecord) => boolean {
  const verdicts = new Map<string, boolean>()
  return (record) => {
    const key = Buffer.from(record.bytes.subarray(record.bytes.length - 64)).toString('base64')
    let verdict = verdicts.get(key)
    if (verdict === undefined) {
      verdict = verifyPresence(record)
      verdicts.set(key, verdict)
    }
    return verdict
  }
}

interface Figures {
  members: number
  receivers: number
  sentPerMin: number
  receivedPerMin: number
  bytesPerMin: number
  syncRecords: number
  syncBytes: number
  directorySize: number
  refused: number
  seconds: number
}

function simulate(n: number): Figures {
  const started = performance.now()
  const rand = random(n)
  const members = Array.from({ length: n }, (_, i) => member(i))
  // Publication times: a random start in the first interval, then the interval ± jitter.
  const events: { t: number; who: number }[] = []
  for (let who = 0; who < n; who++) {
    for (
      let t = rand() * INTERVAL;
      t < DURATION;
      t += INTERVAL * (1 - JITTER + 2 * JITTER * rand())
    ) {
      events.push({ t: Math.floor(t), who })
    }
  }
  events.sort((x, y) => x.t - y.t || x.who - y.who)
  const step = Math.max(1, Math.floor(n / Math.min(n, maxReceivers)))
  const receivers = members.map((_, i) => i).filter((i) => i % step === 0)
  const verify = sharedVerifier()
  const directories = new Map(
    receivers.map((i) => [i, new Directory({ self: members[i]!.peerId, verify })] as const),
  )
  const received = new Map(receivers.map((i) => [i, { records: 0, bytes: 0 }] as const))
  let refused = 0
  for (const { t, who } of events) {
    const now = T0 + t
    const record = publish(members[who]!, now)
    const frame = encodePresenceFrame({
      dst: BROADCAST,
      src: mvlanPortMac(members[who]!.peerId),
      record,
    })
    for (const [i, directory] of directories) {
      if (i === who) continue
      const counts = received.get(i)!
      counts.records++
      counts.bytes += frame.length + 30 // the frame and the seal's overhead
      if (!directory.offer(record, now).ok) refused++
    }
  }
  const end = T0 + DURATION
  // The newcomer asks the first receiver for its directory and offers it all.
  const first = directories.get(receivers[0]!)!
  first.prune(end)
  const batch = encodePresenceBatch(first.records(end))
  const newcomer = new Directory({ verify })
  for (const record of decodePresenceBatch(batch) ?? []) newcomer.offer(record, end)
  const minutes = DURATION / 60
  let records = 0
  let bytes = 0
  for (const counts of received.values()) {
    records += counts.records
    bytes += counts.bytes
  }
  for (const directory of directories.values()) {
    directory.prune(end)
    if (directory.size !== first.size) throw new Error('the directories disagree')
  }
  return {
    members: n,
    receivers: receivers.length,
    sentPerMin: events.length / n / minutes,
    receivedPerMin: records / receivers.length / minutes,
    bytesPerMin: bytes / receivers.length / minutes,
    syncRecords: newcomer.size,
    syncBytes: batch.length,
    directorySize: first.size,
    refused,
    seconds: (performance.now() - started) / 1000,
  }
}

/** Mean µs of `f` over `runs` calls. */
function time(runs: number, f: (i: number) => void): number {
  const started = performance.now()
  for (let i = 0; i < runs; i++) f(i)
  return ((performance.now() - started) * 1000) / runs
}

function costs(): void {
  const runs = 2000
  const members = Array.from({ length: runs }, (_, i) => member(100_000 + i))
  const now = T0
  for (let i = 0; i < 200; i++) publish(members[i]!, now) // warm up
  const records = members.map((m) => publish(m, now))
  const decoded = records.map((r) => {
    const d = decodePresence(r)
    if (!d.ok) throw new Error('malformed')
    return d.record
  })
  const sign = time(runs, (i) => publish(members[i]!, now))
  const decode = time(runs, (i) => decodePresence(records[i]!))
  const verify = time(runs, (i) => verifyPresence(decoded[i]!))
  const fresh = new Directory({ maxPeers: runs })
  const offerNew = time(runs, (i) => fresh.offer(records[i]!, now))
  const offerStale = time(runs, (i) => fresh.offer(records[i]!, now))
  const cached = new Directory({ maxPeers: runs, verify: () => true })
  const offerCached = time(runs, (i) => cached.offer(records[i]!, now))
  console.log(`per record (${records[0]!.length} bytes, ${runs} records, µs):`)
  console.log(`  sign (signPresence, incl. the key from the seed)  ${sign.toFixed(1)}`)
  console.log(`  decode (decodePresence)                           ${decode.toFixed(1)}`)
  console.log(`  verify (verifyPresence, strict Ed25519)           ${verify.toFixed(1)}`)
  console.log(`  offer, new PeerId, signature checked              ${offerNew.toFixed(1)}`)
  console.log(`  offer, new PeerId, signature cached               ${offerCached.toFixed(1)}`)
  console.log(`  offer, replay (stale, no signature check)         ${offerStale.toFixed(1)}`)
}

const started = performance.now()
costs()
console.log()
console.log(
  'members | receivers simulated | sent/member/min | received/member/min | bytes received/member/min | newcomer sync (records, bytes) | directory size | refused | run s',
)
for (const n of memberCounts) {
  const f = simulate(n)
  console.log(
    [
      f.members,
      f.receivers,
      f.sentPerMin.toFixed(3),
      f.receivedPerMin.toFixed(1),
      Math.round(f.bytesPerMin),
      `${f.syncRecords}, ${f.syncBytes}`,
      f.directorySize,
      f.refused,
      f.seconds.toFixed(1),
    ].join(' | '),
  )
}
console.log(
  `\ntotal ${((performance.now() - started) / 1000).toFixed(1)} s; frame = record + ${FRAME_OVERHEAD} bytes assumed`,
)
