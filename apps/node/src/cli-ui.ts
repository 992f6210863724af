/**
 * `peertap ui`: a link that signs a browser in to the running node's page
 * (docs/design.md §10). The node makes a nonce (single use, valid 60 s);
 * the page exchanges it for an HttpOnly session cookie on first load, so
 * the API token never appears in a URL.
 */
import { spawn } from 'node:child_process'
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
 */
function openInBrowser(url: string): void {
  const desktop = process.env.DISPLAY || process.env.WAYLAND_DISPLAY
  if (!desktop || process.getuid?.() === 0) return
  try {
    const child = spawn('xdg-open', [url], { detached: true, stdio: 'ignore' })
    child.on('error', () => {})
    child.unref()
  } catch {
    // Nothing to open it with: the printed link is enough.
  }
}
