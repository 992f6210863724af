import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { writeSignInPage } from '../src/cli-ui.ts'

const url = 'http://127.0.0.1:7600/?nonce=0123456789abcdef&x="<y>"'

describe('writeSignInPage', () => {
  let root: string
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'peertap-cli-ui-test-'))
  })
  afterEach(() => {
    rmSync(root, { recursive: true, force: true })
  })

  it('writes a page only its owner can read, in the runtime directory, that goes on to the link', () => {
    const dir = mkdtempSync(join(root, 'xdg-'))
    chmodSync(dir, 0o700)
    const page = writeSignInPage(url, { runtimeDir: dir, tmpDir: root })
    expect(dirname(page.path)).toBe(dir)
    expect(statSync(page.path).mode & 0o777).toBe(0o600)
    const html = readFileSync(page.path, 'utf8')
    const escaped = 'http://127.0.0.1:7600/?nonce=0123456789abcdef&amp;x=&quot;&lt;y&gt;&quot;'
    expect(html).toContain(`<meta http-equiv="refresh" content="0;url=${escaped}">`)
    expect(html).toContain(`<a href="${escaped}">`)
    expect(html).toContain('nonce=0123456789abcdef')
    page.remove()
    expect(readdirSync(dir)).toEqual([])
    expect(statSync(dir).isDirectory()).toBe(true) // the runtime directory itself stays
  })

  it('without a runtime directory, makes a fresh 0700 directory and removes it with the page', () => {
    const page = writeSignInPage(url, { runtimeDir: undefined, tmpDir: root })
    const dir = dirname(page.path)
    expect(dirname(dir)).toBe(root)
    expect(statSync(dir).mode & 0o777).toBe(0o700)
    expect(statSync(page.path).mode & 0o777).toBe(0o600)
    expect(readFileSync(page.path, 'utf8')).toContain('nonce=0123456789abcdef')
    page.remove()
    expect(readdirSync(root)).toEqual([])
  })

  it('does not use a runtime directory others can enter, or one that is missing', () => {
    const open = mkdtempSync(join(root, 'open-'))
    chmodSync(open, 0o755)
    for (const runtimeDir of [open, join(root, 'missing')]) {
      const page = writeSignInPage(url, { runtimeDir, tmpDir: root })
      expect(dirname(dirname(page.path))).toBe(root)
      expect(dirname(page.path)).not.toBe(runtimeDir)
      page.remove()
    }
  })
})
