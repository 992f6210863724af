// The shape every package keeps (STYLE.md; docs/spec/README.md): a
// documented entry point with an explicit export list, ESM with types first
// after the source condition, a README, a bench/ for data-path packages, and
// for pure packages a minimal dependency list and no OS I/O.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'

const root = new URL('../../../', import.meta.url).pathname
const packagesDir = join(root, 'packages')
const packages = readdirSync(packagesDir).filter((name) =>
  existsSync(join(packagesDir, name, 'package.json')),
)

/** Runtime dependencies each pure package may have; nothing else. */
const PURE_DEPENDENCIES: Record<string, string[]> = {
  vft: ['@noble/hashes'],
  frag: [],
  crypto: ['@noble/hashes', '@noble/curves', '@noble/ciphers', '@hpke/core'],
  relay: ['@peertap/crypto'],
  switch: ['@peertap/crypto', '@peertap/frag', '@peertap/vft'],
  mls: ['@peertap/crypto', 'ts-mls'],
}
/** Modules of pure packages that are their storage ports' OS side, kept out of the main entry. */
const IO_EXEMPT = new Set(['mls/src/file-storage.ts'])
/** Modules that do OS I/O, which pure packages never import (node:crypto is computation). */
const IO_MODULES =
  /from ['"]node:(fs|fs\/promises|net|dgram|child_process|http|https|http2|tls|os|worker_threads|cluster|dns)['"]/
const DATA_PATH = new Set(['vft', 'crypto', 'frag', 'tap', 'trunk', 'relay', 'switch', 'tun-l2'])

function sourceFiles(dir: string): string[] {
  if (!existsSync(dir)) return []
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) return sourceFiles(path)
    return path.endsWith('.ts') ? [path] : []
  })
}

it('finds the packages', () => {
  expect(packages).toEqual(expect.arrayContaining(['vft', 'crypto', 'frag']))
})

describe.each(packages)('packages/%s', (name) => {
  const dir = join(packagesDir, name)
  const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'))

  it('is an ESM package named @peertap/<folder> with types and the source condition', () => {
    expect(manifest.name).toBe(`@peertap/${name}`)
    expect(manifest.type).toBe('module')
    const entry = manifest.exports?.['.']
    expect(Object.keys(entry)).toEqual(['peertap:source', 'types', 'default'])
    expect(entry['peertap:source']).toBe('./src/index.ts')
  })

  it('documents itself and exports an explicit list', () => {
    expect(existsSync(join(dir, 'README.md'))).toBe(true)
    const index = readFileSync(join(dir, 'src/index.ts'), 'utf8')
    expect(index).toContain('@packageDocumentation')
    expect(index).toContain('@example')
    for (const file of sourceFiles(join(dir, 'src'))) {
      expect(readFileSync(file, 'utf8'), file).not.toMatch(/export \* from/)
    }
  })

  it.runIf(DATA_PATH.has(name))('has a benchmark', () => {
    expect(existsSync(join(dir, 'bench/index.ts'))).toBe(true)
    expect(manifest.scripts?.bench).toBeTruthy()
  })

  it.runIf(name in PURE_DEPENDENCIES)('is pure: minimal dependencies, no OS I/O', () => {
    expect(manifest.sideEffects).toBe(false)
    expect(Object.keys(manifest.dependencies ?? {}).sort()).toEqual(
      [...(PURE_DEPENDENCIES[name] ?? [])].sort(),
    )
    for (const file of sourceFiles(join(dir, 'src'))) {
      if (IO_EXEMPT.has(file.slice(packagesDir.length + 1))) continue
      expect(readFileSync(file, 'utf8'), file).not.toMatch(IO_MODULES)
    }
  })
})
