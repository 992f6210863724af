import { Gauge, Registry } from 'prom-client'

/** One part of a status snapshot to export: every number under `value`, as gauges named from `prefix` and the keys' path. */
export interface MetricsSection {
  readonly prefix: string
  readonly labels?: Readonly<Record<string, string>>
  readonly value: unknown
}

/**
 * Prometheus text from a status snapshot (docs/design.md §10): every number in
 * each section becomes a gauge named `<prefix>_<key>_<key>…` (camelCase
 * keys in snake_case) with the section's labels. Built per scrape from the
 * same snapshot the status API shows, so the two always agree.
 */
export async function metricsText(sections: readonly MetricsSection[]): Promise<string> {
  const registry = new Registry()
  const gauges = new Map<string, Gauge>()
  const set = (name: string, labels: Readonly<Record<string, string>>, value: number) => {
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
  const walk = (prefix: string, labels: Readonly<Record<string, string>>, value: unknown) => {
    if (typeof value === 'number') {
      if (Number.isFinite(value)) set(prefix, labels, value)
    } else if (value !== null && typeof value === 'object') {
      for (const [key, inner] of Object.entries(value))
        walk(`${prefix}_${metricName(key)}`, labels, inner)
    }
  }
  for (const section of sections) walk(section.prefix, section.labels ?? {}, section.value)
  return registry.metrics()
}

/** `frameDrops` -> `frame_drops`, `rate-frames` -> `rate_frames`. */
export function metricName(key: string): string {
  return key
    .replace(/[^a-zA-Z0-9]/g, '_')
    .replace(/([a-z])([A-Z])/g, '$1_$2')
    .toLowerCase()
}
