import { describe, expect, it } from 'vitest'
import { UI_ASSETS } from '../src/ui/assets.ts'

/** The data-testids the real-browser tests (tools/**) click and read. */
const TEST_IDS = [
  'live-status',
  'sign-out',
  'identity',
  'peer-id',
  'version',
  'listen-addresses',
  'vlans',
  'create-form',
  'create-name',
  'create-subnet',
  'create-submit',
  'create-error',
  'join-form',
  'join-code',
  'join-submit',
  'join-progress',
  'join-error',
  'vlan-list',
  'vlans-empty',
  'vlan-row',
  'vlan-name',
  'vlan-role',
  'vlan-meta',
  'vlan-addresses',
  'invite-form',
  'invite-uses',
  'invite-submit',
  'invitation',
  'invite-meta',
  'invite-code',
  'invite-copy',
  'invite-qr',
  'vlan-leave',
  'vlan-delete',
  'vlan-error',
  'members',
  'member-list',
  'member-row',
  'member-role',
  'interfaces',
  'interface-list',
  'interfaces-empty',
  'interface-row',
  'interface-device',
  'interface-state',
  'interface-meta',
  'interface-counters',
  'interface-attach',
  'interface-detach',
  'interface-error',
  'neighbours',
  'neighbour-list',
  'neighbours-empty',
  'neighbour-row',
  'neighbour-status',
  'neighbour-path',
  'neighbour-counters',
  'neighbour-rtt',
  'neighbour-ping',
  'neighbour-error',
  'fabric',
  'fabric-body',
  'fabric-none',
  'fabric-id',
  'fabric-node-row',
  'fabric-relay-row',
]

const body = (path: string): string => {
  const asset = UI_ASSETS[path]
  if (asset === undefined) throw new Error(`no asset ${path}`)
  return asset.body
}

describe('UI_ASSETS', () => {
  it('has the page and its files with their content types', () => {
    expect(Object.keys(UI_ASSETS).sort()).toEqual(
      ['/', '/app.css', '/app.js', '/favicon.svg', '/format.js', '/index.html'].sort(),
    )
    expect(UI_ASSETS['/']?.contentType).toBe('text/html; charset=utf-8')
    expect(UI_ASSETS['/index.html']).toBe(UI_ASSETS['/'])
    expect(UI_ASSETS['/app.js']?.contentType).toBe('text/javascript; charset=utf-8')
    expect(UI_ASSETS['/format.js']?.contentType).toBe('text/javascript; charset=utf-8')
    expect(UI_ASSETS['/app.css']?.contentType).toBe('text/css; charset=utf-8')
    expect(UI_ASSETS['/favicon.svg']?.contentType).toBe('image/svg+xml')
    expect(body('/favicon.svg')).toMatch(
      /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"[\s\S]*<\/svg>\n$/,
    )
    expect(body('/favicon.svg')).not.toMatch(/<script|\son[a-z]+=|href/i)
    for (const asset of Object.values(UI_ASSETS)) expect(asset.body.length).toBeGreaterThan(100)
  })

  it('loads only same-origin module scripts and styles, and has no inline script, style or handler', () => {
    const html = body('/')
    const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)]
    expect(scripts.length).toBe(1)
    for (const [, attrs, content] of scripts) {
      expect(attrs).toMatch(/\btype="module"/)
      expect(attrs).toMatch(/\bsrc="\/[a-z-]+\.js"/)
      expect(content?.trim()).toBe('')
      const src = /src="([^"]+)"/.exec(attrs ?? '')?.[1] as string
      expect(UI_ASSETS[src], src).toBeDefined()
    }
    // Nothing from elsewhere: every src and href is a path of this origin, and an asset.
    for (const [, url] of html.matchAll(/\b(?:src|href)="([^"]*)"/g)) {
      expect(url).toMatch(/^\/[a-z-]*(\.[a-z]+)?$/)
      expect(UI_ASSETS[url as string], url).toBeDefined()
    }
    expect(html).not.toMatch(/<style\b/)
    expect(html).not.toMatch(/\sstyle="/)
    expect(html).not.toMatch(/\son[a-z]+="/)
    expect(html).not.toMatch(/javascript:/i)
  })

  it('imports only same-origin modules from the scripts and uses no eval, inline styles or outside URLs', () => {
    for (const path of ['/app.js', '/format.js']) {
      const js = body(path)
      for (const [, from] of js.matchAll(/\bfrom\s+'([^']+)'/g)) {
        expect(from).toMatch(/^\.\/[a-z-]+\.js$/)
        expect(UI_ASSETS[(from as string).slice(1)], from).toBeDefined()
      }
      expect(js).not.toMatch(/\beval\(|new Function\(|\.innerHTML\b|\.outerHTML\b/)
      expect(js).not.toMatch(/\bhttps?:\/\/(?!www\.w3\.org\/)/)
    }
    expect(body('/app.css')).not.toMatch(/@import|url\(/)
  })

  it('has every data-testid the browser tests use', () => {
    const page = `${body('/')}\n${body('/app.js')}`
    for (const id of TEST_IDS) expect(page, id).toMatch(new RegExp(`'${id}'|"${id}"|\`${id}\``))
  })

  it('reaches the status API actions the node has', () => {
    const js = body('/app.js')
    for (const action of [
      '/vlan/create',
      '/vlan/invite',
      '/join',
      '/vlan/members',
      '/status',
      '/events',
      '/ping',
    ])
      expect(js, action).toContain(`'${action}'`)
    // leave/delete, attach/detach: by template.
    expect(js).toMatch(/`\/vlan\/\$\{what\}`/)
    expect(js).toContain("credentials: 'same-origin'")
  })
})
