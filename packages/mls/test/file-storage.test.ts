// The file-system storage, and crash safety: a real child process is killed
// with SIGKILL at random moments while it commits (as owner) or processes
// commits (as member); every reload must be the old or the new epoch, never
// a broken state, never behind what was acknowledged, and able to go on.
import { spawn } from 'node:child_process'
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { FileStorage } from '../src/file-storage.ts'
import {
  createKeyPackage,
  createVlanGroup,
  joinVlanGroup,
  loadVlanGroup,
  MemoryStorage,
  type MlsEpochKeys,
  type VlanGroup,
} from '../src/index.ts'
import { identity, refused, sameSecrets, VLAN_ID } from './helpers.ts'

const dirs: string[] = []
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'peertap-mls-'))
  dirs.push(d)
  return d
}
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true })
})

describe('FileStorage', () => {
  it('reads what it wrote, replaces atomically, refuses bad names, cleans up temporaries', async () => {
    const dir = await tempDir()
    const s = await FileStorage.open(join(dir, 'state'))
    expect(await s.read('mls-a')).toBeUndefined()
    await s.write('mls-a', Uint8Array.of(1, 2, 3))
    await s.write('mls-a', Uint8Array.of(4, 5))
    expect([...(await s.read('mls-a'))!]).toEqual([4, 5])
    expect(await readdir(join(dir, 'state'))).toEqual(['mls-a'])
    await refused(s.write('../x', Uint8Array.of(1)), 'mls-malformed')
    await refused(s.read('A'), 'mls-malformed')
    await refused(s.write('x.tmp', Uint8Array.of(1)), 'mls-malformed')
    await writeFile(join(dir, 'state', 'mls-a.123.tmp'), 'half')
    const reopened = await FileStorage.open(join(dir, 'state'))
    expect(await readdir(join(dir, 'state'))).toEqual(['mls-a'])
    expect([...(await reopened.read('mls-a'))!]).toEqual([4, 5])
  })

  it('deletes a blob (a missing one is no error), refuses bad names, and writes it again afresh', async () => {
    const dir = await tempDir()
    const s = await FileStorage.open(join(dir, 'state'))
    await s.write('mls-a', Uint8Array.of(1))
    await s.write('kp-a', Uint8Array.of(2))
    await s.delete('mls-a')
    expect(await s.read('mls-a')).toBeUndefined()
    expect(await readdir(join(dir, 'state'))).toEqual(['kp-a'])
    await s.delete('mls-a')
    await s.delete('never-written')
    await refused(s.delete('../kp-a'), 'mls-malformed')
    await s.write('mls-a', Uint8Array.of(3))
    expect([...(await s.read('mls-a'))!]).toEqual([3])
  })
})

describe('MemoryStorage', () => {
  it('deletes a blob; a missing one is no error', async () => {
    const s = new MemoryStorage()
    await s.write('mls-a', Uint8Array.of(1))
    await s.delete('mls-a')
    await s.delete('mls-a')
    expect(await s.read('mls-a')).toBeUndefined()
    expect(s.names()).toEqual([])
  })
})

const CHILD = new URL('./fixtures/kill-child.ts', import.meta.url).pathname
const OWNER_SEED = new Uint8Array(32).fill(1)
const MEMBER_SEED = new Uint8Array(32).fill(2)
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')

/** Runs the child until it is ready, lets it work for a random 0-`maxMs` ms, then SIGKILLs it. */
function runAndKill(
  args: string[],
  maxMs: number,
): Promise<{ acked: bigint | undefined; done: boolean }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--conditions=peertap:source', CHILD, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    let err = ''
    let timer: NodeJS.Timeout | undefined
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString()
      // The kill comes at a random moment after the child's first
      // acknowledged operation, so every run makes progress however slow
      // a loaded machine makes the child, and the kill can still land
      // anywhere in the next write (temp file, fsync, rename).
      if (timer === undefined && out.includes('acked ')) {
        timer = setTimeout(() => child.kill('SIGKILL'), Math.random() * maxMs)
      }
    })
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString()
    })
    child.on('error', reject)
    child.on('exit', (code, signal) => {
      if (timer !== undefined) clearTimeout(timer)
      const lines = out.split('\n').filter((l) => l.startsWith('acked '))
      const last = lines.at(-1)
      const done = out.includes('done')
      if (signal !== 'SIGKILL' && !done) reject(new Error(`child exited ${code}: ${err}`))
      else resolve({ acked: last === undefined ? undefined : BigInt(last.slice(6)), done })
    })
  })
}

/**
 * Kills per loop: bounded in `npm test`; `npm run soak` (PEERTAP_SOAK_SECONDS
 * set) runs the long loops, 30 and 20 kills as before.
 */
const SOAK = Number(process.env.PEERTAP_SOAK_SECONDS ?? '0') > 0
const KILLS = SOAK ? 30 : 12
const UPDATE_KILLS = SOAK ? 20 : 8

describe('soak: crash safety (SIGKILL at random moments)', () => {
  it(`an owner killed mid-commit ${KILLS} times always reloads to the acknowledged epoch or the next`, async () => {
    const dir = await tempDir()
    const ownerId = await identity(1)
    const memberId = await identity(2)
    const storage = await FileStorage.open(dir)
    const owner = await createVlanGroup({ vlanId: VLAN_ID, identity: ownerId, storage })
    // a 16-member group, so each record is tens of KB and writes take a while
    const others = await Promise.all(Array.from({ length: 14 }, (_, i) => identity(100 + i)))
    const kps = await Promise.all(
      [memberId, ...others].map((id) => createKeyPackage({ identity: id })),
    )
    const { welcome } = await owner.addMembers({
      keyPackages: kps.map((kp, i) => ({
        keyPackage: kp.keyPackage,
        from: [memberId, ...others][i]!.peerId,
      })),
    })
    const member = await joinVlanGroup({
      vlanId: VLAN_ID,
      ownerPeerId: ownerId.peerId,
      welcome: welcome!,
      keyPackageSecret: kps[0]!.secret,
      identity: memberId,
      storage: new MemoryStorage(),
    })
    let before = owner.epoch
    let torn = 0
    for (let k = 0; k < KILLS; k++) {
      const { acked } = await runAndKill(['owner', dir, hex(OWNER_SEED), hex(VLAN_ID)], 120)
      const reloaded = await loadVlanGroup({
        vlanId: VLAN_ID,
        identity: ownerId,
        storage: await FileStorage.open(dir),
        logLimit: 100_000,
      })
      expect(reloaded, `kill ${k}`).toBeDefined()
      const e = reloaded!.epoch
      const floor = acked ?? before
      expect(e >= floor && e <= floor + 1n, `kill ${k}: acked ${acked}, reloaded ${e}`).toBe(true)
      if (e === floor + 1n) torn++ // killed after the write, before the acknowledgement
      // the member follows from the reloaded owner's log and agrees on the keys
      await member.catchUp({ bundles: reloaded!.commitLog({ since: member.epoch }) })
      expect(member.epoch).toBe(e)
      expect(sameSecrets(member.epochKeys(), reloaded!.epochKeys()), `kill ${k}`).toBe(true)
      before = e
    }
    // and the owner's state goes on: one more commit, processed by the member
    const last = (await loadVlanGroup({
      vlanId: VLAN_ID,
      identity: ownerId,
      storage: await FileStorage.open(dir),
    }))!
    const { bundle } = await last.update()
    await member.processCommit({ bundle })
    expect(sameSecrets(member.epochKeys(), last.epochKeys())).toBe(true)
    expect(before).toBeGreaterThan(owner.epoch + BigInt(KILLS / 2)) // the child did commit between kills
    console.log(
      `owner: ${KILLS} kills, epochs ${owner.epoch} -> ${before}, ${torn} reloads one past the last ack`,
    )
  }, 180_000)

  it(`a member killed while processing commits ${KILLS} times reloads consistently and processes the next commit`, async () => {
    const dir = await tempDir()
    const bundlesDir = await tempDir()
    const ownerId = await identity(1)
    const memberId = await identity(2)
    const owner = await createVlanGroup({
      vlanId: VLAN_ID,
      identity: ownerId,
      storage: new MemoryStorage(),
    })
    const others = await Promise.all(Array.from({ length: 14 }, (_, i) => identity(100 + i)))
    const kps = await Promise.all(
      [memberId, ...others].map((id) => createKeyPackage({ identity: id })),
    )
    const { welcome } = await owner.addMembers({
      keyPackages: kps.map((kp, i) => ({
        keyPackage: kp.keyPackage,
        from: [memberId, ...others][i]!.peerId,
      })),
    })
    const join1 = (storage: FileStorage | MemoryStorage): Promise<VlanGroup> =>
      joinVlanGroup({
        vlanId: VLAN_ID,
        ownerPeerId: ownerId.peerId,
        welcome: welcome!,
        keyPackageSecret: kps[0]!.secret,
        identity: memberId,
        storage,
      })
    await join1(await FileStorage.open(dir))
    // The owner's commits, each in a file named by the epoch it leaves; the keys of each epoch.
    const keys = new Map<bigint, MlsEpochKeys>([[owner.epoch, owner.epochKeys()]])
    for (let i = 0; i < 120; i++) {
      const e = owner.epoch
      const { bundle } = await owner.update()
      await writeFile(join(bundlesDir, String(e)), bundle)
      keys.set(owner.epoch, owner.epochKeys())
    }
    let before = 1n
    let torn = 0
    let kills = 0
    while (kills < KILLS) {
      const { acked, done } = await runAndKill(
        ['member', dir, hex(MEMBER_SEED), hex(VLAN_ID), bundlesDir],
        60,
      )
      const reloaded = await loadVlanGroup({
        vlanId: VLAN_ID,
        identity: memberId,
        storage: await FileStorage.open(dir),
      })
      const e = reloaded!.epoch
      const floor = acked ?? before
      expect(e >= floor && e <= floor + 1n, `kill ${kills}: acked ${acked}, reloaded ${e}`).toBe(
        true,
      )
      if (e === floor + 1n) torn++
      expect(sameSecrets(reloaded!.epochKeys(), keys.get(e)!), `kill ${kills} at epoch ${e}`).toBe(
        true,
      )
      before = e
      if (done) break
      kills++
    }
    expect(kills).toBe(KILLS)
    // the reloaded member processes the next commit
    const reloaded = (await loadVlanGroup({
      vlanId: VLAN_ID,
      identity: memberId,
      storage: await FileStorage.open(dir),
    }))!
    const next = await (async () => {
      const { readFile } = await import('node:fs/promises')
      return readFile(join(bundlesDir, String(reloaded.epoch)))
    })()
    await reloaded.processCommit({ bundle: next })
    expect(sameSecrets(reloaded.epochKeys(), keys.get(reloaded.epoch)!)).toBe(true)
    console.log(
      `member: ${KILLS} kills, epochs 1 -> ${before}, ${torn} reloads one past the last ack`,
    )
  }, 180_000)

  it(`a member killed during its self-updates ${UPDATE_KILLS} times (with the owner in the same process) always finishes the update it started`, async () => {
    const memberDir = await tempDir()
    const ownerDir = await tempDir()
    const ownerId = await identity(1)
    const memberId = await identity(2)
    const owner = await createVlanGroup({
      vlanId: VLAN_ID,
      identity: ownerId,
      storage: await FileStorage.open(ownerDir),
    })
    const others = await Promise.all(Array.from({ length: 14 }, (_, i) => identity(100 + i)))
    const kps = await Promise.all(
      [memberId, ...others].map((id) => createKeyPackage({ identity: id })),
    )
    const { welcome } = await owner.addMembers({
      keyPackages: kps.map((kp, i) => ({
        keyPackage: kp.keyPackage,
        from: [memberId, ...others][i]!.peerId,
      })),
    })
    await joinVlanGroup({
      vlanId: VLAN_ID,
      ownerPeerId: ownerId.peerId,
      welcome: welcome!,
      keyPackageSecret: kps[0]!.secret,
      identity: memberId,
      storage: await FileStorage.open(memberDir),
    })
    const start = owner.epoch
    let before = start
    let behind = 0
    for (let k = 0; k < UPDATE_KILLS; k++) {
      const { acked } = await runAndKill(
        ['updater', memberDir, hex(MEMBER_SEED), hex(VLAN_ID), ownerDir, hex(OWNER_SEED)],
        150,
      )
      const load = async (id: typeof ownerId, dir: string) =>
        (await loadVlanGroup({
          vlanId: VLAN_ID,
          identity: id,
          storage: await FileStorage.open(dir),
          logLimit: 100_000,
        }))!
      const o = await load(ownerId, ownerDir)
      const m = await load(memberId, memberDir)
      const floor = acked ?? before
      expect(m.epoch >= floor, `kill ${k}: acked ${acked}, reloaded ${m.epoch}`).toBe(true)
      expect(o.epoch - m.epoch, `kill ${k}`).toBeLessThanOrEqual(1n)
      expect(o.epoch - m.epoch, `kill ${k}`).toBeGreaterThanOrEqual(0n)
      if (o.epoch > m.epoch) {
        // Killed after the owner committed the member's update, before the
        // member processed it: its stored new-leaf keys still let it follow.
        behind++
        const [bundle] = o.commitLog({ since: m.epoch })
        await m.processCommit({ bundle: bundle! })
      }
      expect(sameSecrets(m.epochKeys(), o.epochKeys()), `kill ${k} at epoch ${o.epoch}`).toBe(true)
      before = m.epoch
    }
    expect(before).toBeGreaterThan(start + BigInt(UPDATE_KILLS / 2)) // updates happened between kills
    console.log(
      `updater: ${UPDATE_KILLS} kills, epochs ${start} -> ${before}, ${behind} reloads with the owner one commit ahead`,
    )
  }, 180_000)
})
