/**
 * End to end, in a real browser: Debian's Chromium, driven by
 * playwright-core (which never downloads a browser: it is launched from
 * /usr/bin/chromium), opens the pages of two bare nodes a and b, each in
 * its own network namespace on one bridge, through forwarders (forward.ts)
 * on the host's loopback at each node's own status port. Each page is
 * opened as a person would: the one-use URL `peertap ui` prints, exchanged
 * for a session cookie. Then by clicking alone: a creates the VLAN `lab`
 * with an IPv4 pool and invites; b joins by pasting the code from a's page;
 * a's page shows b as a member; b pings a across `lab`; a detaches and
 * attaches lab's interface on its page and b still reaches a's IPv6 (ULA)
 * address there (Linux drops a device's IPv6 addresses when it goes down);
 * a pings b from its page and sees the RTT; b leaves on its page and a's
 * page shows it gone. Screenshots of the main views at desktop
 * (1280x800) and phone (390x844) widths, whole pages, are written to
 * <view>-<size>.png (empty, invite, members: a's page; joined, left: b's)
 * on every run: into test/artifacts/ui/ in CI or with PEERTAP_SCREENSHOTS=1
 * (they are committed there for the links in apps/node/README.md: when the
 * page changes, run this test so and commit them), elsewhere into
 * $TMPDIR/peertap-ui-screenshots.
 *
 * Then a hostile page in the same browser, served from another origin on
 * the same loopback (same site, so the session cookie goes along): it can
 * neither read a's status (the node answers 403, not just CORS hiding it)
 * nor create a VLAN (checked with the CLI), and a request with a foreign
 * Host is refused with 403. DNS rebinding in the browser itself: Chromium
 * resolves rebind.test to 127.0.0.1 (--host-resolver-rules), so a page at
 * http://rebind.test:<a's port>/ is same-origin with what it fetches and
 * only the node's Host check refuses it. And a page of another site
 * (http://localhost:<port> against the node at 127.0.0.1): its form POST
 * goes without the session cookie (SameSite=Strict) and creates nothing.
 *
 * Needs root, /dev/net/tun and /usr/bin/chromium; elsewhere it skips, but
 * never in CI, where the bootstrap installs them all.
 */

import { existsSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { createServer, request, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { rootAndTun } from '@peertap/tool-netns'
import {
  type Browser,
  type BrowserContext,
  chromium,
  type Locator,
  type Page,
} from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Forward } from '../src/forward.ts'
import { NODE_ARGV, Overlay } from '../src/index.ts'

const CHROMIUM = '/usr/bin/chromium'
/** A name Chromium resolves to 127.0.0.1 (--host-resolver-rules): DNS rebinding in the browser. */
const REBIND = 'rebind.test'
const SUBNET = '10.77.0.0/24'
const SIZES = {
  desktop: { width: 1280, height: 800 },
  phone: { width: 390, height: 844 },
} as const

const can = rootAndTun()
const missing = !can.ok ? can.reason : existsSync(CHROMIUM) ? undefined : `needs ${CHROMIUM}`
const inCi = process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false'
if (missing !== undefined && !inCi) console.log(`browser end-to-end tests skipped: ${missing}`)
// Into the repository (committed, linked from apps/node/README.md) in CI or with
// PEERTAP_SCREENSHOTS=1; elsewhere into a temporary directory, leaving the work tree as it was.
const ARTIFACTS =
  inCi || process.env.PEERTAP_SCREENSHOTS === '1'
    ? new URL('./artifacts/ui/', import.meta.url).pathname
    : join(tmpdir(), 'peertap-ui-screenshots')

interface VlanSummary {
  name: string
  addresses: string[]
}

/** The VLANs' names in the output of `peertap vlan list --json`. */
const names = (out: string) => (JSON.parse(out) as VlanSummary[]).map((v) => v.name)

describe.skipIf(missing !== undefined && !inCi)('the node page in a real browser', () => {
  let overlay: Overlay | undefined
  let browser: Browser | undefined
  const forwards = new Map<string, Forward>()
  const contexts = new Map<string, BrowserContext>()
  const pages = new Map<string, Page>()
  let hostile: Server | undefined
  /** The request a's page made to create `lab`, replayed by the hostile page. */
  let created: { url: string; method: string; body: string | null } | undefined

  const node = (host: string) => overlay!.node(host)
  const cli = (host: string, args: readonly string[], timeoutMs = 40_000) =>
    overlay!.topo.exec(host, [...NODE_ARGV, ...args, '-s', node(host).stateDir], timeoutMs)
  const page = (host: string) => pages.get(host)!
  const labRow = (host: string) =>
    page(host)
      .getByTestId('vlan-row')
      .filter({ has: page(host).getByTestId('vlan-name').getByText('lab', { exact: true }) })

  /** `peertap ui` in the host's namespace: the one-use URL it prints. */
  const uiUrl = async (host: string) => {
    const out = await cli(host, ['ui', '--no-open'], 15_000)
    const url = /http:\/\/127\.0\.0\.1:\d+\/\S*nonce=\S+/.exec(out)?.[0]
    if (url === undefined) throw new Error(`no URL in the output of peertap ui: ${out}`)
    return url
  }

  /** Screenshots of the page as it is, at each size, to artifacts/ui/<name>-<size>.png. */
  const shoot = async (host: string, name: string) => {
    const p = page(host)
    for (const [size, viewport] of Object.entries(SIZES)) {
      await p.setViewportSize(viewport)
      await p.screenshot({ path: join(ARTIFACTS, `${name}-${size}.png`), fullPage: true })
    }
    await p.setViewportSize(SIZES.desktop)
  }

  beforeAll(async () => {
    if (missing !== undefined) throw new Error(`in CI, yet the browser test ${missing}`)
    await mkdir(ARTIFACTS, { recursive: true })
    console.log(`screenshots to ${ARTIFACTS}`)
    overlay = await Overlay.start({ transport: 'tcp', hosts: [], extraHosts: ['a', 'b'] })
    for (const host of ['a', 'b']) {
      // The host port first; the node's status server takes the same port in its namespace.
      const forward = await Forward.start({ namespace: overlay.topo.ns(host) })
      forwards.set(host, forward)
      await overlay.startBare(host, 20_000, forward.port)
    }
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', `--host-resolver-rules=MAP ${REBIND} 127.0.0.1`],
    })
  }, 90_000)

  afterAll(async () => {
    await browser?.close().catch(() => {})
    await new Promise((r) => (hostile === undefined ? r(undefined) : hostile.close(r)))
    for (const forward of forwards.values()) await forward.stop()
    await overlay?.stop()
  })

  it('each page opens from the one-use URL of `peertap ui`, into a session cookie', async () => {
    for (const host of ['a', 'b']) {
      const url = await uiUrl(host)
      expect(url.startsWith(forwards.get(host)!.url('/'))).toBe(true)
      // A context each: two people at two machines (cookies are per host, not per port).
      const context = await browser!.newContext({ viewport: SIZES.desktop })
      contexts.set(host, context)
      const p = await context.newPage()
      pages.set(host, p)
      p.on('dialog', (dialog) => void dialog.accept())
      const response = await p.goto(url)
      expect(response?.ok()).toBe(true)
      await p.getByTestId('peer-id').getByText(node(host).peerId).waitFor({ timeout: 15_000 })
      expect(p.url()).not.toContain('nonce=')
      const cookie = (await context.cookies()).find((c) => c.name.startsWith('peertap_session'))
      expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict' })
      // The nonce is spent: another browser gets no session with it.
      const other = await browser!.newContext()
      const again = await (await other.newPage()).goto(url)
      expect((await other.cookies()).some((c) => c.name.startsWith('peertap_session'))).toBe(false)
      expect(again?.status()).toBeGreaterThanOrEqual(400)
      await other.close()
    }
  }, 60_000)

  it('a creates lab and invites; b joins with the pasted code; a sees b; a ping crosses lab', async () => {
    const a = page('a')
    const b = page('b')
    await shoot('a', 'empty')
    await a.getByTestId('create-name').fill('lab')
    await a.getByTestId('create-subnet').fill(SUBNET)
    const creating = a.waitForRequest((r) => r.method() === 'POST' && r.url().includes('create'))
    await a.getByTestId('create-submit').click()
    const req = await creating
    created = { url: req.url(), method: req.method(), body: req.postData() }
    console.log(`a's page created lab with: ${created.method} ${created.url} ${created.body ?? ''}`)
    await labRow('a').waitFor({ timeout: 15_000 })

    await labRow('a').getByTestId('invite-submit').click()
    const code = labRow('a').getByTestId('invite-code')
    await waitText(code, (t) => t.length > 40, 15_000)
    await labRow('a').getByTestId('invite-qr').locator('svg').waitFor({ timeout: 5_000 })
    await shoot('a', 'invite')
    const text = (await code.textContent())!.trim()

    const joinStarted = Date.now()
    await b.getByTestId('join-code').fill(text)
    await b.getByTestId('join-submit').click()
    await labRow('b').waitFor({ timeout: 40_000 })
    console.log(`join from b's page: ${Date.now() - joinStarted} ms to its lab row`)
    const bLab = await labIpv4('b')

    // a's page, live: b appears among lab's members without a reload.
    await waitText(
      labRow('a').getByTestId('member-list'),
      (t) => t.includes(node('b').peerId.slice(0, 16)),
      30_000,
    )
    await shoot('a', 'members')
    await waitText(labRow('b').getByTestId('vlan-addresses'), (t) => t.includes(bLab), 15_000)
    await shoot('b', 'joined')

    // a's lab address, as a's page shows it; b pings it across lab.
    const aText = (await labRow('a').getByTestId('vlan-addresses').textContent()) ?? ''
    const aLab = /10\.77\.0\.\d+/.exec(aText)?.[0]
    expect(aLab, `a's lab address on its page: ${aText}`).toBe(await labIpv4('a'))
    await until(`b's ping to a (${aLab}) across lab`, 20_000, async () => {
      const out = await overlay!.topo
        .exec('b', ['sh', '-c', `ping -c 1 -W 1 ${aLab} || true`])
        .catch(() => '')
      return /1 received/.test(out)
    })
  }, 120_000)

  it("a detaches and attaches lab's interface on its page; b still reaches a's ULA address; a pings b", async () => {
    const a = page('a')
    const row = a.locator('[data-testid="interface-row"][data-vlan="lab"]')
    const state = row.getByTestId('interface-state')
    await waitText(state, (t) => t === 'up', 15_000)
    // The port asked the kernel to keep the device's IPv6 addresses while it is down.
    const device = /^(\S+) \(lab\)$/.exec(
      (await row.getByTestId('interface-device').textContent()) ?? '',
    )
    expect(device?.[1]).toBeDefined()
    const keep = await overlay!.topo.exec('a', [
      'cat',
      `/proc/sys/net/ipv6/conf/${device![1]}/keep_addr_on_down`,
    ])
    expect(keep.trim()).toBe('1')
    await row.getByTestId('interface-detach').click()
    await waitText(state, (t) => t === 'detached', 15_000)
    await row.getByTestId('interface-attach').waitFor({ timeout: 5_000 })
    await row.getByTestId('interface-attach').click()
    await waitText(state, (t) => t === 'up', 15_000)

    // a's ULA address on lab (the CLI's), back on the device after the attach: b pings it.
    const vlans = JSON.parse(await cli('a', ['vlan', 'list', '--json'])) as VlanSummary[]
    const ula = vlans
      .find((v) => v.name === 'lab')
      ?.addresses.find((x) => x.toLowerCase().startsWith('fd'))
      ?.split('/')[0]
    expect(ula, `a's addresses on lab: ${JSON.stringify(vlans)}`).toBeDefined()
    // The page's interface shows what the kernel has: the ULA is on the device again.
    await waitText(row.getByTestId('interface-meta'), (t) => t.includes(ula!), 15_000)
    // A few tries: an address added again is tentative until duplicate address detection ends.
    let out = ''
    await until(`b's ping -6 to a's ULA ${ula} across lab`, 15_000, async () => {
      out = await overlay!.topo
        .exec('b', ['sh', '-c', `ping -6 -c 1 -W 2 ${ula} 2>&1 || true`])
        .catch((e: Error) => e.message)
      return /1 received/.test(out)
    }).catch((error: Error) => {
      throw new Error(`${error.message}: ${out}`)
    })

    // a's page: b's Ping button, and an RTT appears.
    const neighbour = a.locator(`[data-testid="neighbour-row"][data-peer="${node('b').peerId}"]`)
    const pinged = a.waitForResponse((r) => new URL(r.url()).pathname === '/ping', {
      timeout: 15_000,
    })
    await neighbour.getByTestId('neighbour-ping').click()
    const pong = await pinged
    expect(pong.status(), await pong.text()).toBe(200)
    expect((await pong.json()) as { rttMs?: unknown }).toMatchObject({ rttMs: expect.any(Number) })
    // The RTT shown: the datagram path's own where it has one, else the ping's.
    await waitText(neighbour.getByTestId('neighbour-rtt'), (t) => /\d/.test(t), 15_000)
    console.log(`a's page: b's RTT ${await neighbour.getByTestId('neighbour-rtt').textContent()}`)
  }, 60_000)

  it("b leaves on its page; a's page shows it gone", async () => {
    await labRow('b').getByTestId('vlan-leave').click()
    await labRow('b').waitFor({ state: 'detached', timeout: 30_000 })
    await waitText(
      labRow('a').getByTestId('member-list'),
      (t) => !t.includes(node('b').peerId.slice(0, 16)),
      30_000,
    )
    await shoot('b', 'left')
    const vlans = JSON.parse(await cli('b', ['vlan', 'list', '--json'])) as VlanSummary[]
    expect(vlans.map((v) => v.name)).not.toContain('lab')
    // Signing out ends the session: the page asks for a new link, and the API answers 401.
    await page('b').getByTestId('sign-out').click()
    await page('b').getByText('needs a sign-in link').waitFor({ timeout: 10_000 })
    const after = await page('b').evaluate(async () => (await fetch('/status')).status)
    expect(after).toBe(401)
  }, 60_000)

  it('a page of another origin in the same browser can neither read nor drive the node', async () => {
    const target = forwards.get('a')!.url('').replace(/\/$/, '')
    // Its form creates `evil`; served as localhost (another site than the node's 127.0.0.1), `evil3`.
    hostile = createServer((req, res) => {
      const vlan = req.headers.host?.startsWith('localhost:') ? 'evil3' : 'evil'
      res.writeHead(200, { 'content-type': 'text/html' })
      res.end(`<!doctype html><title>not PeerTap</title>
<form method="POST" action="${target}/vlan/create?vlan=${vlan}" target="sink"><button>win a prize</button></form>
<iframe name="sink"></iframe>`)
    })
    await new Promise<void>((r) => hostile!.listen(0, '127.0.0.1', r))
    const evilOrigin = `http://127.0.0.1:${(hostile.address() as { port: number }).port}`
    // a's context: the browser that holds a's session cookie (same site: ports do not count).
    const evil = await contexts.get('a')!.newPage()
    // Each request of the hostile page to the node, as the browser saw it: the answer's
    // status where the browser got to see one, else why it failed (script never reads either).
    const seen: string[] = []
    const formSent: Array<Promise<Record<string, string>>> = []
    evil.on('request', (r) => {
      if (r.url().startsWith(target) && r.isNavigationRequest()) formSent.push(r.allHeaders())
    })
    evil.on('response', (r) => {
      if (r.url().startsWith(target)) seen.push(`${r.request().method()} ${r.status()}`)
    })
    evil.on('requestfailed', (r) => {
      if (r.url().startsWith(target)) seen.push(`${r.method()} ${r.failure()?.errorText}`)
    })
    await evil.goto(`${evilOrigin}/`)

    // (a) reading a's status from script: not readable.
    const read = await evil.evaluate(async (url) => {
      try {
        const r = await fetch(`${url}/status`, { credentials: 'include' })
        return { read: true, status: r.status, body: await r.text() }
      } catch (error) {
        return { read: false, error: String(error) }
      }
    }, target)
    expect(read.read, JSON.stringify(read)).toBe(false)
    // Not only CORS hiding the answer: the node refused the GET. The browser shows its
    // status where it has one (not to a script of another origin: then it is a failure);
    // and the same GET from Node, with a's whole session (the cookie and the key a's page
    // keeps for its tab) but the hostile page's Origin, is refused with 403, while
    // without that Origin it is served.
    const cookie = (await contexts.get('a')!.cookies()).find((c) =>
      c.name.startsWith('peertap_session'),
    )!
    const key = await page('a').evaluate(() => sessionStorage.getItem('peertap-session-key'))
    expect(key, "a's page keeps its session key").toBeTruthy()
    const port = forwards.get('a')!.port
    const headers = { cookie: `${cookie.name}=${cookie.value}`, 'x-peertap-key': key! }
    const gets = seen.filter((x) => x.startsWith('GET '))
    expect(
      gets.filter((x) => /^GET \d+$/.test(x) && x !== 'GET 403'),
      gets.join(', '),
    ).toEqual([])
    expect(await status(port, '/status', { ...headers, origin: evilOrigin })).toBe(403)
    expect(await status(port, '/status', headers)).toBe(200)

    // (b) creating a VLAN: by form POST, by fetch POST (no-cors, the cookie sent along),
    // and by replaying the very request a's page made to create lab.
    const requests: Array<[string, string | null]> = [[`${target}/vlan/create?vlan=evil`, null]]
    if (created !== undefined)
      requests.push([
        created.url.replace(/lab/g, 'evil'),
        created.body?.replace(/lab/g, 'evil') ?? null,
      ])
    const sent = await evil.evaluate(async (requests) => {
      const sent: string[] = []
      for (const [to, body] of requests)
        await fetch(to, { method: 'POST', mode: 'no-cors', credentials: 'include', body })
          .then((r) => sent.push(r.type))
          .catch((e: unknown) => sent.push(String(e)))
      return sent
    }, requests)
    expect(sent).toHaveLength(requests.length)
    // The form POST: a person clicks a button on the hostile page (its answer lands in an iframe).
    const answered = evil.waitForEvent('framenavigated', { timeout: 10_000 }).catch(() => {})
    await evil.getByRole('button', { name: 'win a prize' }).click()
    await answered
    await until('the answer to the form', 5000, async () => seen.includes('POST 403'))
    console.log(`hostile page: fetch of /status: ${read.error}; requests seen: ${seen.join(', ')}`)
    // The form went with a's session cookie (same site: SameSite=Strict does not stop it)
    // and its Origin; the node refused it. No request of the page got a 2xx.
    const form = await formSent[0]!
    expect(form.cookie ?? '').toContain('peertap_session')
    expect(form.origin).toBe(evilOrigin)
    expect(seen.filter((x) => /^\w+ 2\d\d$/.test(x))).toEqual([])
    expect(names(await cli('a', ['vlan', 'list', '--json']))).toEqual(['lab'])

    // (c) DNS rebinding's stand-in: the right address under a foreign name is refused,
    // even with a's session (cookie and key); the same request under a's own Host is served.
    expect(await status(port, '/status', { ...headers, host: `evil.example:${port}` })).toBe(403)
    expect(await status(port, '/', { ...headers, host: `evil.example:${port}` })).toBe(403)
    expect(await status(port, '/status', { ...headers, host: `127.0.0.1:${port}` })).toBe(200)
    await evil.close()

    // (d) DNS rebinding in the browser: rebind.test resolves to 127.0.0.1, so a page at
    // http://rebind.test:<a's port>/ is a's node itself to the browser, and its fetches are
    // same-origin (no CORS in the way): only the node's Host check refuses them.
    const rebound = await contexts.get('a')!.newPage()
    const landing = await rebound.goto(`http://${REBIND}:${port}/`)
    expect(landing?.status()).toBe(403)
    const answers = await rebound.evaluate(async () => {
      const read = await fetch('/status').then(
        (r) => r.status,
        (e: unknown) => String(e),
      )
      const create = await fetch('/vlan/create?vlan=evil2', { method: 'POST' }).then(
        (r) => r.status,
        (e: unknown) => String(e),
      )
      return { read, create }
    })
    console.log(`page at ${REBIND}: GET /status ${answers.read}, POST create ${answers.create}`)
    expect(answers).toEqual({ read: 403, create: 403 })
    await rebound.close()

    // (e) A page of another site: http://localhost:<port> against the node at 127.0.0.1.
    // Its form POST goes without a's session cookie (SameSite=Strict) and is refused.
    const hostilePort = (hostile.address() as { port: number }).port
    const other = await contexts.get('a')!.newPage()
    const otherSeen: string[] = []
    const otherSent: Array<Promise<Record<string, string>>> = []
    other.on('request', (r) => {
      if (r.url().startsWith(target) && r.isNavigationRequest()) otherSent.push(r.allHeaders())
    })
    other.on('response', (r) => {
      if (r.url().startsWith(target)) otherSeen.push(`${r.request().method()} ${r.status()}`)
    })
    await other.goto(`http://localhost:${hostilePort}/`)
    const posted = other.waitForEvent('framenavigated', { timeout: 10_000 }).catch(() => {})
    await other.getByRole('button', { name: 'win a prize' }).click()
    await posted
    await until('the answer to the cross-site form', 5000, async () =>
      otherSeen.some((x) => x.startsWith('POST ')),
    )
    console.log(`page of another site: requests seen: ${otherSeen.join(', ')}`)
    const crossSite = await otherSent[0]!
    expect(crossSite.cookie ?? '').not.toContain('peertap_session')
    expect(otherSeen.filter((x) => /^\w+ 2\d\d$/.test(x))).toEqual([])
    expect(
      otherSeen.some((x) => /^POST 40[13]$/.test(x)),
      otherSeen.join(', '),
    ).toBe(true)
    await other.close()
    expect(names(await cli('a', ['vlan', 'list', '--json']))).toEqual(['lab'])
  }, 60_000)

  /** lab's IPv4 address on a host, from the CLI. */
  async function labIpv4(host: string): Promise<string> {
    const vlans = JSON.parse(await cli(host, ['vlan', 'list', '--json'])) as VlanSummary[]
    const address = vlans
      .find((v) => v.name === 'lab')
      ?.addresses.find((x) => x.startsWith('10.77.'))
    if (address === undefined) throw new Error(`${host} has no IPv4 address on lab`)
    return address.split('/')[0]!
  }
})

/** Waits until the locator's text passes `ok`; throws with the last text after `timeoutMs`. */
async function waitText(locator: Locator, ok: (text: string) => boolean, timeoutMs: number) {
  let last = ''
  await until('a text', timeoutMs, async () => {
    last = (await locator.textContent({ timeout: 1000 })) ?? ''
    return ok(last)
  }).catch((error: Error) => {
    throw new Error(`${error.message}; the text was: ${last.slice(0, 300)}`)
  })
}

async function until(what: string, timeoutMs: number, probe: () => Promise<boolean>) {
  const deadline = Date.now() + timeoutMs
  while (!(await probe().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 200))
  }
}

/** The status code of a GET to 127.0.0.1:port with the given headers (from Node, not a browser). */
function status(port: number, path: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers, timeout: 5000 }, (res) => {
      res.resume()
      resolve(res.statusCode ?? 0)
    })
    req.on('error', reject)
    req.on('timeout', () => req.destroy(new Error('timed out')))
    req.end()
  })
}
