// One invitation from code to verdict, both ends in one process.
// Run from the repository root:
//   node --conditions=peertap:source packages/invite/examples/join.ts
import { deriveHpkeKeyPair } from '@peertap/crypto'
import {
  decodeInvitationCode,
  decodeJoinVerdict,
  encodeJoinVerdict,
  formatIpv6,
  formatUlaPrefix,
  InvitationBook,
  Ipv4Pool,
  issueInvitation,
  JoinDoor,
  openJoinRequest,
  sealJoinRequest,
  ulaAddress,
  verdictMessage,
} from '@peertap/invite'

const hex = (s: string) => Uint8Array.from(Buffer.from(s, 'hex'))
const owner = hex(`002408011220${'11'.repeat(32)}`) // Ed25519 PeerIds: 00 24 08 01 12 20 ‖ key
const joiner = hex(`002408011220${'22'.repeat(32)}`)
const ownerKeys = await deriveHpkeKeyPair(new Uint8Array(32).fill(7)) // from a seed in the state dir
const now = Math.floor(Date.now() / 1000)

// Owner: `peertap vlan invite lab` issues a one-use code, valid 24 hours.
const book = new InvitationBook()
const pool = Ipv4Pool.parse('10.77.0.0/24')
pool.reserve(Buffer.from(owner).toString('hex'), '10.77.0.1')
const { code, id } = issueInvitation({
  book,
  owner,
  name: 'lab',
  ownerHpkeKey: ownerKeys.publicKey,
  addresses: ['/ip4/192.0.2.7/tcp/7400'],
  now,
})
console.log(`code (${code.length} characters, id ${id}):\n${code}\n`)

// Joiner: a typo is caught before any traffic.
const typo = `${code.slice(0, 40)}${code[40] === 'a' ? 'b' : 'a'}${code.slice(41)}`
const bad = decodeInvitationCode(typo)
console.log('with a typo:', bad.ok ? 'decoded?!' : `${bad.reason}: ${bad.detail}`)

const read = decodeInvitationCode(code.toUpperCase().replace(/(.{60})/g, '$1\n')) // pasted from a mail
if (!read.ok) throw new Error(read.detail)
const request = await sealJoinRequest({
  ...read.invitation,
  joiner,
  keyPackage: new Uint8Array([0, 1]),
})

// Owner: door, open (with the link's PeerId), redeem, assign, answer.
const door = new JoinDoor()
if (!door.admit('192.0.2.99', Date.now())) throw new Error('busy')
const opened = await openJoinRequest({
  payload: request,
  owner,
  ownerHpkePrivateKey: ownerKeys.privateKey,
  from: joiner,
})
if (!opened.ok) throw new Error(opened.reason)
const outcome = book.redeem({ vlanId: opened.vlanId, secret: opened.secret, joiner, now })
door.record(outcome)
const ipv4 = pool.assign(Buffer.from(joiner).toString('hex'))
const verdict = encodeJoinVerdict({
  vlanId: opened.vlanId,
  verdict: outcome === 'again' ? 'accepted' : outcome,
  ...(outcome === 'accepted' || outcome === 'again' ? { ipv4 } : {}),
})

// Joiner: the verdict (the Welcome would follow on channel 2).
const answer = decodeJoinVerdict(verdict)
if (!answer.ok) throw new Error(answer.reason)
console.log(
  'verdict:',
  answer.verdict.verdict,
  answer.verdict.ipv4,
  '-',
  verdictMessage(answer.verdict),
)
console.log('IPv6:', formatUlaPrefix(opened.vlanId), formatIpv6(ulaAddress(opened.vlanId, joiner)))

// The code is spent: a second joiner hears why.
const third = hex(`002408011220${'33'.repeat(32)}`)
const second = book.redeem({ vlanId: opened.vlanId, secret: opened.secret, joiner: third, now })
console.log(
  'a second joiner:',
  second,
  '-',
  verdictMessage({ verdict: second === 'again' ? 'accepted' : second }),
)
