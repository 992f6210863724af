/**
 * An invitation code as a QR code for a terminal (`peertap vlan invite`
 * shows it above the code when standard output is a terminal), two module
 * rows per text line with half blocks. Drawn for a dark terminal: a light
 * module is a lit cell, so the symbol reads dark on light as scanners
 * expect. The code is upper-cased, which it reads the same
 * (docs/spec/15-invitations.md), so the symbol uses QR's compact
 * alphanumeric mode.
 */
import qrcode from 'qrcode-generator'

/** Modules of light margin around the symbol (the QR standard asks for 4; 2 fits more terminals and scans). */
const QUIET = 2

export function renderQr(text: string): string {
  const qr = qrcode(0, 'L')
  const upper = text.toUpperCase()
  qr.addData(upper, /^[0-9A-Z $%*+\-./:]*$/.test(upper) ? 'Alphanumeric' : 'Byte')
  qr.make()
  const size = qr.getModuleCount()
  // Light outside the symbol (the quiet zone); dark where the symbol has a dark module.
  const light = (row: number, col: number) =>
    row < 0 || col < 0 || row >= size || col >= size || !qr.isDark(row, col)
  const lines: string[] = []
  for (let row = -QUIET; row < size + QUIET; row += 2) {
    let line = ''
    for (let col = -QUIET; col < size + QUIET; col++) {
      const top = light(row, col)
      const bottom = light(row + 1, col)
      line += top && bottom ? '█' : top ? '▀' : bottom ? '▄' : ' '
    }
    lines.push(line)
  }
  return `${lines.join('\n')}\n`
}
