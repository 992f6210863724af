import { type MetricsSection, metricsText } from '@peertap/daemon'

/**
 * Prometheus metrics from a status snapshot (docs/design.md §10): every counter
 * of the switch, each VLAN (with its crypto drop reasons), the forwarding
 * table, admission (docs/spec/14-roles.md) and each link, as gauges labelled by what they belong to. Built per
 * scrape from the same snapshot `peertap status` shows, so the two agree.
 */
export async function collectMetrics(status: unknown): Promise<string> {
  const s = status as {
    vlans: Record<string, unknown>
    neighbours: Array<{ id: string; counters: unknown }>
    switch: unknown
    table: unknown
    forwarding: unknown
    admission?: unknown
    direct?: unknown
    subscriptions: unknown
    scavenges?: unknown
    fastPath?: { vlans?: unknown; links?: unknown } | null
    mls?: Record<string, { epoch?: number; members: unknown[]; counters: unknown }>
  }
  const sections: MetricsSection[] = [
    ...Object.entries(s.vlans).map(([vlan, value]) => ({
      prefix: 'peertap_vlan',
      labels: { vlan },
      value,
    })),
    ...s.neighbours.map((n) => ({
      prefix: 'peertap_link',
      labels: { peer: n.id },
      value: n.counters,
    })),
    { prefix: 'peertap_switch', value: s.switch },
    { prefix: 'peertap_table', value: s.table },
    { prefix: 'peertap_forwarding', value: s.forwarding },
    ...(s.admission === undefined ? [] : [{ prefix: 'peertap_admission', value: s.admission }]),
    ...(s.direct === undefined ? [] : [{ prefix: 'peertap_direct', value: s.direct }]),
    { prefix: 'peertap_subscriptions', value: s.subscriptions },
    ...(s.scavenges === undefined ? [] : [{ prefix: 'peertap_scavenges', value: s.scavenges }]),
    // The fast path's own counters (docs/spec/18-fast-path.md §18.6); its frames are in the
    // VLAN and link counters above too.
    ...(s.fastPath === undefined || s.fastPath === null
      ? []
      : [
          {
            prefix: 'peertap_fast_path',
            value: { ...s.fastPath, vlans: undefined, links: undefined },
          },
        ]),
    ...Object.entries(s.mls ?? {}).map(([vlan, m]) => ({
      prefix: 'peertap_mls',
      labels: { vlan },
      value: { epoch: m.epoch ?? -1, members: m.members.length, ...(m.counters as object) },
    })),
  ]
  return metricsText(sections)
}
