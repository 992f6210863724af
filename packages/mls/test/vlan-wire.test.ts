// The MLS VLAN wire layouts (docs/spec/11-mls.md §11.2, §11.3, §11.6):
// the vectors of test/vectors/mls-control.json (written from the spec's
// layouts by generate-mls-control.ts, not from src/), round trips, and
// malformed input, which decoders answer with a stable reason, never a throw.
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import {
  decodeAdmissionRecord,
  decodeKeyPackageRecord,
  decodeMlsControl,
  decodeVlanControl,
  encodeAdmissionRecord,
  encodeKeyPackageRecord,
  encodeMlsControl,
  encodeVlanControl,
  type MlsControlChannel,
  type MlsControlMessage,
  MlsError,
  mlsControlChannelOf,
  type VlanControlMessage,
  WIRE_ERROR_REASONS,
} from '../src/index.ts'

const bytes = (h: string) => new Uint8Array(Buffer.from(h, 'hex'))
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')

interface Vector {
  name: string
  layer: 'control' | 'vlan'
  channel?: MlsControlChannel
  message?: Record<string, unknown>
  bytes: string
  error?: string
}
const vectors = JSON.parse(
  readFileSync(new URL('./vectors/mls-control.json', import.meta.url), 'utf8'),
) as { channels: Record<string, number>; valid: Vector[]; invalid: Vector[] }

/** A vector's message with bytes and integers as the codec takes them. */
function fromJson(m: Record<string, unknown>): MlsControlMessage | VlanControlMessage {
  const out: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(m)) {
    if (key === 'type' || key === 'leafIndex') out[key] = value
    else if (key === 'since' || key === 'epoch') out[key] = BigInt(value as string)
    else if (key === 'bundles') out[key] = (value as string[]).map(bytes)
    else out[key] = bytes(value as string)
  }
  return out as unknown as MlsControlMessage | VlanControlMessage
}

const decode = (v: Vector) =>
  v.layer === 'control'
    ? decodeMlsControl(v.channel!, bytes(v.bytes))
    : decodeVlanControl(bytes(v.bytes))

describe('vectors (mls-control.json)', () => {
  it('covers every channel role, sub-type and in-VLAN type, and every error reason but records', () => {
    const types = new Set(vectors.valid.map((v) => v.message!.type))
    expect([...types].sort()).toEqual(
      [
        'key-package',
        'welcome',
        'catch-up-request',
        'catch-up-answer',
        'catch-up-commit',
        'proposal',
        'lease',
        'commit',
        'ack',
        'switch',
      ].sort(),
    )
    const reasons = new Set(vectors.invalid.map((v) => v.error))
    expect([...reasons].sort()).toEqual(WIRE_ERROR_REASONS.filter((r) => r !== 'bad-record').sort())
    expect(vectors.channels).toEqual({
      'key-package': 1,
      welcome: 2,
      'catch-up': 3,
      proposal: 5,
      lease: 6,
    })
  })

  it.each(vectors.valid.map((v) => [v.name, v] as const))('valid: %s', (_, v) => {
    const message = fromJson(v.message!)
    const decoded = decode(v)
    expect(decoded.ok).toBe(true)
    if (!decoded.ok) return
    expect(decoded.message).toEqual(message)
    if (v.layer === 'control') {
      expect(hex(encodeMlsControl(message as MlsControlMessage))).toBe(v.bytes)
      expect(mlsControlChannelOf(message as MlsControlMessage)).toBe(v.channel)
    } else {
      expect(hex(encodeVlanControl(message as VlanControlMessage))).toBe(v.bytes)
    }
  })

  it.each(vectors.invalid.map((v) => [v.name, v] as const))('invalid: %s', (_, v) => {
    const decoded = decode(v)
    expect(decoded.ok).toBe(false)
    if (decoded.ok) return
    expect(decoded.error.reason).toBe(v.error)
    expect(decoded.error.detail.length).toBeGreaterThan(0)
  })
})

describe('CONTROL and in-VLAN messages', () => {
  const vlanId = new Uint8Array(32).fill(9)
  const bundle = new Uint8Array(40).fill(0xab)

  it('decodes every prefix of a valid message to an error, never a throw or a wrong message', () => {
    for (const v of vectors.valid) {
      const whole = bytes(v.bytes)
      for (let n = 0; n < whole.length; n++) {
        const cut = whole.subarray(0, n)
        const d = v.layer === 'control' ? decodeMlsControl(v.channel!, cut) : decodeVlanControl(cut)
        // Opaque tails may be cut and still decode (they are judged later), as a shorter field.
        if (d.ok) expect(hex(encodeAny(d.message))).toBe(hex(cut))
      }
    }
  })

  it('never throws on random bytes', () => {
    let seed = 1
    const random = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff
      return seed
    }
    for (let i = 0; i < 2000; i++) {
      const input = Uint8Array.from({ length: random() % 80 }, () => random() & 255)
      if (input.length > 0 && i % 2 === 0) input[0] = 1 + (i % 3)
      for (const channel of ['key-package', 'welcome', 'catch-up', 'proposal', 'lease'] as const)
        expect(() => decodeMlsControl(channel, input)).not.toThrow()
      expect(() => decodeVlanControl(input)).not.toThrow()
    }
  })

  it('returns copies: the decoded fields do not alias the input', () => {
    const payload = encodeMlsControl({ type: 'proposal', vlanId, proposal: bundle })
    const d = decodeMlsControl('proposal', payload)
    payload.fill(0)
    expect(d.ok && d.message.type === 'proposal' && d.message.proposal).toEqual(bundle)
  })

  it('round-trips an answer with many bundles', () => {
    const bundles = Array.from({ length: 300 }, (_, i) => new Uint8Array(1 + (i % 17)).fill(i))
    const payload = encodeMlsControl({ type: 'catch-up-answer', vlanId, bundles })
    expect(decodeMlsControl('catch-up', payload)).toEqual({
      ok: true,
      message: { type: 'catch-up-answer', vlanId, bundles },
    })
  })

  it('refuses to encode what no decoder accepts (mls-malformed)', () => {
    const bad: (() => Uint8Array)[] = [
      () => encodeMlsControl({ type: 'welcome', vlanId: new Uint8Array(31), welcome: bundle }),
      () => encodeMlsControl({ type: 'lease', vlanId, lease: new Uint8Array(0) }),
      () => encodeMlsControl({ type: 'catch-up-request', vlanId, since: -1n }),
      () => encodeMlsControl({ type: 'catch-up-request', vlanId, since: 1n << 64n }),
      () => encodeMlsControl({ type: 'catch-up-answer', vlanId, bundles: [] }),
      () =>
        encodeMlsControl({
          type: 'catch-up-answer',
          vlanId,
          bundles: Array.from({ length: 65536 }, () => bundle),
        }),
      () => encodeMlsControl({ type: 'catch-up-commit', vlanId, bundle: new Uint8Array(0) }),
      () => encodeVlanControl({ type: 'commit', bundle: new Uint8Array(0) }),
      () => encodeVlanControl({ type: 'ack', epoch: 1n, leafIndex: 2 ** 32 }),
      () => encodeVlanControl({ type: 'ack', epoch: 1n, leafIndex: 1.5 }),
      () => encodeVlanControl({ type: 'switch', epoch: 1n << 64n }),
    ]
    for (const f of bad) {
      expect(f).toThrow(MlsError)
      try {
        f()
      } catch (error) {
        expect((error as MlsError).code).toBe('mls-malformed')
      }
    }
  })
})

function encodeAny(m: MlsControlMessage | VlanControlMessage): Uint8Array {
  return 'vlanId' in m ? encodeMlsControl(m) : encodeVlanControl(m)
}

describe('records beside the group record (§11.6)', () => {
  it('key-package record: round trip, the cleared record, and defects', () => {
    const record = { keyPackage: new Uint8Array([1, 2, 3]), secret: new Uint8Array([4, 5]) }
    const stored = encodeKeyPackageRecord(record)
    expect(hex(stored)).toBe('000000030102030405')
    expect(decodeKeyPackageRecord(stored)).toEqual({ ok: true, message: record })
    expect(encodeKeyPackageRecord(undefined)).toEqual(new Uint8Array(0))
    expect(decodeKeyPackageRecord(new Uint8Array(0))).toEqual({ ok: true, message: undefined })
    const reason = (h: string) => {
      const d = decodeKeyPackageRecord(bytes(h))
      return d.ok ? 'ok' : d.error.reason
    }
    expect(reason('000000')).toBe('truncated')
    expect(reason('0000000001')).toBe('empty')
    expect(reason('0000000401020304')).toBe('empty')
    expect(reason('00000005010203')).toBe('truncated')
    expect(() =>
      encodeKeyPackageRecord({ keyPackage: new Uint8Array(0), secret: oneByte() }),
    ).toThrow(MlsError)
  })

  it('admission record: round trip with and without the epoch, and defects', () => {
    const plain = { added: ['a'], removed: ['b', 'c'] }
    const at = { ...plain, at: { epoch: 4, members: ['00aa', '00bb'] } }
    expect(new TextDecoder().decode(encodeAdmissionRecord(at))).toBe(
      '{"added":["a"],"removed":["b","c"],"epoch":4,"members":["00aa","00bb"]}',
    )
    expect(decodeAdmissionRecord(encodeAdmissionRecord(at))).toEqual({ ok: true, message: at })
    expect(decodeAdmissionRecord(encodeAdmissionRecord(plain))).toEqual({
      ok: true,
      message: plain,
    })
    const reason = (text: string) => {
      const d = decodeAdmissionRecord(new TextEncoder().encode(text))
      return d.ok ? 'ok' : d.error.reason
    }
    expect(reason('{"added":[],"removed":[]')).toBe('bad-record')
    expect(reason('null')).toBe('bad-record')
    expect(reason('{"added":[1],"removed":[]}')).toBe('bad-record')
    expect(reason('{"added":[],"removed":[],"epoch":-1,"members":[]}')).toBe('bad-record')
    expect(reason('{"added":[],"removed":[],"epoch":1,"members":[2]}')).toBe('bad-record')
    // An epoch without members is ignored, as before the codec.
    expect(reason('{"added":[],"removed":[],"epoch":1}')).toBe('ok')
    expect(decodeAdmissionRecord(new Uint8Array([0xff]))).toMatchObject({ ok: false })
  })
})

function oneByte(): Uint8Array {
  return new Uint8Array([1])
}
