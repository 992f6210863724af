/**
 * An invitation code as a QR code in SVG, for the web page (`vlan/invite`
 * with `qr=svg` returns it as `qrSvg`): dark modules on a light square with
 * the standard's quiet zone of 4 modules, one path, no script and nothing
 * fetched. Like the terminal's (qr.ts), the code is upper-cased, which it
 * reads the same, so the symbol uses QR's compact alphanumeric mode.
 */
import qrcode from 'qrcode-generator'

/** Modules of light margin around the symbol (the QR standard's). */
const QUIET = 4

export function renderQrSvg(text: string): string {
  const qr = qrcode(0, 'L')
  const upper = text.toUpperCase()
  qr.addData(upper, /^[0-9A-Z $%*+\-./:]*$/.test(upper) ? 'Alphanumeric' : 'Byte')
  qr.make()
  const size = qr.getModuleCount()
  const side = size + 2 * QUIET
  let d = ''
  for (let row = 0; row < size; row++) {
    for (let col = 0; col < size; col++) {
      if (qr.isDark(row, col)) d += `M${col + QUIET} ${row + QUIET}h1v1h-1z`
    }
  }
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${side} ${side}" ` +
    `shape-rendering="crispEdges" role="img" aria-label="QR code of the invitation code">` +
    `<rect width="${side}" height="${side}" fill="#fff"/><path fill="#000" d="${d}"/></svg>`
  )
}
