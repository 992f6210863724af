// The shape every package keeps (docs/style.md; docs/spec/README.md): a
// documented entry point with an explicit export list, ESM with types first
// after the source condition, a README, a bench/ for data-path packages, and
// for pure packages a minimal dependency list and no OS I/O; every error
// class extends @peertap/errors' PeerTapError (issue 16). And the apps
// stay thin (issue 16): no app depends at run time on a tool; an app's
// src/ files are wiring, none over 400 lines, none reading or writing a byte
// layout (DataView, get/set*Int*, Buffer read/write*Int*) or defining a
// CONTROL channel; and no package or app reaches into another by a relative
// path (which the cycle check cannot see), only through its package exports. And the repository stands
// alone (issue 16): no tracked file cites a document kept outside it.
import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve, sep } from 'node:path'
import { describe, expect, it } from 'vitest'

const root = new URL('../../../', import.meta.url).pathname
const packagesDir = join(root, 'packages')
const packages = readdirSync(packagesDir).filter((name) =>
  existsSync(join(packagesDir, name, 'package.json')),
)

/** Runtime dependencies each pure package may have; nothing else. */
const PURE_DEPENDENCIES: Record<string, string[]> = {
  errors: [],
  vft: ['@noble/hashes', '@peertap/errors'],
  frag: ['@peertap/errors'],
  crypto: ['@noble/hashes', '@noble/curves', '@noble/ciphers', '@hpke/core', '@peertap/errors'],
  // mvlan: a relay signs its own presence record and keeps its neighbour relays' (spec 12 §12.9).
  relay: ['@peertap/crypto', '@peertap/errors', '@peertap/mvlan'],
  switch: ['@peertap/crypto', '@peertap/errors', '@peertap/frag', '@peertap/vft'],
  mls: ['@peertap/crypto', 'ts-mls'],
  invite: ['@noble/hashes', '@peertap/crypto', '@peertap/errors', '@peertap/vft'],
  mvlan: ['@noble/hashes', '@peertap/crypto', '@peertap/errors', '@peertap/vft'],
  'tun-l2': ['@noble/hashes', '@peertap/errors'],
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

/**
 * One error base (issue 16): every error class a package or an app declares
 * extends @peertap/errors' PeerTapError (directly or through another
 * package's class), whose doc comment gives the one `code` convention.
 */
it('declares no error class on Error itself, only on PeerTapError (issue 16)', () => {
  const direct: string[] = []
  for (const dir of ['packages', 'apps']) {
    for (const name of readdirSync(join(root, dir))) {
      if (dir === 'packages' && name === 'errors') continue
      for (const file of sourceFiles(join(root, dir, name, 'src'))) {
        withoutComments(readFileSync(file, 'utf8'))
          .split('\n')
          .forEach((line, index) => {
            if (/\bextends\s+(?:globalThis\.)?Error\b/.test(line))
              direct.push(`${relative(root, file)}:${index + 1}: ${line.trim()}`)
          })
      }
    }
  }
  expect(direct).toEqual([])
})

const appsDir = join(root, 'apps')
const apps = readdirSync(appsDir).filter((name) => existsSync(join(appsDir, name, 'package.json')))

it('finds the apps', () => {
  expect(apps).toEqual(expect.arrayContaining(['node', 'relay']))
})

/** The most lines a file in an app's src/ may have: an app is wiring (config, lifecycle, logs, CLI). */
const APP_FILE_MAX_LINES = 400
/**
 * Reading or writing a byte layout, which belongs in a package: a DataView,
 * its integer and float accessors, and Buffer's integer and float reads and
 * writes (readUInt16BE, writeUint32LE, readBigUInt64LE, readFloatBE, …).
 * Uint8Array views, copies and concatenation stay allowed.
 */
const BYTE_LAYOUT = [
  /\bDataView\b/,
  /\.(?:get|set)(?:Big)?(?:Uint|Int|Float)(?:8|16|32|64)\s*\(/,
  /\.(?:read|write)(?:Big)?(?:UInt|Uint|Int)(?:8|16|32|64)?(?:LE|BE)?\s*\(/,
  /\.(?:read|write)(?:Float|Double)(?:LE|BE)\s*\(/,
]
/** A numeric literal: decimal, hex, binary or octal, with separators. */
const NUMBER = String.raw`(?:0[xX][\da-fA-F_]+|0[bB][01_]+|0[oO][0-7_]+|\d[\d_]*)\b`
/**
 * Defining a CONTROL channel, whose number belongs to the trunk's registry
 * (packages/trunk, spec 08 §4.6.1), never to an app: a name like *CHANNEL*,
 * CONTROL_*, *Channel or channel given a number literal, as a constant, an
 * enum member or an object property (`channel: 9`). Naming the trunk's
 * constants (`treeChannel: CONTROL_SPANNING_TREE`) is what apps do instead.
 */
const CHANNEL_DEFINITION = new RegExp(
  String.raw`\b(?:[A-Z\d_]*CHANNEL[A-Z\d_]*|CONTROL_[A-Z\d_]+|\w*Channel|channel)\s*(?::\s*number\s*)?[=:](?!=)\s*${NUMBER}`,
)

/** A module's text without its comments (which may name what its code must not use), its lines kept. */
function withoutComments(text: string): string {
  return text
    .replace(/\/\*[\s\S]*?\*\//g, (comment) => comment.replace(/[^\n]/g, ''))
    .replace(/(^|[^:'"`\\])\/\/.*$/gm, '$1')
}

describe.each(apps)('apps/%s', (name) => {
  it('has no runtime dependency on a tool (@peertap/tool-*)', () => {
    const manifest = JSON.parse(readFileSync(join(appsDir, name, 'package.json'), 'utf8'))
    const tools = Object.keys(manifest.dependencies ?? {}).filter((dependency) =>
      dependency.startsWith('@peertap/tool-'),
    )
    expect(tools).toEqual([])
  })

  const appSources = () => sourceFiles(join(appsDir, name, 'src'))
  const where = (file: string) => relative(root, file)

  it(`keeps each file in src/ to ${APP_FILE_MAX_LINES} lines (issue 16)`, () => {
    const long: string[] = []
    for (const file of appSources()) {
      const text = readFileSync(file, 'utf8')
      const lines = text.split('\n').length - (text.endsWith('\n') ? 1 : 0)
      if (lines > APP_FILE_MAX_LINES) long.push(`${where(file)}: ${lines} lines`)
    }
    expect(long).toEqual([])
  })

  it('reads and writes no byte layout in src/: no DataView, get/set*Int*, Buffer read/write*Int* (issue 16)', () => {
    const found: string[] = []
    for (const file of appSources()) {
      withoutComments(readFileSync(file, 'utf8'))
        .split('\n')
        .forEach((line, index) => {
          if (BYTE_LAYOUT.some((pattern) => pattern.test(line)))
            found.push(`${where(file)}:${index + 1}: ${line.trim()}`)
        })
    }
    expect(found).toEqual([])
  })

  it("defines no CONTROL channel in src/: channel numbers are the trunk's registry (issue 16)", () => {
    const found: string[] = []
    for (const file of appSources()) {
      withoutComments(readFileSync(file, 'utf8'))
        .split('\n')
        .forEach((line, index) => {
          if (CHANNEL_DEFINITION.test(line))
            found.push(`${where(file)}:${index + 1}: ${line.trim()}`)
        })
    }
    expect(found).toEqual([])
  })
})

/** A package's own .ts files: its sources, tests, benchmarks; not node_modules, dist or build output. */
function ownSourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) {
      if (['node_modules', 'dist', 'build'].includes(entry.name) || entry.name.startsWith('.'))
        return []
      return ownSourceFiles(path)
    }
    return entry.isFile() && entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')
      ? [path]
      : []
  })
}

/** Relative paths a module imports: static, dynamic, side-effect, re-export. */
const RELATIVE_IMPORTS = [
  /\bfrom\s*['"](\.\.?\/[^'"]*)['"]/g,
  /\bimport\s*\(\s*['"](\.\.?\/[^'"]*)['"]/g,
  /\bimport\s*['"](\.\.?\/[^'"]*)['"]/g,
]
/** A file named relative to the module (`new URL(…, import.meta.url)`, whatever the first argument's expression). */
const URL_OF_MODULE = /\bnew URL\(([^()]*?),\s*import\.meta\.url\s*\)/g
const RELATIVE_LITERAL = /['"`](\.\.?\/[^'"`]*)['"`]/g

/** Every relative path a module imports or names by `new URL(…, import.meta.url)`. */
function relativeReferences(text: string): string[] {
  return [
    ...RELATIVE_IMPORTS.flatMap((pattern) => [...text.matchAll(pattern)].map((m) => m[1]!)),
    ...[...text.matchAll(URL_OF_MODULE)].flatMap(([, argument]) =>
      [...argument!.matchAll(RELATIVE_LITERAL)].map((m) => m[1]!),
    ),
  ]
}

const packageDirs = [
  ...packages.map((name) => join(packagesDir, name)),
  ...apps.map((name) => join(appsDir, name)),
]
/** Where the workspace's packages, apps and tools live (docs/, say, may be named by path). */
const WORKSPACE_DIRS = ['packages', 'apps', 'tools'].map((name) => join(root, name))
const within = (path: string, dir: string) => path === dir || path.startsWith(dir + sep)

describe.each(packageDirs.map((dir) => relative(root, dir)))('%s', (name) => {
  it('reaches no other package, app or tool by a relative path', () => {
    const dir = join(root, name)
    const outside: string[] = []
    for (const file of ownSourceFiles(dir)) {
      for (const path of relativeReferences(readFileSync(file, 'utf8'))) {
        const target = resolve(dirname(file), path)
        if (!within(target, dir) && WORKSPACE_DIRS.some((parent) => within(target, parent)))
          outside.push(`${relative(root, file)}: '${path}'`)
      }
    }
    expect(outside).toEqual([])
  })
})

/**
 * Documents that were kept beside the repository, never in it: the original
 * design brief, the measured facts and the style notes (now docs/design.md,
 * docs/facts.md and docs/style.md), and any path into the folder beside the
 * repository that held them. Spelled so that this file does not match itself.
 */
const OUTSIDE_CITATION = /\b(?:DESIGN|FACTS|STYLE)\.md\b|\.\.\/shared\b|\/work\/shared\b/
const GENERATED_DIRS = ['node_modules', 'dist', 'build']

/** Every tracked file, from the repository root, but generated or installed output. */
function trackedFiles(): string[] {
  const listing = execFileSync('git', ['ls-files', '-z'], { cwd: root, encoding: 'utf8' })
  return listing
    .split('\0')
    .filter((path) => path && !path.split('/').some((part) => GENERATED_DIRS.includes(part)))
}

it('cites no document outside the repository (issue 16)', () => {
  const citations: string[] = []
  for (const path of trackedFiles()) {
    if (!existsSync(join(root, path))) continue // deleted in the work tree, not yet committed
    const bytes = readFileSync(join(root, path))
    if (bytes.includes(0)) continue // binary
    bytes
      .toString('utf8')
      .split('\n')
      .forEach((line, index) => {
        if (OUTSIDE_CITATION.test(line)) citations.push(`${path}:${index + 1}: ${line.trim()}`)
      })
  }
  expect(citations).toEqual([])
})
