/**
 * The node's web page (index.html): its identity, VLANs (create, invite,
 * join, leave, delete, members), interfaces (attach, detach), neighbours
 * (paths, RTT, ping) and fabric, kept live by the status API's
 * server-sent events (GET /events) or, while those do not answer, by
 * polling GET /status every 2 seconds. Plain ES modules, no framework,
 * nothing fetched from elsewhere; every node value goes into the page as
 * text (the QR code's SVG is the node's own, drawn from the code).
 */
import {
  describePath,
  errorText,
  formatBytes,
  formatCount,
  formatExpiry,
  formatRtt,
} from './format.js'

const POLL_MS = 2000
const EVENTS_RETRY_MS = 15_000
const MEMBERS_REFRESH_MS = 15_000

/**
 * The session's key (docs/design.md §10): the sign-in link's redirect
 * gives it once in the address's fragment (`/#k=…`), which no browser
 * sends to a server; the page keeps it for its tab (sessionStorage, this
 * origin's only) and sends it with every API request. The session cookie
 * reaches every server on 127.0.0.1; the key only this page, and the API
 * wants both.
 */
const KEY_STORE = 'peertap-session-key'
function sessionKey() {
  const given = /^#k=([A-Za-z0-9_-]{43})$/.exec(location.hash)?.[1]
  if (given !== undefined) {
    sessionStorage.setItem(KEY_STORE, given)
    history.replaceState(null, '', `${location.pathname}${location.search}`)
  }
  return sessionStorage.getItem(KEY_STORE) ?? ''
}
const KEY = sessionKey()
const API_HEADERS = { 'x-peertap-key': KEY }

/** The element with this data-testid inside `root`. */
const byTestId = (id, root = document) => root.querySelector(`[data-testid="${id}"]`)

/** An element with attributes and children (strings become text nodes). */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag)
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue
    if (name === 'class') el.className = value
    else el.setAttribute(name, value === true ? '' : String(value))
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue
    el.append(typeof child === 'string' ? document.createTextNode(child) : child)
  }
  return el
}

/** Replaces an element's children, leaving out the undefined ones. */
function fill(el, ...children) {
  el.replaceChildren(...children.filter((child) => child !== undefined))
}

/** An error whose message is meant for the person. */
class ActionError extends Error {}

/** A request to the status API, with the session's key; its JSON answer, or an ActionError in words. */
async function api(path, init = {}) {
  let res
  try {
    res = await fetch(path, {
      credentials: 'same-origin',
      cache: 'no-store',
      ...init,
      headers: API_HEADERS,
    })
  } catch {
    throw new ActionError(errorText(0, null))
  }
  const body = await res.json().catch(() => null)
  if (!res.ok) throw new ActionError(errorText(res.status, body))
  return body
}

/** POST to a status API action; its answer, or an ActionError in words. */
function call(path, params = {}) {
  const query = new URLSearchParams(params).toString()
  return api(query === '' ? path : `${path}?${query}`, { method: 'POST' })
}

/** Runs an action for a control: its button busy meanwhile, its error shown in `errorEl`. */
async function act(button, errorEl, run) {
  errorEl.textContent = ''
  button.disabled = true
  try {
    await run()
    await refresh()
  } catch (error) {
    errorEl.textContent =
      error instanceof ActionError ? error.message : `Something went wrong: ${error.message}`
  } finally {
    button.disabled = false
  }
}

// -- what the page remembers between updates ------------------------------

/** The last invitation made here, by VLAN. */
const invitations = new Map()
/** Members by VLAN: { key, list, error, at }. */
const members = new Map()
/** The last PING by neighbour: { rttMs, hops, error }. */
const pings = new Map()

// -- live updates ----------------------------------------------------------

let lastStatus
let pollTimer
/** Whether the event stream is open (GET /events). */
let streaming = false

function setLive(state, text) {
  const el = byTestId('live-status')
  el.className = `live ${state}`
  el.textContent = text
}

const fetchStatus = () => api('/status')

/** Reads the status now and shows it (after an action, and each poll). */
async function refresh() {
  try {
    render(await fetchStatus())
    if (!streaming) setLive('ok', `live (every ${POLL_MS / 1000} s)`)
  } catch (error) {
    setLive('lost', error.message)
  }
}

function startPolling() {
  if (pollTimer !== undefined) return
  void refresh()
  pollTimer = setInterval(refresh, POLL_MS)
}

function stopPolling() {
  clearInterval(pollTimer)
  pollTimer = undefined
}

/**
 * Server-sent events (`event: status`) when the node has them, read with
 * fetch (EventSource cannot send the session's key); the poll goes on
 * until they come, and again whenever the stream ends.
 */
async function listen() {
  try {
    const res = await fetch('/events', {
      credentials: 'same-origin',
      cache: 'no-store',
      headers: API_HEADERS,
    })
    if (!res.ok || res.body === null) throw new Error(`HTTP ${res.status}`)
    streaming = true
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader()
    let buffer = ''
    for (;;) {
      const { value, done } = await reader.read()
      if (done) break
      buffer += value
      for (let end = buffer.indexOf('\n\n'); end !== -1; end = buffer.indexOf('\n\n')) {
        onEvent(buffer.slice(0, end))
        buffer = buffer.slice(end + 2)
      }
    }
  } catch {
    // Refused (no /events on this node, signed out) or dropped: the poll takes over.
  }
  streaming = false
  startPolling()
  setTimeout(listen, EVENTS_RETRY_MS)
}

/** One server-sent event: `event: NAME` and `data: JSON` lines. */
function onEvent(block) {
  let name = 'message'
  let data = ''
  for (const line of block.split('\n')) {
    if (line.startsWith('event: ')) name = line.slice(7)
    else if (line.startsWith('data: ')) data += line.slice(6)
  }
  if (name === 'status') {
    stopPolling()
    try {
      render(JSON.parse(data))
      setLive('ok', 'live')
    } catch (error) {
      setLive('lost', `could not read an update: ${error.message}`)
    }
  } else if (name === 'error') {
    // The node's own `event: error` (its status could not be read this time): the stream goes on.
    let message = 'the node could not read its status'
    try {
      message = JSON.parse(data).error ?? message
    } catch {}
    setLive('lost', message)
  }
}

// -- rendering ---------------------------------------------------------------

/** Brings `container`'s children in line with `items`, one child per key, made once and updated. */
function sync(container, items, keyOf, create, update) {
  const old = new Map()
  for (const el of container.children) old.set(el.dataset.key, el)
  let previous = null
  for (const item of items) {
    const key = keyOf(item)
    let el = old.get(key)
    if (el === undefined) {
      el = create(item)
      el.dataset.key = key
    } else old.delete(key)
    update(el, item)
    const expected = previous === null ? container.firstElementChild : previous.nextElementSibling
    if (el !== expected) container.insertBefore(el, expected)
    previous = el
  }
  for (const el of old.values()) el.remove()
}

function render(status) {
  lastStatus = status
  renderIdentity(status)
  renderVlans(status)
  renderInterfaces(status)
  renderNeighbours(status)
  renderFabric(status)
}

function renderIdentity(status) {
  byTestId('peer-id').textContent = status.peerId ?? '–'
  byTestId('version').textContent = status.version ?? '–'
  const list = byTestId('listen-addresses')
  list.replaceChildren(...(status.listen ?? []).map((a) => h('li', {}, h('code', {}, a))))
}

// VLANs

/** The VLAN the join form last said this node joined ('Joined …'), cleared when it is gone. */
let joinedNote

function renderVlans(status) {
  const vlans = status.vlanList ?? []
  byTestId('vlans-empty').hidden = vlans.length > 0
  if (joinedNote !== undefined && !vlans.some((v) => v.name === joinedNote)) {
    joinedNote = undefined
    byTestId('join-progress').textContent = ''
  }
  sync(byTestId('vlan-list'), vlans, (v) => v.name, createVlan, updateVlan)
}

function createVlan(vlan) {
  const template = document.getElementById('vlan-template')
  const el = template.content.firstElementChild.cloneNode(true)
  el.dataset.vlan = vlan.name
  const error = byTestId('vlan-error', el)
  const inviteForm = byTestId('invite-form', el)
  inviteForm.addEventListener('submit', (event) => {
    event.preventDefault()
    const uses = byTestId('invite-uses', el).value || '1'
    void act(byTestId('invite-submit', el), error, async () => {
      const answer = await call('/vlan/invite', { vlan: vlan.name, uses, qr: 'svg' })
      invitations.set(vlan.name, answer)
      showInvitation(el, vlan.name)
    })
  })
  byTestId('invite-copy', el).addEventListener('click', () => copyCode(el))
  for (const what of ['leave', 'delete']) {
    const button = byTestId(`vlan-${what}`, el)
    button.addEventListener('click', () => {
      const question =
        what === 'delete'
          ? `Delete ${vlan.name}? Every member is removed and its invitations end.`
          : `Leave ${vlan.name}? Coming back takes a new invitation.`
      if (!window.confirm(question)) return
      void act(button, error, async () => {
        await call(`/vlan/${what}`, { vlan: vlan.name })
        invitations.delete(vlan.name)
        members.delete(vlan.name)
      })
    })
  }
  return el
}

function currentVlan(name) {
  return (lastStatus?.vlanList ?? []).find((v) => v.name === name)
}

function updateVlan(el, vlan) {
  byTestId('vlan-name', el).textContent = vlan.name
  const mls = vlan.kind === 'mls'
  const owner = vlan.role === 'owner'
  byTestId('vlan-role', el).textContent = mls ? (vlan.role ?? 'joining') : 'PSK'
  const meta = [
    mls ? 'MLS' : 'pre-shared key',
    // 'member' is the group's state (joined), not the role, which the badge shows.
    vlan.state === 'member' ? undefined : vlan.state,
    vlan.members === undefined
      ? undefined
      : `${vlan.members} member${vlan.members === 1 ? '' : 's'}`,
    vlan.epoch === undefined ? undefined : `epoch ${vlan.epoch}`,
    `device ${vlan.device}`,
    vlan.source === 'config' ? 'from the config file' : undefined,
  ]
  byTestId('vlan-meta', el).textContent = meta.filter((x) => x !== undefined).join(' · ')
  byTestId('vlan-addresses', el).textContent =
    vlan.addresses?.length > 0 ? `addresses ${vlan.addresses.join(', ')}` : 'no address'
  const stored = vlan.source === 'state'
  byTestId('invite-form', el).hidden = !(mls && owner)
  byTestId('vlan-leave', el).hidden = !(stored && !owner)
  byTestId('vlan-delete', el).hidden = !(stored && owner)
  showInvitation(el, vlan.name)
  updateMembers(el, vlan)
}

function showInvitation(el, name) {
  const invitation = invitations.get(name)
  const box = byTestId('invitation', el)
  box.hidden = invitation === undefined
  if (invitation === undefined) return
  const code = byTestId('invite-code', el)
  if (code.textContent === invitation.code) return
  code.textContent = invitation.code
  byTestId('invite-meta', el).textContent =
    `Invitation ${invitation.id}: ${invitation.uses} use${invitation.uses === 1 ? '' : 's'}, until ${formatExpiry(invitation.expiresAt)}. On the other node, paste the code into “Join a VLAN”, or scan it.`
  const qr = byTestId('invite-qr', el)
  if (typeof invitation.qrSvg === 'string') {
    // The node's own SVG (ui/qr-svg.ts): one path drawn from the code, no script.
    const svg = new DOMParser().parseFromString(invitation.qrSvg, 'image/svg+xml').documentElement
    qr.replaceChildren(document.importNode(svg, true))
  } else qr.replaceChildren()
}

async function copyCode(el) {
  const code = byTestId('invite-code', el)
  const button = byTestId('invite-copy', el)
  try {
    await navigator.clipboard.writeText(code.textContent)
    button.textContent = 'Copied'
  } catch {
    // No clipboard here: select the code for the person to copy.
    getSelection()?.selectAllChildren(code)
    button.textContent = 'Selected: copy it'
  }
  setTimeout(() => {
    button.textContent = 'Copy'
  }, 2000)
}

function updateMembers(el, vlan) {
  const box = byTestId('members', el)
  const list = byTestId('member-list', el)
  if (vlan.kind !== 'mls' || vlan.vlanId === undefined) {
    box.hidden = true
    return
  }
  box.hidden = false
  const key = `${vlan.epoch ?? ''}:${vlan.members ?? ''}:${vlan.state ?? ''}`
  const known = members.get(vlan.name)
  const stale =
    known === undefined || known.key !== key || Date.now() - known.at > MEMBERS_REFRESH_MS
  if (stale && known?.loading !== true) {
    members.set(vlan.name, { ...known, key, at: Date.now(), loading: true })
    call('/vlan/members', { vlan: vlan.name }).then(
      (list) => {
        members.set(vlan.name, { key, at: Date.now(), list })
        const current = currentVlan(vlan.name)
        if (current !== undefined && el.isConnected) updateMembers(el, current)
      },
      (error) => members.set(vlan.name, { key, at: Date.now(), error: error.message }),
    )
  }
  const entry = members.get(vlan.name)
  if (entry?.error !== undefined) {
    list.replaceChildren(h('li', { class: 'error' }, entry.error))
    return
  }
  if (entry?.list === undefined) return
  sync(
    list,
    entry.list,
    (m) => m.peerId,
    (m) => h('li', { 'data-testid': 'member-row', 'data-peer': m.peerId }),
    (li, m) => {
      fill(
        li,
        h('code', {}, m.peerId),
        h('span', { class: 'badge', 'data-testid': 'member-role' }, m.role ?? 'member'),
        m.self ? h('span', {}, 'this node') : undefined,
        h('span', { class: 'meta' }, [m.ipv4, m.ipv6].filter(Boolean).join(' · ')),
      )
    },
  )
}

// Interfaces

function renderInterfaces(status) {
  const ports = status.interfaces ?? []
  byTestId('interfaces-empty').hidden = ports.length > 0
  sync(
    byTestId('interface-list'),
    ports,
    (p) => p.vlan,
    createInterface,
    (el, port) => updateInterface(el, port, status.vlans?.[port.vlan]),
  )
}

function createInterface(port) {
  const el = h(
    'article',
    { class: 'card', 'data-testid': 'interface-row', 'data-vlan': port.vlan },
    h(
      'h3',
      {},
      h('span', { 'data-testid': 'interface-device' }),
      ' ',
      h('span', { class: 'badge', 'data-testid': 'interface-state' }),
    ),
    h('p', { class: 'meta', 'data-testid': 'interface-meta' }),
    h('div', { class: 'counters', 'data-testid': 'interface-counters' }),
    h(
      'div',
      { class: 'actions' },
      h('button', { type: 'button', 'data-testid': 'interface-attach' }, 'Attach'),
      h(
        'button',
        { type: 'button', class: 'secondary', 'data-testid': 'interface-detach' },
        'Detach',
      ),
    ),
    h('p', { class: 'error', 'data-testid': 'interface-error', role: 'alert' }),
  )
  const error = byTestId('interface-error', el)
  for (const what of ['attach', 'detach']) {
    const button = byTestId(`interface-${what}`, el)
    button.addEventListener('click', () =>
      act(button, error, () => call(`/vlan/${what}`, { vlan: port.vlan })),
    )
  }
  return el
}

function counter(label, value) {
  return h('div', {}, h('span', {}, `${label} `), value)
}

function updateInterface(el, port, vlan) {
  byTestId('interface-device', el).textContent = `${port.device} (${port.vlan})`
  const state = byTestId('interface-state', el)
  const up = port.attached && port.up
  state.textContent = !port.attached
    ? 'detached'
    : port.running
      ? 'up'
      : port.up
        ? 'up, not running'
        : 'down'
  state.className = `badge ${up ? 'up' : 'down'}`
  byTestId('interface-meta', el).textContent = [
    port.mac === undefined ? undefined : `MAC ${port.mac}`,
    `MTU ${port.mtu}`,
    port.addresses?.length > 0 ? port.addresses.join(', ') : 'no address',
  ]
    .filter((x) => x !== undefined)
    .join(' · ')
  const s = port.stats ?? {}
  fill(
    byTestId('interface-counters', el),
    counter('from host', `${formatCount(s.framesRead)} frames, ${formatBytes(s.bytesRead)}`),
    counter('to host', `${formatCount(s.framesWritten)} frames`),
    vlan === undefined
      ? undefined
      : counter('sealed', `${formatCount(vlan.sealed)} frames, ${formatBytes(vlan.sealedBytes)}`),
    vlan === undefined
      ? undefined
      : counter(
          'delivered',
          `${formatCount(vlan.delivered)} frames, ${formatBytes(vlan.deliveredBytes)}`,
        ),
    counter('dropped', formatCount((s.writeDrops ?? 0) + (s.truncated ?? 0))),
  )
  byTestId('interface-attach', el).hidden = port.attached
  byTestId('interface-detach', el).hidden = !port.attached
}

// Neighbours

function renderNeighbours(status) {
  const neighbours = status.neighbours ?? []
  byTestId('neighbours-empty').hidden = neighbours.length > 0
  sync(byTestId('neighbour-list'), neighbours, (n) => n.id, createNeighbour, updateNeighbour)
}

function createNeighbour(n) {
  const el = h(
    'article',
    { class: 'card', 'data-testid': 'neighbour-row', 'data-peer': n.id },
    h(
      'h3',
      {},
      h('code', {}, n.id),
      ' ',
      h('span', { class: 'badge', 'data-testid': 'neighbour-status' }),
    ),
    h('p', { class: 'meta', 'data-testid': 'neighbour-path' }),
    h('div', { class: 'counters', 'data-testid': 'neighbour-counters' }),
    h(
      'div',
      { class: 'actions' },
      h('span', {}, 'RTT ', h('strong', { 'data-testid': 'neighbour-rtt' }, '–')),
      h('button', { type: 'button', class: 'secondary', 'data-testid': 'neighbour-ping' }, 'Ping'),
    ),
    h('p', { class: 'error', 'data-testid': 'neighbour-error', role: 'alert' }),
  )
  const button = byTestId('neighbour-ping', el)
  const error = byTestId('neighbour-error', el)
  button.addEventListener('click', () =>
    act(button, error, async () => {
      const answer = await call('/ping', { peer: n.id })
      pings.set(n.id, answer)
    }),
  )
  return el
}

function updateNeighbour(el, n) {
  const status = byTestId('neighbour-status', el)
  status.textContent = n.status
  status.className = `badge ${n.status === 'up' ? 'up' : 'down'}`
  byTestId('neighbour-path', el).textContent = [
    describePath(n),
    n.admitted === undefined ? undefined : `admitted: ${n.admitted}`,
    `MTU ${n.mtu}`,
  ]
    .filter((x) => x !== undefined)
    .join(' · ')
  const c = n.counters ?? {}
  byTestId('neighbour-counters', el).replaceChildren(
    counter('sent', `${formatCount(c.framesSent)} frames, ${formatBytes(c.bytesSent)}`),
    counter('received', `${formatCount(c.framesReceived)} frames, ${formatBytes(c.bytesReceived)}`),
  )
  // A datagram path measures its RTT by itself; a stream link's comes from the Ping button.
  const ping = pings.get(n.id)
  const rtt = byTestId('neighbour-rtt', el)
  if (typeof n.rttMs === 'number') rtt.textContent = `${formatRtt(n.rttMs)} (path)`
  else if (ping !== undefined) rtt.textContent = `${formatRtt(ping.rttMs)} (ping)`
  else rtt.textContent = '– (press Ping)'
}

// Fabric

function renderFabric(status) {
  const body = byTestId('fabric-body')
  const fabric = status.fabric
  if (fabric === null || fabric === undefined) {
    body.replaceChildren(
      h('p', { class: 'empty', 'data-testid': 'fabric-none' }, 'This node is in no fabric.'),
    )
    return
  }
  const peer = (p, extra) =>
    h(
      'li',
      { class: 'row-line', 'data-peer': p.peerId, ...extra },
      h('code', {}, p.peerId),
      h('span', { class: `badge ${p.linked ? 'up' : ''}` }, p.linked ? 'linked' : 'not linked'),
      p.load === undefined ? undefined : h('span', {}, `load ${p.load}`),
      p.vlans === undefined
        ? undefined
        : h(
            'span',
            { class: 'meta' },
            p.vlans.map((v) => v.name ?? v.vlanId.slice(0, 12)).join(', '),
          ),
    )
  body.replaceChildren(
    h(
      'dl',
      {},
      h('dt', {}, 'Fabric'),
      h('dd', {}, h('code', { 'data-testid': 'fabric-id' }, fabric.fabric)),
      h('dt', {}, 'Epoch'),
      h('dd', {}, String(fabric.epoch)),
      h('dt', {}, 'This node'),
      h('dd', {}, fabric.admin ? 'an admin' : 'a member'),
      h('dt', {}, 'Bootstrap'),
      h('dd', {}, fabric.bootstrap.length > 0 ? fabric.bootstrap.join(', ') : 'none'),
    ),
    h('h3', {}, `Nodes (${fabric.nodes.length})`),
    h(
      'ul',
      { class: 'plain' },
      fabric.nodes.map((p) => peer(p, { 'data-testid': 'fabric-node-row' })),
    ),
    h('h3', {}, `Relays (${fabric.relays.length})`),
    h(
      'ul',
      { class: 'plain' },
      fabric.relays.map((p) => peer(p, { 'data-testid': 'fabric-relay-row' })),
    ),
  )
}

// -- the forms at the top ------------------------------------------------------

function wireForms() {
  // Signing out ends the session at the node (and its cookie); the key this tab kept goes too.
  byTestId('sign-out').addEventListener('click', () => {
    void call('/ui/signout')
      .catch(() => undefined)
      .finally(() => {
        sessionStorage.removeItem(KEY_STORE)
        location.assign('/')
      })
  })
  const create = byTestId('create-form')
  create.addEventListener('submit', (event) => {
    event.preventDefault()
    const name = byTestId('create-name').value.trim()
    const subnet = byTestId('create-subnet').value.trim()
    void act(byTestId('create-submit'), byTestId('create-error'), async () => {
      await call('/vlan/create', { vlan: name, ...(subnet === '' ? {} : { subnet }) })
      create.reset()
    })
  })
  const join = byTestId('join-form')
  join.addEventListener('submit', (event) => {
    event.preventDefault()
    const code = byTestId('join-code').value.trim()
    const progress = byTestId('join-progress')
    progress.textContent = 'Joining: waiting for the owner to admit this node (up to 30 s)…'
    void act(byTestId('join-submit'), byTestId('join-error'), async () => {
      try {
        const vlan = await call('/join', { code })
        join.reset()
        progress.textContent = `Joined ${vlan.name}.`
        // The note goes with the VLAN: once it is left or deleted, it no longer says so.
        joinedNote = vlan.name
      } catch (error) {
        progress.textContent = ''
        throw error
      }
    })
  })
}

wireForms()
startPolling()
void listen()
