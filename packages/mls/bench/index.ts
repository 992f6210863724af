// @peertap/mls figures: time to create a VLAN group and add N-1 members in
// one commit, Welcome and commit sizes, and the median time for the owner to
// create a commit (a self-update; each returns only after its record is
// stored) and for a member to process it (also stored), for N = 2, 10, 100,
// 1000 members; and a member's self-update (its Update proposal, the owner
// receiving and committing it, the member processing the commit that
// applies it). In-memory storage, so the figures are MLS and encoding work;
// one line measures the file storage's atomic write (fsync) at N = 1000.
// Progress goes to stderr, the table to stdout.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { FileStorage } from '../src/file-storage.ts'
import {
  createKeyPackage,
  createVlanGroup,
  joinVlanGroup,
  type KeyPackageOutput,
  MemoryStorage,
  type NodeIdentity,
  nodeIdentityFromEd25519PrivateKey,
  recordName,
} from '../src/index.ts'

const SIZES = (process.env.MLS_BENCH_SIZES ?? '2,10,100,1000').split(',').map(Number)
const vlanId = new Uint8Array(32).fill(0x42)
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}
const ms = (x: number) => (x >= 100 ? x.toFixed(0) : x.toFixed(1))
const kb = (n: number) => `${(n / 1024).toFixed(1)} KB`
const log = (s: string) => process.stderr.write(`${s}\n`)
const seed = (i: number) => {
  const s = new Uint8Array(32)
  new DataView(s.buffer).setUint32(0, i + 1)
  return s
}

interface Row {
  n: number
  keyPackages: number
  createAdd: number
  welcome: number
  addBundle: number
  join: number
  commit: number
  process: number
  commitBytes: number
  record: number
  runs: number
  propose: number
  ownerCommit: number
  updaterProcess: number
  proposalBytes: number
  updateCommitBytes: number
  updateRuns: number
  lateWelcome: number
  lateJoin: number
}

const rows: Row[] = []
let fileWrite: { bytes: number; ms: number } | undefined
for (const n of SIZES) {
  log(`N = ${n}: ${n - 1} key packages ...`)
  const owner = await nodeIdentityFromEd25519PrivateKey(seed(0))
  let t = performance.now()
  const ids: NodeIdentity[] = []
  const kps: KeyPackageOutput[] = []
  for (let i = 1; i < n; i++) {
    const id = await nodeIdentityFromEd25519PrivateKey(seed(i))
    ids.push(id)
    kps.push(await createKeyPackage({ identity: id }))
  }
  const keyPackages = performance.now() - t
  log(`N = ${n}: create the group and add ${n - 1} in one commit ...`)
  const ownerStorage = new MemoryStorage()
  t = performance.now()
  const group = await createVlanGroup({ vlanId, identity: owner, storage: ownerStorage })
  const add = await group.addMembers({
    keyPackages: kps.map((kp, i) => ({ keyPackage: kp.keyPackage, from: ids[i]!.peerId })),
  })
  const createAdd = performance.now() - t
  log(`N = ${n}: a member joins from the Welcome ...`)
  t = performance.now()
  const member = await joinVlanGroup({
    vlanId,
    ownerPeerId: owner.peerId,
    welcome: add.welcome!,
    keyPackageSecret: kps.at(-1)!.secret,
    identity: ids.at(-1)!,
    storage: new MemoryStorage(),
  })
  const join1 = performance.now() - t
  const runs = n >= 1000 ? 7 : 11
  const commit: number[] = []
  const proc: number[] = []
  let commitBytes = 0
  for (let r = 0; r < runs; r++) {
    t = performance.now()
    const { bundle } = await group.update()
    commit.push(performance.now() - t)
    t = performance.now()
    await member.processCommit({ bundle })
    proc.push(performance.now() - t)
    commitBytes = bundle.length
    log(
      `N = ${n}: commit ${r + 1}/${runs}: create ${ms(commit.at(-1)!)} ms, process ${ms(proc.at(-1)!)} ms`,
    )
  }
  // A member's self-update: its proposal, the owner's commit of it, its own processing.
  const updateRuns = n >= 1000 ? 3 : 5
  const propose: number[] = []
  const ownerCommit: number[] = []
  const updaterProcess: number[] = []
  let proposalBytes = 0
  let updateCommitBytes = 0
  for (let r = 0; r < updateRuns; r++) {
    t = performance.now()
    const proposal = await member.proposeUpdate()
    propose.push(performance.now() - t)
    t = performance.now()
    await group.receiveProposal({ message: proposal })
    const { bundle } = await group.commitPending()
    ownerCommit.push(performance.now() - t)
    t = performance.now()
    const out = await member.processCommit({ bundle })
    updaterProcess.push(performance.now() - t)
    if (!out.updated) throw new Error('the update was not applied')
    proposalBytes = proposal.length
    updateCommitBytes = bundle.length
    log(
      `N = ${n}: member update ${r + 1}/${updateRuns}: propose ${ms(propose.at(-1)!)} ms, owner commit ${ms(ownerCommit.at(-1)!)} ms, process ${ms(updaterProcess.at(-1)!)} ms`,
    )
  }
  // A joiner after those updates: the Welcome's tree now has filled parent
  // nodes on the updaters' paths, whose parent hashes the joiner verifies.
  log(`N = ${n}: one more member joins after the updates ...`)
  const late = await nodeIdentityFromEd25519PrivateKey(seed(n))
  const lateKp = await createKeyPackage({ identity: late })
  const lateAdd = await group.addMembers({
    keyPackages: [{ keyPackage: lateKp.keyPackage, from: late.peerId }],
  })
  t = performance.now()
  await joinVlanGroup({
    vlanId,
    ownerPeerId: owner.peerId,
    welcome: lateAdd.welcome!,
    keyPackageSecret: lateKp.secret,
    identity: late,
    storage: new MemoryStorage(),
  })
  const lateJoin = performance.now() - t
  const record = (await ownerStorage.read(recordName(vlanId)))!
  if (n === Math.max(...SIZES)) {
    const dir = await mkdtemp(join(tmpdir(), 'peertap-mls-bench-'))
    const fs = await FileStorage.open(dir)
    const w: number[] = []
    for (let i = 0; i < 5; i++) {
      t = performance.now()
      await fs.write('mls-bench', record)
      w.push(performance.now() - t)
    }
    fileWrite = { bytes: record.length, ms: median(w) }
    await rm(dir, { recursive: true, force: true })
  }
  rows.push({
    n,
    keyPackages,
    createAdd,
    welcome: add.welcome!.length,
    addBundle: add.bundle.length,
    join: join1,
    commit: median(commit),
    process: median(proc),
    commitBytes,
    record: record.length,
    runs,
    propose: median(propose),
    ownerCommit: median(ownerCommit),
    updaterProcess: median(updaterProcess),
    proposalBytes,
    updateCommitBytes,
    updateRuns,
    lateWelcome: lateAdd.welcome!.length,
    lateJoin,
  })
}

console.log(
  `@peertap/mls, Node ${process.version}, suite 1 (MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519), ts-mls 1.6.4`,
)
console.log('')
console.log(
  '| members N | N-1 key packages | create + add N-1 | Welcome | add commit | join | update commit: create (median) | process by a member (median) | commit size | owner record | runs |',
)
console.log('|---|---|---|---|---|---|---|---|---|---|---|')
for (const r of rows) {
  console.log(
    `| ${r.n} | ${ms(r.keyPackages)} ms | ${ms(r.createAdd)} ms | ${kb(r.welcome)} | ${kb(r.addBundle)} | ${ms(r.join)} ms | ${ms(r.commit)} ms | ${ms(r.process)} ms | ${kb(r.commitBytes)} | ${kb(r.record)} | ${r.runs} |`,
  )
}
console.log('')
console.log(
  '| members N | member self-update: propose (median) | owner receives + commits (median) | the member processes (median) | proposal | commit (with the proposal) | runs |',
)
console.log('|---|---|---|---|---|---|---|')
for (const r of rows) {
  console.log(
    `| ${r.n} | ${ms(r.propose)} ms | ${ms(r.ownerCommit)} ms | ${ms(r.updaterProcess)} ms | ${kb(r.proposalBytes)} | ${kb(r.updateCommitBytes)} | ${r.updateRuns} |`,
  )
}
console.log('')
console.log('| members N | Welcome after the updates | join after the updates |')
console.log('|---|---|---|')
for (const r of rows) console.log(`| ${r.n + 1} | ${kb(r.lateWelcome)} | ${ms(r.lateJoin)} ms |`)
if (fileWrite !== undefined) {
  console.log('')
  console.log(
    `FileStorage.write of the ${kb(fileWrite.bytes)} record (temp, fsync, rename, fsync dir), median of 5: ${ms(fileWrite.ms)} ms`,
  )
}
