/**
 * The fast path's fuzz targets (fuzz/, README there): everything the native
 * fast path parses (the DATA datagram, the sealed payload, the replay
 * window cells, FlowCache::FromUdp over slots of datagrams,
 * FlowCache::FromDevice over slots of frames, and the UDP reader's split of
 * GRO messages into the slots FromUdp reads), built with
 * g++ and AddressSanitizer + UndefinedBehaviorSanitizer by fuzz/run.sh and
 * run for a few seconds each; any sanitizer report or failed check fails
 * the test with the target's output and the input's file.
 *
 * Bounded here (`npm test`: each target PEERTAP_FUZZ_SECONDS, 5 s unless
 * set, two at a time: about 30 s with the build); `npm run soak` runs them
 * for PEERTAP_SOAK_SECONDS in all (660 unless set), the cores shared out.
 * Needs g++ and Node's headers (beside the node that runs the tests); where
 * g++ is missing it skips, except in CI (CI set), where it fails.
 */
import { spawn, spawnSync } from 'node:child_process'
import { availableParallelism } from 'node:os'
import { delimiter, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const RUN = fileURLToPath(new URL('../fuzz/run.sh', import.meta.url))
const TARGETS = ['data', 'payload', 'window', 'cache', 'device', 'gro', 'tun', 'aes']
const CXX = process.env.CXX ?? 'g++'
const hasCompiler = spawnSync(CXX, ['--version'], { stdio: 'ignore' }).status === 0
const inCi = process.env.CI !== undefined && process.env.CI !== ''
const skip = !hasCompiler && !inCi ? `${CXX} is missing: the fuzz targets are not built` : false
if (skip) console.log(`fuzz test skipped: ${skip}`)

const SOAK_SECONDS = Number(process.env.PEERTAP_SOAK_SECONDS ?? '0')
const SOAK = SOAK_SECONDS > 0
const JOBS = Math.min(2, availableParallelism())

/** Runs fuzz/run.sh; resolves with its exit code and output (stdout and stderr together). */
function runFuzz(seconds: number): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [RUN], {
      env: {
        ...process.env,
        // The node running the tests, whose include/node has the headers.
        PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ''}`,
        PEERTAP_FUZZ_SECONDS: String(seconds),
        PEERTAP_FUZZ_JOBS: String(JOBS),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    child.stdout.on('data', (d: Buffer) => {
      output += d.toString()
    })
    child.stderr.on('data', (d: Buffer) => {
      output += d.toString()
    })
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, output }))
  })
}

async function fuzzAll(seconds: number): Promise<void> {
  if (!hasCompiler) throw new Error(`${CXX} is missing in CI: the fuzz targets cannot be built`)
  const { code, output } = await runFuzz(seconds)
  // The per-target lines: inputs and inputs/s.
  for (const line of output.split('\n')) if (line.startsWith('peertap-fuzz ')) console.log(line)
  expect(code, `fuzz/run.sh found something or failed:\n${output}`).toBe(0)
  for (const t of TARGETS) {
    expect(output, `target ${t} ran`).toMatch(new RegExp(`peertap-fuzz ${t}: .* no finding`))
  }
}

describe.skipIf(skip)('the fast path under the fuzz targets (ASan, UBSan)', () => {
  it('data, payload, window, cache, device, gro, tun and aes run a few seconds each with no sanitizer report or failed check', async () => {
    const seconds = Number(process.env.PEERTAP_FUZZ_SECONDS ?? '5')
    await fuzzAll(seconds)
  }, 180_000)
})

describe.skipIf(skip || !SOAK)('soak: the fast path under the fuzz targets (ASan, UBSan)', () => {
  // The soak's seconds in all: JOBS targets at a time, in rounds.
  const each = Math.max(5, Math.floor(SOAK_SECONDS / Math.ceil(TARGETS.length / JOBS)))
  it(
    `data, payload, window, cache, device, gro, tun and aes run ${each} s each with no sanitizer report or failed check`,
    async () => {
      await fuzzAll(each)
    },
    (SOAK_SECONDS + 300) * 1000,
  )
})
