/**
 * `peertap-relay fabric add KEY | remove KEY | list` (docs/spec/12-relay.md
 * §12.4): the fabric roots added at run time live in the state directory's
 * fabric-roots.json, besides the config's `admission.fabricKeys`. The
 * command edits the file, then asks a relay running on that state
 * directory to read it again (POST /fabric/reload on its local status
 * API); with none running, the change applies at its next start.
 */
import { readControl, requestDaemon } from '@peertap/daemon'
import { decodeFabricEpoch, verifyFabricEpoch } from '@peertap/mvlan'
import {
  BAD_FABRIC_KEY,
  isFabricKey,
  readFabricEpochs,
  readFabricRoots,
  writeFabricRoots,
} from './fabric.ts'

const START = 'peertap-relay up'

/** A root as `list` shows it. */
export interface FabricRootView {
  readonly rootKey: string
  /** `config`: from admission.fabricKeys; `state`: added with `fabric add`. */
  readonly source: 'config' | 'state'
  readonly epoch: number | null
  readonly credentialKey: string | null
  readonly issuedAt: number | null
}

export interface FabricCommandResult {
  /** What the command did, for a person. */
  readonly text: string
  /** The same for scripts (`--json`). */
  readonly json: unknown
}

/** Adds a root to fabric-roots.json; a running relay takes it at once. */
export async function fabricAdd(stateDir: string, key: string): Promise<FabricCommandResult> {
  const root = checkKey(key)
  const roots = await readFabricRoots(stateDir)
  const already = roots.includes(root)
  if (!already) await writeFabricRoots(stateDir, [...roots, root])
  const running = await reload(stateDir)
  const what = already ? `fabric root ${root} was already added` : `added fabric root ${root}`
  const held = running?.roots.find((r) => r.rootKey === root)
  const when =
    running === undefined
      ? 'no relay runs on this state directory: it applies at its next start'
      : held?.epoch == null
        ? `the running relay (pid ${running.pid}) took it; it admits once a member presents the fabric's epoch statement`
        : `the running relay (pid ${running.pid}) took it; it admits under epoch ${held.epoch} now`
  return {
    text: `${what}; ${when}`,
    json: { rootKey: root, added: !already, running: running !== undefined, root: held ?? null },
  }
}

/** Removes a root added with `fabric add`; a running relay stops admitting under it at once. */
export async function fabricRemove(stateDir: string, key: string): Promise<FabricCommandResult> {
  const root = checkKey(key)
  const roots = await readFabricRoots(stateDir)
  if (!roots.includes(root))
    throw new Error(
      `fabric root ${root} was not added with \`peertap-relay fabric add\` (a root in the config's admission.fabricKeys is removed from the config)`,
    )
  await writeFabricRoots(
    stateDir,
    roots.filter((r) => r !== root),
  )
  const running = await reload(stateDir)
  const still = running?.roots.some((r) => r.rootKey === root) === true
  const when =
    running === undefined
      ? 'no relay runs on this state directory: it applies at its next start'
      : still
        ? `the running relay (pid ${running.pid}) still admits under it: it is also in the config's admission.fabricKeys`
        : `the running relay (pid ${running.pid}) no longer admits under it`
  return {
    text: `removed fabric root ${root}; ${when}`,
    json: { rootKey: root, removed: true, running: running !== undefined, stillAdmits: still },
  }
}

/** The roots with their current epoch and credential key: a running relay's, else the state directory's. */
export async function fabricList(stateDir: string): Promise<FabricCommandResult> {
  const running = await runningStatus(stateDir)
  let roots: FabricRootView[]
  let note: string
  if (running !== undefined) {
    roots = running.fabric.roots
    note = `from the running relay (pid ${running.pid})`
  } else {
    roots = await storedRoots(stateDir)
    note =
      "no relay runs on this state directory: the roots added with `fabric add` and their stored epochs (the config's roots are not shown)"
  }
  const lines = roots.map(
    (r) =>
      `${r.rootKey}  ${r.source.padEnd(6)}  ${
        r.epoch === null
          ? 'no epoch statement yet'
          : `epoch ${r.epoch}  credential key ${r.credentialKey}`
      }`,
  )
  return {
    text: [`${roots.length} fabric root${roots.length === 1 ? '' : 's'}, ${note}`, ...lines].join(
      '\n',
    ),
    json: { running: running !== undefined, roots },
  }
}

function checkKey(key: string): string {
  if (!isFabricKey(key)) throw new Error(BAD_FABRIC_KEY)
  return key.toLowerCase()
}

/** Asks the running relay to read the roots again; undefined when none runs. */
async function reload(
  stateDir: string,
): Promise<{ pid: number; roots: FabricRootView[] } | undefined> {
  const pid = await runningPid(stateDir)
  if (pid === undefined) return undefined
  const answer = (await requestDaemon(stateDir, 'POST', '/fabric/reload', START).catch(
    (error: Error) => {
      if (error.message.includes('does not answer')) return undefined
      throw error
    },
  )) as { roots: FabricRootView[] } | undefined
  return answer === undefined ? undefined : { pid, roots: answer.roots }
}

async function runningStatus(
  stateDir: string,
): Promise<{ pid: number; fabric: { roots: FabricRootView[] } } | undefined> {
  const pid = await runningPid(stateDir)
  if (pid === undefined) return undefined
  const status = (await requestDaemon(stateDir, 'GET', '/status', START).catch((error: Error) => {
    if (error.message.includes('does not answer')) return undefined
    throw error
  })) as { fabric: { roots: FabricRootView[] } } | undefined
  return status === undefined ? undefined : { pid, fabric: status.fabric }
}

/** The pid in the control file, if a relay wrote one (it may have died since: the request says). */
async function runningPid(stateDir: string): Promise<number | undefined> {
  try {
    return (await readControl(stateDir, START)).pid
  } catch {
    return undefined
  }
}

/** The state directory's roots with the newest stored statement of each (verified). */
async function storedRoots(stateDir: string): Promise<FabricRootView[]> {
  const roots = await readFabricRoots(stateDir)
  const newest = new Map<string, { epoch: number; credentialKey: string; issuedAt: number }>()
  for (const bytes of await readFabricEpochs(stateDir)) {
    const decoded = decodeFabricEpoch(bytes)
    if (!decoded.ok || !verifyFabricEpoch(decoded.statement)) continue
    const { rootKey, epoch, credentialKey, issuedAt } = decoded.statement
    const root = Buffer.from(rootKey).toString('hex')
    if ((newest.get(root)?.epoch ?? -1) >= epoch) continue
    newest.set(root, { epoch, credentialKey: Buffer.from(credentialKey).toString('hex'), issuedAt })
  }
  return roots.sort().map((rootKey) => {
    const held = newest.get(rootKey)
    return {
      rootKey,
      source: 'state',
      epoch: held?.epoch ?? null,
      credentialKey: held?.credentialKey ?? null,
      issuedAt: held?.issuedAt ?? null,
    }
  })
}
