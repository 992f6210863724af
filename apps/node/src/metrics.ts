import { Gauge, Registry } from 'prom-client'

/**
 * Prometheus metrics from a status snapshot (DESIGN.md 10): every counter
 * of the switch, each VLAN (with its crypto drop reasons), the forwarding
 * table and each link, as gauges labelled by what they belong to. Built per
 * scrape from the same snapshot `peertap status` shows, so the two agree.
 */
export async function collectMetrics(status: unknown): Promise<string> {
  const registry = new Registry()
  const gauges = new Map<string, Gauge>()
  const set = (name: string, labels: Record<string, string>, value: number) => {
    let gauge = gauges.get(name)
    if (gauge === undefined) {
      gauge = new Gauge({
        name,
        help: name.replaceAll('_', ' '),
        labelNames: Object.keys(labels),
        registers: [registry],
      })
      gauges.set(name, gauge)
    }
    gauge.set(labels, value)
  }
  const walk = (prefix: string, labels: Record<string, string>, value: unknown) => {
    if (typeof value === 'number') set(prefix, labels, value)
    else if (value !== null && typeof value === 'object') {
      for (const [key, inner] of Object.entries(value)) {
        walk(
          `${prefix}_${key
            .replace(/[^a-zA-Z0-9]/g, '_')
            .replace(/([a-z])([A-Z])/g, '$1_$2')
            .toLowerCase()}`,
          labels,
          inner,
        )
      }
    }
  }
  const s = status as {
    vlans: Record<string, unknown>
    neighbours: Array<{ id: string; counters: unknown }>
    switch: unknown
    table: unknown
    subscriptions: unknown
  }
  for (const [vlan, counters] of Object.entries(s.vlans)) walk('peertap_vlan', { vlan }, counters)
  for (const n of s.neighbours) walk('peertap_link', { peer: n.id }, n.counters)
  walk('peertap_switch', {}, s.switch)
  walk('peertap_table', {}, s.table)
  walk('peertap_subscriptions', {}, s.subscriptions)
  return registry.metrics()
}
