/**
 * `peertap ui`: a link that signs a browser in to the running node's page
 * (docs/design.md §10). The node makes a nonce (single use, valid 60 s);
 * the page exchanges it for an HttpOnly session cookie on first load, so
 * the API token never appears in a URL.
 */
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { accessSync, constants, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { Command } from 'commander'
import { printJson, request } from './cli-util.ts'

/** What POST /ui/nonce answers. */
interface SignInLink {
  readonly url: string
  readonly nonce: string
  readonly expiresAt: string
}

export function addUiCommand(program: Command): void {
  program
    .command('ui')
    .description(
      "print a link to the running node's web page (and open it on a desktop): it signs a browser in, once, within 60 seconds",
    )
    .requiredOption('-s, --state-dir <dir>', "the node's state directory")
    .option('--no-open', 'only print the link')
    .option('--json', 'print JSON (url, nonce, expiresAt)')
    .action(async (options: { stateDir: string; open: boolean; json?: boolean }) => {
      const link = (await request(options.stateDir, 'POST', '/ui/nonce')) as SignInLink
      if (options.json) printJson(link)
      else {
        process.stdout.write(`${link.url}\n`)
        process.stderr.write('the link works once, within 60 seconds\n')
      }
      if (options.open) openInBrowser(link.url)
    })
}

/**
 * Opens the link with xdg-open where a desktop is present; never fails (no
 * desktop, no xdg-open, or a browser that does not start: the link is
 * printed anyway). Not as root: a browser run as root is not a thing to
 * start on someone's behalf (with the peertap group, `peertap ui` needs no root).
 *
 * The link is not on xdg-open's command line: any local user can read a
 * process's arguments (/proc/PID/cmdline) and redeem the nonce first. It
 * goes into a file only we can read ({@link writeSignInPage}) and xdg-open
 * gets that file's `file://` URL. The file is removed after the nonce's 60
 * seconds, if this command still runs then; usually it has exited before
 * (the timer does not hold it), and the file stays: mode 0600, and the
 * nonce in it is dead 60 seconds after it was issued, redeemed or not.
 */
function openInBrowser(url: string): void {
  const desktop = process.env.DISPLAY || process.env.WAYLAND_DISPLAY
  if (!desktop || process.getuid?.() === 0) return
  let page: SignInPage
  try {
    page = writeSignInPage(url)
  } catch {
    return // nowhere to write it: the printed link is enough
  }
  setTimeout(() => page.remove(), NONCE_LIFE_MS).unref()
  try {
    const child = spawn('xdg-open', [pathToFileURL(page.path).href], {
      detached: true,
      stdio: 'ignore',
    })
    child.on('error', () => page.remove())
    child.unref()
  } catch {
    // Nothing to open it with: the printed link is enough.
    page.remove()
  }
}

/** How long a sign-in nonce lives (the node's: 60 seconds). */
const NONCE_LIFE_MS = 60_000

/** A sign-in page written to a file ({@link writeSignInPage}). */
export interface SignInPage {
  /** The file's absolute path. */
  readonly path: string
  /** Removes the file (and the directory made for it, if one was); never throws. */
  remove(): void
}

/**
 * Writes a small HTML page that goes on to `url` at once (a meta refresh,
 * and a link to click where refreshes are off), readable by its owner
 * alone (mode 0600, created anew: never an existing file). It goes into
 * `runtimeDir` ($XDG_RUNTIME_DIR by default) if that is a directory we own,
 * only we can enter (no group or other bits) and can write; else into a
 * fresh directory (mode 0700) made in `tmpDir` (os.tmpdir() by default).
 * Throws if neither can be written.
 */
export function writeSignInPage(
  url: string,
  options: { readonly runtimeDir?: string | undefined; readonly tmpDir?: string } = {},
): SignInPage {
  const runtimeDir = 'runtimeDir' in options ? options.runtimeDir : process.env.XDG_RUNTIME_DIR
  const fresh = runtimeDir !== undefined && privateDir(runtimeDir) ? undefined : freshDir(options)
  const dir = fresh ?? (runtimeDir as string)
  const path = join(dir, `peertap-ui-${randomBytes(8).toString('hex')}.html`)
  const href = escapeHtml(url)
  const html = `<!doctype html>
<html><head><meta charset="utf-8"><meta name="referrer" content="no-referrer">
<meta http-equiv="refresh" content="0;url=${href}">
<title>PeerTap: signing in</title></head>
<body><p><a href="${href}">Open the node's page</a> (the link works once, within 60 seconds).</p></body></html>
`
  try {
    writeFileSync(path, html, { mode: 0o600, flag: 'wx' })
  } catch (error) {
    if (fresh !== undefined) rmSync(fresh, { recursive: true, force: true })
    throw error
  }
  return {
    path,
    remove() {
      try {
        if (fresh !== undefined) rmSync(fresh, { recursive: true, force: true })
        else rmSync(path, { force: true })
      } catch {
        // Left behind: mode 0600, and its nonce dies in 60 seconds anyway.
      }
    },
  }
}

/** Whether `dir` is a directory we own, with no group or other permissions, that we can write. */
function privateDir(dir: string): boolean {
  try {
    const stat = statSync(dir)
    const uid = process.getuid?.()
    if (!stat.isDirectory() || (stat.mode & 0o077) !== 0) return false
    if (uid !== undefined && stat.uid !== uid) return false
    accessSync(dir, constants.W_OK | constants.X_OK)
    return true
  } catch {
    return false
  }
}

/** A fresh directory, mode 0700 (mkdtemp's), in `tmpDir`. */
function freshDir(options: { readonly tmpDir?: string }): string {
  return mkdtempSync(join(options.tmpDir ?? tmpdir(), 'peertap-ui-'))
}

function escapeHtml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string,
  )
}
