import { execFileSync } from 'node:child_process'
import { afterEach, describe, expect, it } from 'vitest'
import {
  openTap,
  openTun,
  parseDevMcast,
  parseIgmp,
  parseIgmp6,
  type TapDevice,
  tapErrorFromSystem,
} from '../src/index.ts'
import { canRun, child, devName, linkExists, nodeArgs } from './helpers.ts'

const has = (cmd: string): boolean => {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

const opened: TapDevice[] = []
afterEach(() => {
  for (const d of opened.splice(0)) d.close()
})

describe.skipIf(!canRun)('typed errors from real failures', () => {
  it('device-busy: the same device opened twice (no multi-queue)', () => {
    const name = devName('bz')
    opened.push(openTap({ name }))
    expect(() => openTap({ name })).toThrow(
      expect.objectContaining({
        name: 'TapError',
        code: 'device-busy',
        device: name,
        syscall: 'TUNSETIFF',
      }),
    )
    expect(() => openTap({ name })).toThrow(/already open/)
    // The first handle is unharmed.
    expect(opened[0]?.link().name).toBe(name)
  })

  it('name-taken: the name belongs to an interface of another kind', () => {
    const name = devName('ex')
    opened.push(openTun({ name }))
    expect(() => openTap({ name })).toThrow(
      expect.objectContaining({ code: 'name-taken', device: name }),
    )
  })

  const setprivReason = has('setpriv') ? undefined : 'setpriv (util-linux) is missing'
  if (setprivReason !== undefined) console.log(`permission-denied test skipped: ${setprivReason}`)
  it.skipIf(setprivReason !== undefined)(
    'permission-denied: a process without CAP_NET_ADMIN',
    async () => {
      const name = devName('pm')
      // Root, but with CAP_NET_ADMIN dropped from the bounding set: exec gives
      // it no longer, so TUNSETIFF may not create the device.
      const r = await child('setpriv', [
        '--bounding-set=-net_admin',
        '--inh-caps=-net_admin',
        process.execPath,
        ...nodeArgs('device-child.ts', 'open', name),
      ])
      expect(r.code).toBe(0)
      const out = JSON.parse(r.stdout.trim())
      expect(out).toMatchObject({ ok: false, code: 'permission-denied' })
      expect(out.message).toMatch(/CAP_NET_ADMIN/)
      expect(linkExists(name)).toBe(false)
    },
  )

  const unshareReason = has('unshare') ? undefined : 'unshare (util-linux) is missing'
  if (unshareReason !== undefined) console.log(`tun-missing test skipped: ${unshareReason}`)
  it.skipIf(unshareReason !== undefined)(
    'tun-missing: no /dev/net/tun (hidden in a private mount namespace)',
    async () => {
      // A child in its own mount namespace mounts an empty tmpfs over
      // /dev/net; the machine's /dev/net/tun is untouched.
      const script = 'mount -t tmpfs none /dev/net && exec "$0" "$@"'
      const r = await child('unshare', [
        '--mount',
        '--propagation',
        'private',
        'sh',
        '-c',
        script,
        process.execPath,
        ...nodeArgs('device-child.ts', 'open', devName('nt')),
      ])
      expect(r.stderr).toBe('')
      const out = JSON.parse(r.stdout.trim())
      expect(out).toMatchObject({ ok: false, code: 'tun-missing' })
      expect(out.message).toMatch(/modprobe tun/)
    },
  )
})

describe('the errno mapping (pure)', () => {
  // The failures a test cannot cause safely on a shared machine (an unloaded
  // driver, a device node without a driver) map by errno and system call.
  const map = (errno: number, syscall: string) =>
    tapErrorFromSystem({ errno, syscall }, 'open', 'pt0', '/dev/net/tun')

  it('maps open(/dev/net/tun) failures', () => {
    expect(map(2, 'open').code).toBe('tun-missing') // ENOENT: no node
    expect(map(19, 'open').code).toBe('tun-missing') // ENODEV: node, no driver
    expect(map(6, 'open').code).toBe('tun-missing') // ENXIO
    expect(map(13, 'open').code).toBe('permission-denied') // EACCES: mode 0600, not root
    expect(map(2, 'open').errno).toBe('ENOENT')
  })

  it('maps TUNSETIFF and link ioctl failures', () => {
    expect(map(1, 'TUNSETIFF').code).toBe('permission-denied')
    expect(map(16, 'TUNSETIFF').code).toBe('device-busy')
    expect(map(22, 'TUNSETIFF').code).toBe('name-taken')
    expect(map(19, 'SIOCSIFMTU').code).toBe('no-device')
    expect(map(77, 'read').code).toBe('no-device') // EBADFD
    expect(map(22, 'SIOCSIFMTU').code).toBe('invalid-argument')
    const other = map(28, 'write') // ENOSPC: nothing specific
    expect(other.code).toBe('system-error')
    expect(other.message).toContain('ENOSPC')
    expect(other.syscall).toBe('write')
  })
})

describe('parseIgmp, parseIgmp6 (pure)', () => {
  it("keeps one device's groups as address bytes", () => {
    // /proc/net/igmp as this machine's kernel writes it (igmp_mc_seq_show), a TUN device with two groups.
    const igmp = [
      'Idx\tDevice    : Count Querier\tGroup    Users Timer\tReporter',
      '1\tlo        :     1      V3',
      '\t\t\t\t010000E0     1 0:00000000\t\t0',
      '2\tpttun0    :     2      V3',
      '\t\t\t\tFB0000E0     1 0:00000000\t\t0',
      '\t\t\t\t010000E0     1 0:00000000\t\t0',
    ].join('\n')
    expect(parseIgmp(igmp, 'pttun0').map((g) => g.join('.'))).toEqual(['224.0.0.251', '224.0.0.1'])
    expect(parseIgmp(igmp, 'pt9')).toEqual([])
    // A name of 10 bytes or more: the kernel's `%-10s:` leaves no space before the colon.
    const long = ['3\tpt-office-lan:     1      V3', '\t\t\t\tFB0000E0     1 0:00000000\t\t0'].join(
      '\n',
    )
    expect(parseIgmp(long, 'pt-office-lan').map((g) => g.join('.'))).toEqual(['224.0.0.251'])
    const igmp6 = [
      '1    lo              ff020000000000000000000000000001     1 0000000C 0',
      '2    pttun0          ff0200000000000000000000000000fb     1 00000004 0',
    ].join('\n')
    expect(parseIgmp6(igmp6, 'pttun0').map((g) => Buffer.from(g).toString('hex'))).toEqual([
      'ff0200000000000000000000000000fb',
    ])
  })
})

describe('parseDevMcast (pure)', () => {
  it('keeps one device, in kernel order, as colon MACs', () => {
    // Format of net/core/dev_addr_lists.c dev_mc_seq_show: "%-4d %-15s %-5d %-5d %*phN".
    const text = [
      '2    eth0            1     0     333300000001',
      '9    pt0             1     0     01005e000001',
      '9    pt0             2     1     333300000142',
      '10   pt01            1     0     01005e7f0042',
    ].join('\n')
    expect(parseDevMcast(text, 'pt0')).toEqual([
      { ifindex: 9, mac: '01:00:5e:00:00:01', users: 1, global: false },
      { ifindex: 9, mac: '33:33:00:00:01:42', users: 2, global: true },
    ])
    expect(parseDevMcast(text, 'pt9')).toEqual([])
  })
})
