// The @example of src/index.ts's @packageDocumentation block, extracted and
// run as written (with '@peertap/mls' resolving to this package's source).
import { execFileSync } from 'node:child_process'
import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { expect, it } from 'vitest'

it('the package example runs and prints what it says', () => {
  const index = readFileSync(new URL('../src/index.ts', import.meta.url), 'utf8')
  const block = /@example\s*\n \* ```ts\n([\s\S]*?)\n \* ```/.exec(index)
  expect(block).not.toBeNull()
  const code = block![1]!
    .split('\n')
    .map((l) => l.replace(/^ \* ?/, ''))
    .join('\n')
    .replace("from '@peertap/mls'", "from '../src/index.ts'")
  const file = new URL('./.example-run.ts', import.meta.url).pathname
  writeFileSync(file, code)
  try {
    const out = execFileSync(process.execPath, ['--conditions=peertap:source', file], {
      encoding: 'utf8',
    })
    expect(out.trim()).toBe('true true')
  } finally {
    rmSync(file, { force: true })
  }
})
