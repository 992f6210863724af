/**
 * The end-to-end benchmark (`npm run bench`, or `node --conditions=peertap:source
 * tools/bench/src/index.ts [--quick] [--json] [--runs N] [--transports tcp,quic,ws,udp,udp-dgram]
 * [--scenarios direct,relay] [--loss PCT] [--mtu N] [--offload on|off]
 * [--large-gso segment,fragment,stream] [--aes addon,node] [--delay MS]
 * [--port tap,tun] [--fast-path on,off] [--compare fastd]`).
 *
 * In one run, in namespaces it creates and removes: the bare underlay (veth
 * and a bridge), then PeerTap over each transport, each measured the same
 * way, after a warm-up (see `warmUp`): ping RTT (min/avg/p99) paced every
 * 10 ms and back to back (`ping -A`: the next echo as soon as the reply is
 * in), iperf3 TCP with one and four streams, iperf3
 * UDP 64-byte packets delivered per second (and the PeerTap processes' CPU
 * microseconds per packet delivered meanwhile), iperf3 UDP at a steady 100 Mbit/s
 * with its default datagram size (the loss the receiver counts, in %), and
 * the CPU seconds the PeerTap processes spent per GB delivered (during the
 * one-stream TCP test; in the relay scenario also the relay's own share,
 * `relay_cpu_s_per_gb`). With several runs, each figure is the median. For
 * the PeerTap rows over the datagram link also `flaps`: how many times a
 * validated datagram path was lost during the iperf3 tests (the
 * `pathLosses` of every datagram link of a, b and, in the relay scenario,
 * R, from their status APIs; each side counts its own switches to the
 * stream link), summed over the runs, not a median. Prints a table, or with
 * --json one JSON object per system and transport.
 *
 * Scenarios: `direct`, A and B on one bridge; `relay`, A and B on isolated
 * bridge ports that reach only R (as two NAT'd peers would), PeerTap through
 * `peertap-relay` in R (the CPU figure includes the relay's), beside the
 * kernel's ceiling for that path, `bare/routed`: R as a plain IP router.
 *
 * Transport `udp`: the datagram link (docs/spec/13-datagram-link.md) beside
 * TCP stream links, with the node's defaults (TAP MTU 1377, offloads on),
 * on the batched UDP socket (recvmmsg/sendmmsg, the tap addon); `udp-dgram`
 * the same on node:dgram (one system call per datagram). Frames larger than
 * the path MTU are split to fit it, and TCP GSO frames go as `--large-gso`
 * says (docs/spec/10-switch.md §10.7; default the node's, whole on the
 * stream link; with several, each is a transport of its own, `udp-segment`,
 * `udp-stream`, `udp-fragment`). Relays run the datagram link too.
 *
 * `--loss PCT` drops that share of the packets the underlay bridge forwards
 * (nftables `numgen random` in the switch namespace; every host's `eth0`,
 * R's too, set to one segment per GSO packet, so each loss is one
 * wire-sized packet), once the path under test is up, for every system in
 * both scenarios: the bare underlay and `bare/routed`, PeerTap and fastd,
 * direct and through R. Through R every packet crosses the bridge twice (A
 * to R, R to B, the isolated ports reach only R), and each crossing loses
 * PCT % on its own, as two lossy legs would: about twice PCT end to end.
 * `--aes` sets the nodes' AES implementation (config `aes`:
 * the tap addon's OpenSSL contexts, or node:crypto); with several, each is a
 * variant of its own (`tcp-aes-node`, ...), interleaved like the rest.
 * `--delay MS` (direct scenario and bare underlay) puts a delay line of MS
 * milliseconds each way between host b and the bridge (wan.ts: a userspace
 * forwarder between two TAPs, since this kernel has no netem), inserted
 * before the nodes start so that their connections are made on the longer
 * path; with `--loss` the delay line drops that share of frames at random
 * in each direction, instead of the bridge rule (the relay scenario, which
 * has no delay line, keeps the bridge rule). The delay line is a
 * JavaScript process that copies every frame: it, not PeerTap, bounds
 * clean-path figures under `--delay` (a few hundred Mbit/s here).
 *
 * `--port tun` gives both nodes a TUN port instead of a TAP (config
 * `port.type: 'tun'`, layer 2 emulated in user space by @peertap/tun-l2,
 * docs/spec/17-tun-l2.md; its MAC derived, the harness's addresses, the same
 * MTU and offloads); `--port tap,tun` measures both, each transport's TAP
 * and TUN pairs one after the other in every run, like the other variants.
 * Each row says its port (`port` in JSON, a column in the table; null for
 * the bare underlay; fastd's is its TAP).
 *
 * `--fast-path off` runs the nodes and the relay with config `fastPath:
 * false` (docs/spec/18-fast-path.md: every frame through the switch and the
 * table, as before the fast path); `--fast-path on,off` measures both, each
 * a variant of its own (`udp`, `udp-nofast`), interleaved like the rest.
 * Default: the daemons' default, on.
 *
 * `--compare fastd` measures Debian's fastd (a VPN daemon in C, Ethernet
 * over UDP) the same way in each scenario, as system `fastd`, transport
 * `udp` (direct, b dialling a) and `fastd/relay` (a and b each dialling a
 * fastd hub in R that forwards between them), interleaved with PeerTap's
 * runs, under the same `--loss` and `--delay`: fastd.ts says how it is
 * configured (method salsa2012+umac, TAP mode, PeerTap's MTU) and why.
 * fastd comes from tools/toolchain/system-tools.sh, which the bench runs
 * when fastd is missing (Debian package; root).
 */
import { readFile } from 'node:fs/promises'
import { DEFAULT_PORT_MTU } from '@peertap/node'
import { rootAndTun, Topology } from '@peertap/tool-netns'
import type { Overlay, RelayHost, Transport } from '@peertap/tool-overlay'
import { ensureFastd, FASTD_METHOD, type FastdOverlay, fastdMtu, startFastd } from './fastd.ts'
import { datagramOptions, type Hosts, startPeertap, warmUp } from './peertap-path.ts'
import { routedTopology } from './routed.ts'
import { type DelayLine, insertDelayLine } from './wan.ts'

/** A node's VLAN port: a TAP device, or a TUN device with layer 2 in user space. */
type PortKind = 'tap' | 'tun'

interface Result {
  system: string
  transport: string
  scenario: string
  /** The nodes' VLAN port (fastd's TAP); null for the bare underlay. */
  port: PortKind | null
  rtt_ms_min: number
  rtt_ms_avg: number
  rtt_ms_p99: number
  /** The same, back to back (`ping -A`). */
  b2b_ms_min: number
  b2b_ms_avg: number
  b2b_ms_p99: number
  tcp_mbps: number
  tcp4_mbps: number
  udp64_pps: number
  /** CPU microseconds the PeerTap processes (as cpu_s_per_gb) spent per 64-byte packet delivered. */
  cpu_us_per_64b: number | null
  /** Datagrams lost at a steady 100 Mbit/s (iperf3 -u -b 100M, default length), in %. */
  udp100_loss_pct: number
  cpu_s_per_gb: number | null
  /** The relay process's own share of that (relay scenario only). */
  relay_cpu_s_per_gb: number | null
  /**
   * Datagram paths lost during the iperf3 tests (`pathLosses` of the nodes'
   * and the relay's datagram links), summed over the runs; null without a
   * datagram link.
   */
  flaps: number | null
}

const args = process.argv.slice(2)
const flag = (name: string) => args.includes(name)
const option = (name: string) => {
  const i = args.indexOf(name)
  return i >= 0 ? args[i + 1] : undefined
}
const quick = flag('--quick')
const json = flag('--json')
const runs = Number(option('--runs') ?? (quick ? 1 : 3))
const seconds = quick ? 2 : 5
const transports = (option('--transports') ?? 'tcp,quic,ws').split(',') as BenchTransport[]
/** direct: A and B on one bridge; relay: A and B reach only R (beside R as a plain IP router). */
const scenarios = (option('--scenarios') ?? 'direct,relay').split(',') as Array<'direct' | 'relay'>
/** Share of the packets the underlay bridge forwards that it drops, in % (every scenario). */
const lossPct = Number(option('--loss') ?? 0)
/** One-way delay in ms added to the direct path by a delay line (0: none). */
const delayMs = Number(option('--delay') ?? 0)
/** TAP MTU of every overlay; default the node's (DEFAULT_PORT_MTU, 1377). */
const mtuOption = option('--mtu')
const overlayMtu = Number(mtuOption ?? DEFAULT_PORT_MTU)
/** TAP offloads of every overlay: default on (the node's default). */
const offloadOption = option('--offload')
/** The nodes' datagram.largeGso: what TCP GSO frames too large for a datagram path become. */
type LargeGso = 'segment' | 'fragment' | 'stream'
const largeGsoOptions = option('--large-gso')?.split(',') as LargeGso[] | undefined
/** The nodes' `aes`: the tap addon's OpenSSL contexts or node:crypto (default: the node's, auto). */
type Aes = 'addon' | 'node'
const aesOptions = option('--aes')?.split(',') as Aes[] | undefined
/** The daemons' `fastPath` measured (default: theirs, on). */
const fastPathOptions = option('--fast-path')?.split(',')
for (const f of fastPathOptions ?? [])
  if (f !== 'on' && f !== 'off') throw new Error(`--fast-path ${f}: on or off`)
/** Other overlays measured beside PeerTap in the same run and topologies (fastd.ts). */
const compare = option('--compare')?.split(',') ?? []
for (const other of compare)
  if (other !== 'fastd') throw new Error(`--compare ${other}: only fastd is known`)
const compareFastd = compare.includes('fastd')
/** The nodes' VLAN ports measured, each transport with each (default the TAP alone). */
const ports = (option('--port') ?? 'tap').split(',') as PortKind[]
for (const port of ports)
  if (port !== 'tap' && port !== 'tun') throw new Error(`--port ${port}: tap or tun`)
/** Transport `udp` is the datagram link beside TCP stream links; `udp-dgram` on node:dgram. */
type BenchTransport = Transport | 'udp' | 'udp-dgram'
interface Variant {
  transport: BenchTransport
  label: string
  largeGso?: LargeGso
  aes?: Aes
  fastPath?: boolean
  port: PortKind
}
/** Each transport measured, with the largeGso of the datagram ones (undefined: the node's default). */
const variants: Variant[] = transports
  .flatMap(
    (transport): Array<Omit<Variant, 'port'>> =>
      !transport.startsWith('udp') || largeGsoOptions === undefined
        ? [{ transport, label: transport }]
        : largeGsoOptions.map((largeGso) => ({
            transport,
            label: largeGsoOptions.length > 1 ? `${transport}-${largeGso}` : transport,
            largeGso,
          })),
  )
  .flatMap(
    (v): Array<Omit<Variant, 'port'>> =>
      aesOptions === undefined
        ? [v]
        : aesOptions.map((aes) => ({
            ...v,
            label: aesOptions.length > 1 ? `${v.label}-aes-${aes}` : v.label,
            aes,
          })),
  )
  .flatMap(
    (v): Array<Omit<Variant, 'port'>> =>
      fastPathOptions === undefined
        ? [v]
        : fastPathOptions.map((f) => ({
            ...v,
            label: f === 'off' ? `${v.label}-nofast` : v.label,
            fastPath: f === 'on',
          })),
  )
  // The port innermost: a transport's TAP and TUN pairs run back to back.
  .flatMap((v): Variant[] => ports.map((port) => ({ ...v, port })))
/** A variant's key among the runs: its label and its port. */
const variantKey = (v: Variant) => `${v.label}/${v.port}`

/**
 * Drops `lossPct` % of the packets the underlay bridge forwards (docs/facts.md §6:
 * no netem here). The rule counts what crosses the bridge, and a veth hands
 * it a TCP socket's GSO packets of up to 64 KiB whole (and a UDP socket's
 * GSO runs), so first the `eth0` of each host in `names` (every host on the
 * bridge: R forwards too) is set to one segment per packet (`gso_max_segs
 * 1`, the kernel splits larger ones before the veth): a loss then takes one
 * wire-sized packet, as on a real path, not a run of 45. Through R a packet
 * crosses the bridge twice, A to R and R to B, each a loss of its own.
 * `delayLine`: the path has a delay line, which drops frames itself.
 */
async function impair(hosts: Hosts, names: readonly string[], delayLine: boolean): Promise<void> {
  if (lossPct <= 0 || delayLine) return
  for (const host of names)
    await hosts.exec(host, ['ip', 'link', 'set', 'dev', 'eth0', 'gso_max_segs', '1'])
  const permille = Math.round(lossPct * 10)
  await hosts.exec('sw', [
    'nft',
    `add table bridge ptloss { chain c { type filter hook forward priority 0; policy accept; numgen random mod 1000 < ${permille} drop; }; }`,
  ])
}

/** Echoes paced every 10 ms (`-i 0.01`), or back to back (`-A`: one in flight at a time). */
async function ping(
  hosts: Hosts,
  address: string,
  pacing: 'paced' | 'back-to-back' = 'paced',
): Promise<{ min: number; avg: number; p99: number }> {
  const count = pacing === 'paced' ? (quick ? '30' : '200') : quick ? '100' : '1000'
  const mode = pacing === 'paced' ? ['-i', '0.01'] : ['-A']
  const out = await hosts.exec('a', ['ping', '-c', count, ...mode, '-W', '2', address], 60_000)
  const times = [...out.matchAll(/time=([\d.]+) ms/g)]
    .map((m) => Number(m[1]))
    .sort((x, y) => x - y)
  if (times.length === 0) throw new Error(`no ping replies from ${address}`)
  return {
    min: times[0]!,
    avg: times.reduce((s, t) => s + t, 0) / times.length,
    p99: times[Math.min(times.length - 1, Math.floor(times.length * 0.99))]!,
  }
}

/** The parts of iperf3's JSON report the bench reads. */
interface IperfReport {
  end: {
    sum_received: { bytes: number; bits_per_second: number }
    sum: { packets: number; lost_packets: number; seconds: number }
  }
}

/** Lost datagrams in % of those sent, as the iperf3 server counted them. */
function lossPercent(report: IperfReport): number {
  const { packets, lost_packets } = report.end.sum
  return packets > 0 ? (100 * lost_packets) / packets : 100
}

/**
 * One iperf3 test. Under `--loss`, a UDP test whose first datagram (iperf3's
 * UDP "connect") is lost hangs until the timeout, as iperf3 never sends it
 * again: such a test is tried up to three times, and says so.
 */
async function iperf(hosts: Hosts, address: string, extra: string[]): Promise<IperfReport> {
  const attempts = lossPct > 0 ? 3 : 1
  for (let attempt = 1; ; attempt++) {
    const server = hosts.spawn('b', ['iperf3', '-s', '-1', '-B', address])
    try {
      await new Promise((r) => setTimeout(r, 300))
      const out = await hosts.exec(
        'a',
        ['iperf3', '-c', address, '-t', String(seconds), '-J', ...extra],
        (seconds + 10) * 1000,
      )
      return JSON.parse(out) as IperfReport
    } catch (error) {
      if (attempt >= attempts) throw error
      console.error(`iperf3 ${extra.join(' ')} failed under --loss, again (${attempt}/${attempts})`)
    } finally {
      if (server.exitCode === null) server.kill('SIGTERM')
      await new Promise((r) => setTimeout(r, 200))
    }
  }
}

async function cpuSeconds(pids: number[]): Promise<number> {
  let ticks = 0
  for (const pid of pids) {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    ticks += Number(fields[11]) + Number(fields[12]) // utime, stime (fields 14 and 15)
  }
  return ticks / 100 // USER_HZ is 100 on Linux
}

/**
 * `pathLosses` of every datagram link the path's PeerTap processes report,
 * keyed by process and neighbour (a link made anew starts from 0).
 */
type PathLosses = () => Promise<Map<string, number>>

async function measure(
  hosts: Hosts,
  address: string,
  pids: number[],
  relayPid?: number,
  pathLosses?: PathLosses,
): Promise<Omit<Result, 'system' | 'transport' | 'scenario' | 'port'>> {
  await warmUp(hosts, address)
  const rtt = await ping(hosts, address)
  const b2b = await ping(hosts, address, 'back-to-back')
  const lossesBefore = await pathLosses?.()
  const cpuBefore = pids.length > 0 ? await cpuSeconds(pids) : 0
  const relayBefore = relayPid === undefined ? 0 : await cpuSeconds([relayPid])
  const tcp = await iperf(hosts, address, [])
  const cpuAfter = pids.length > 0 ? await cpuSeconds(pids) : 0
  const relayAfter = relayPid === undefined ? 0 : await cpuSeconds([relayPid])
  const tcp4 = await iperf(hosts, address, ['-P', '4'])
  const cpuBeforeUdp = pids.length > 0 ? await cpuSeconds(pids) : 0
  const udp = await iperf(hosts, address, ['-u', '-l', '64', '-b', '100M'])
  const cpuAfterUdp = pids.length > 0 ? await cpuSeconds(pids) : 0
  // Steady 100 Mbit/s of full-size datagrams: iperf3 sizes them from the
  // control connection's MSS, so they fit the path MTU (no IP fragments).
  // The receiving socket gets 2 MiB (-w): an overlay hands frames over in
  // batches, and with the default 208 KiB an iperf3 descheduled for a few
  // milliseconds on this 2-core machine overflowed its own socket
  // (UdpRcvbufErrors) although every frame had crossed; the figure is meant
  // to count what the path loses. The same for every system.
  const udp100 = await iperf(hosts, address, ['-u', '-b', '100M', '-w', '2M'])
  const lossesAfter = await pathLosses?.()
  let flaps: number | null = null
  if (lossesBefore !== undefined && lossesAfter !== undefined) {
    flaps = 0
    for (const [key, after] of lossesAfter) {
      const before = lossesBefore.get(key) ?? 0
      flaps += after >= before ? after - before : after
    }
  }
  const received = tcp.end.sum_received.bytes
  const udpSum = udp.end.sum
  return {
    rtt_ms_min: rtt.min,
    rtt_ms_avg: rtt.avg,
    rtt_ms_p99: rtt.p99,
    b2b_ms_min: b2b.min,
    b2b_ms_avg: b2b.avg,
    b2b_ms_p99: b2b.p99,
    tcp_mbps: tcp.end.sum_received.bits_per_second / 1e6,
    tcp4_mbps: tcp4.end.sum_received.bits_per_second / 1e6,
    udp64_pps: (udpSum.packets - udpSum.lost_packets) / udpSum.seconds,
    cpu_us_per_64b:
      pids.length > 0
        ? ((cpuAfterUdp - cpuBeforeUdp) * 1e6) / Math.max(1, udpSum.packets - udpSum.lost_packets)
        : null,
    udp100_loss_pct: lossPercent(udp100),
    cpu_s_per_gb: pids.length > 0 ? (cpuAfter - cpuBefore) / (received / 1e9) : null,
    relay_cpu_s_per_gb:
      relayPid === undefined ? null : (relayAfter - relayBefore) / (received / 1e9),
    flaps,
  }
}

function median(results: Result[]): Result {
  const pick = <K extends keyof Result>(key: K) => {
    const values = results.map((r) => r[key] as number).sort((x, y) => x - y)
    return values[Math.floor(values.length / 2)]!
  }
  const first = results[0]!
  return {
    ...first,
    rtt_ms_min: pick('rtt_ms_min'),
    rtt_ms_avg: pick('rtt_ms_avg'),
    rtt_ms_p99: pick('rtt_ms_p99'),
    b2b_ms_min: pick('b2b_ms_min'),
    b2b_ms_avg: pick('b2b_ms_avg'),
    b2b_ms_p99: pick('b2b_ms_p99'),
    tcp_mbps: pick('tcp_mbps'),
    tcp4_mbps: pick('tcp4_mbps'),
    udp64_pps: pick('udp64_pps'),
    cpu_us_per_64b: first.cpu_us_per_64b === null ? null : pick('cpu_us_per_64b'),
    udp100_loss_pct: pick('udp100_loss_pct'),
    cpu_s_per_gb: first.cpu_s_per_gb === null ? null : pick('cpu_s_per_gb'),
    relay_cpu_s_per_gb: first.relay_cpu_s_per_gb === null ? null : pick('relay_cpu_s_per_gb'),
    // Every switch counts: the total over the runs, not a median.
    flaps: first.flaps === null ? null : results.reduce((sum, r) => sum + (r.flaps ?? 0), 0),
  }
}

async function main(): Promise<void> {
  const can = rootAndTun()
  if (!can.ok) {
    console.log(`tools/bench: skipped, it ${can.reason}`)
    return
  }
  if (compareFastd) await ensureFastd()
  const started = Date.now()
  const results: Result[] = []
  const bare: Result[] = []
  for (let run = 0; run < runs; run++) {
    const topo = await Topology.create({ hosts: ['a', 'b'] })
    let line: DelayLine | undefined
    try {
      if (delayMs > 0) line = await insertDelayLine(topo, delayMs, lossPct)
      await impair(topo, ['a', 'b'], line !== undefined)
      bare.push({
        system: 'bare',
        transport: 'veth',
        scenario: 'direct',
        port: null,
        ...(await measure(topo, topo.address('b'), [])),
      })
    } finally {
      await line?.stop()
      await topo.destroy()
    }
  }
  results.push(median(bare))
  if (scenarios.includes('relay')) {
    const routed: Result[] = []
    for (let run = 0; run < runs; run++) {
      const topo = await routedTopology()
      try {
        await impair(topo, ['a', 'b', 'r'], false)
        routed.push({
          system: 'bare',
          transport: 'veth',
          scenario: 'routed',
          port: null,
          ...(await measure(topo, topo.address('b'), [])),
        })
      } finally {
        await topo.destroy()
      }
    }
    results.push(median(routed))
  }
  for (const scenario of scenarios) {
    // Runs interleave the variants (run 1 of each, then run 2 of each, ...)
    // so that a slower minute on this shared machine hits all of them alike.
    const perRun = new Map<string, Result[]>(variants.map((v) => [variantKey(v), []]))
    const fastdRuns: Result[] = []
    for (let run = 0; run < runs; run++) {
      for (const variant of variants) {
        const { transport, label, largeGso, aes, port, fastPath } = variant
        let line: DelayLine | undefined
        const datagram = transport === 'udp' || transport === 'udp-dgram'
        const { overlay, relay } = await startPeertap(
          scenario,
          {
            ...(datagram ? datagramOptions(transport) : { transport: transport as Transport }),
            // UDP GSO stays on under --loss, as on a real host: impair() sets
            // every host's eth0 to one segment per packet, so the kernel splits
            // a GSO run into wire-sized datagrams before the veth (counted: eth0
            // sent as many packets as the link sent datagrams) and the bridge
            // rule loses them one by one; the delay line's TAP, without
            // offloads, takes them split too.
            mtu: overlayMtu,
            // TAP offloads, on as in the node's default config: large frames
            // cross a stream link whole, and a datagram path in pieces that fit.
            offload: offloadOption === undefined ? true : offloadOption === 'on',
            ...(largeGso === undefined ? {} : { largeGso }),
            ...(aes === undefined ? {} : { aes }),
            ...(fastPath === undefined ? {} : { fastPath }),
            // A TUN port with its derived MAC; the harness's addresses, MTU and offloads.
            ...(port === 'tun' ? { port: () => ({ type: 'tun' as const, mac: undefined }) } : {}),
            ...(scenario === 'direct' && delayMs > 0
              ? {
                  underlay: async (topo: Topology) => {
                    line = await insertDelayLine(topo, delayMs, lossPct)
                  },
                }
              : {}),
          },
          datagram,
        ).catch(async (error: unknown) => {
          await line?.stop()
          throw error
        })
        try {
          await impair(overlay.topo, overlay.topo.hosts, line !== undefined)
          // CPU of every PeerTap process on the path: both nodes, and the relay.
          const pids = [
            ...overlay.nodes.map((n) => n.pid),
            ...(relay === undefined ? [] : [relay.pid]),
          ]
          perRun.get(variantKey(variant))!.push({
            system: 'peertap',
            transport: label,
            scenario,
            port,
            ...(await measure(
              overlay.topo,
              overlay.node('b').ip,
              pids,
              relay?.pid,
              datagram ? () => pathLosses(overlay, relay) : undefined,
            )),
          })
        } finally {
          await overlay.stop()
          await line?.stop()
        }
      }
      if (compareFastd) fastdRuns.push(await measureFastd(scenario))
    }
    for (const v of variants) results.push(median(perRun.get(variantKey(v))!))
    if (compareFastd) results.push(median(fastdRuns))
  }
  if (json) {
    for (const r of results) console.log(JSON.stringify(r))
    return
  }
  const f = (n: number | null, digits = 0) => (n === null ? '-' : n.toFixed(digits))
  console.log(
    `PeerTap end-to-end bench: ${runs} run(s), ${seconds} s per iperf3 test, medians; ${((Date.now() - started) / 1000).toFixed(0)} s${lossPct > 0 ? `; ${lossPct} % loss per underlay bridge crossing${delayMs > 0 ? ' (direct: in the delay line)' : ''}` : ''}${delayMs > 0 ? `; ${delayMs} ms each way through a delay line (direct)` : ''}${compareFastd ? `; fastd: ${FASTD_METHOD}, TAP mode, MTU ${fastdMtu(overlayMtu)}` : ''}`,
  )
  console.log(
    'system         transport    port  rtt min/avg/p99 ms     b2b min/avg/p99 ms     tcp Mbit/s  tcp x4 Mbit/s  udp64 pps  us/64B  udp100 loss %   CPU s/GB  relay s/GB  flaps',
  )
  for (const r of results) {
    console.log(
      `${(r.scenario === 'direct' ? r.system : `${r.system}/${r.scenario}`).padEnd(14)} ${r.transport.padEnd(12)} ${(r.port ?? '-').padEnd(5)} ${`${f(r.rtt_ms_min, 3)}/${f(r.rtt_ms_avg, 3)}/${f(r.rtt_ms_p99, 3)}`.padEnd(22)} ${`${f(r.b2b_ms_min, 3)}/${f(r.b2b_ms_avg, 3)}/${f(r.b2b_ms_p99, 3)}`.padEnd(22)} ${f(r.tcp_mbps).padStart(10)} ${f(r.tcp4_mbps).padStart(14)} ${f(r.udp64_pps).padStart(10)} ${f(r.cpu_us_per_64b, 1).padStart(7)} ${f(r.udp100_loss_pct, 2).padStart(14)} ${f(r.cpu_s_per_gb, 1).padStart(10)} ${f(r.relay_cpu_s_per_gb, 1).padStart(11)} ${f(r.flaps).padStart(6)}`,
    )
  }
}

/**
 * One run of fastd in a scenario (fastd.ts), set up as PeerTap's overlays
 * are: the delay line inserted before fastd starts, the loss rule once it
 * is up (both scenarios; direct under --delay the delay line's loss), the
 * CPU of every fastd process on the path counted, the hub's own share as
 * the relay's.
 */
async function measureFastd(scenario: 'direct' | 'relay'): Promise<Result> {
  let line: DelayLine | undefined
  let fastd: FastdOverlay | undefined
  try {
    fastd = await startFastd({
      scenario,
      mtu: overlayMtu,
      ...(scenario === 'direct' && delayMs > 0
        ? {
            underlay: async (topo: Topology) => {
              line = await insertDelayLine(topo, delayMs, lossPct)
            },
          }
        : {}),
    })
    await impair(fastd.topo, fastd.topo.hosts, line !== undefined)
    return {
      system: 'fastd',
      transport: 'udp',
      scenario,
      port: 'tap',
      ...(await measure(fastd.topo, fastd.address('b'), fastd.pids, fastd.relayPid)),
    }
  } finally {
    await fastd?.stop()
    await line?.stop()
  }
}

/**
 * The `pathLosses` of every datagram link of the overlay's nodes and of its
 * relay (packages/trunk DatagramLink counters), keyed `host/neighbour`.
 */
async function pathLosses(overlay: Overlay, relay?: RelayHost): Promise<Map<string, number>> {
  const losses = new Map<string, number>()
  const note = (
    host: string,
    neighbours: ReadonlyArray<{ id: string; counters: Record<string, number> }>,
  ) => {
    for (const n of neighbours) {
      const lost = n.counters.pathLosses
      if (typeof lost === 'number') losses.set(`${host}/${n.id}`, lost)
    }
  }
  for (const node of overlay.nodes) note(node.host, (await overlay.status(node.host)).neighbours)
  if (relay !== undefined) note(relay.host, (await relay.status()).neighbours)
  return losses
}

await main()
