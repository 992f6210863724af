/** `peertap status` for people: the topology the node sees and its key counters. */
export function formatStatus(status: unknown): string {
  const s = status as {
    peerId: string
    listen: string[]
    reservations?: Array<{ relay: string; reserved: boolean; made: number; failures: number }>
    neighbours: Array<{
      id: string
      status: string
      kind: string
      relayed?: boolean
      mtu: number
      clockSkewMs: number
      counters: Record<string, number>
    }>
    vlans: Record<string, Record<string, number> & { receive: Record<string, number> }>
    subscriptions: { held: number; table: number }
    direct?: Record<string, number>
    mls?: Record<
      string,
      {
        role: string
        state: string
        epoch?: number
        members: string[]
        switchEpochs?: { current: number; previous?: number; next?: number }
      }
    >
  }
  const lines = [`node ${s.peerId}`, ...s.listen.map((a) => `  listening ${a}`)]
  for (const r of s.reservations ?? []) {
    lines.push(
      `  reservation at relay ${r.relay}: ${r.reserved ? 'held' : 'missing'} (made ${r.made}, failed ${r.failures})`,
    )
  }
  lines.push('', 'neighbours:')
  if (s.neighbours.length === 0) lines.push('  (none)')
  for (const n of s.neighbours) {
    lines.push(
      `  ${n.id} ${n.status} ${n.kind}${n.relayed === true ? ' (control link through a relay)' : ''} mtu ${n.mtu} skew ${n.clockSkewMs} ms  sent ${n.counters.framesSent} frames, received ${n.counters.framesReceived}, queue drops ${n.counters.dropQueueFull}`,
    )
  }
  lines.push('', 'VLANs:')
  for (const [name, v] of Object.entries(s.vlans)) {
    const drops = Object.entries(v.receive)
      .filter(([reason, n]) => reason !== 'opened' && n > 0)
      .map(([reason, n]) => `${reason} ${n}`)
    lines.push(
      `  ${name}: sealed ${v.sealed}, delivered ${v.delivered}, flooded ${v.floodedUnknown}, learned MACs ${v.learned}, receive drops: ${drops.length > 0 ? drops.join(', ') : 'none'}`,
    )
  }
  for (const [name, m] of Object.entries(s.mls ?? {})) {
    const held = m.switchEpochs
    const epochs =
      held === undefined
        ? ''
        : `, sending under ${held.current}${held.next === undefined ? '' : `, receiving ${held.next} too`}${held.previous === undefined ? '' : `, settling ${held.previous}`}`
    lines.push(
      `  ${name}: MLS ${m.role}, ${m.state}${m.epoch === undefined ? '' : `, epoch ${m.epoch}, ${m.members.length} members`}${epochs}`,
    )
  }
  const d = s.direct
  if (d !== undefined && (d.pathUps ?? 0) > 0) {
    lines.push(
      '',
      `direct paths (punched past a relay): ${d.framesDirect} frames direct, ${d.relayCopiesSaved} relay copies saved, through the relay ${d.framesViaRelayPathDown} while down and ${d.framesViaRelayTooLarge} too large; up ${d.pathUps} times, down ${d.pathDowns}`,
    )
  }
  lines.push(
    '',
    `subscriptions: ${s.subscriptions.held} held by this node, ${s.subscriptions.table} in its table`,
    '',
  )
  return lines.join('\n')
}
