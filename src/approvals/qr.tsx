/**
 * "Decide on your phone": the approval link as a QR code, for a person who opened it on a wide
 * screen. It carries the same link, so no new secret exists: the phone must still sign in as
 * the same person, and the token still works only while the request is pending. Drawn with
 * lean-qr's nano build (small, no dependencies, runs in workerd) as inline SVG through JSX, so
 * the page keeps its no-script, no-inline-style CSP. Whether the screen is wide is decided by a
 * CSS media query (`.handoff` in web/styles.ts), never by script. Pure.
 */
import { toSvgPath } from "lean-qr/extras/svg";
import { correction, generate } from "lean-qr/nano";

/** Modules of quiet zone around the code (ISO/IEC 18004 asks for 4). */
const QUIET_ZONE = 4;

/** The SVG path and size of a QR code of `text`, quiet zone included. */
export function qrPath(text: string): { d: string; size: number } {
  // Medium correction: survives a glare or a smudge on a screen at a modest size.
  const code = generate(text, { minCorrectionLevel: correction.M });
  return { d: toSvgPath(code), size: code.size };
}

/** The QR hand-off block: shown only on wide screens by the stylesheet. */
export function PhoneHandoff({ link }: { link: string }) {
  const { d, size } = qrPath(link);
  const box = size + QUIET_ZONE * 2;
  return (
    <div class="handoff">
      <svg
        class="qr"
        xmlns="http://www.w3.org/2000/svg"
        viewBox={`${-QUIET_ZONE} ${-QUIET_ZONE} ${box} ${box}`}
        width="240"
        height="240"
        shape-rendering="crispEdges"
        role="img"
        aria-label="QR code of this approval link"
      >
        <rect x={-QUIET_ZONE} y={-QUIET_ZONE} width={box} height={box} fill="#fff" />
        <path d={d} fill="#000" />
      </svg>
      <div>
        <p>
          <strong>Decide on your phone</strong>
        </p>
        <p class="muted small">
          Scan this with your phone's camera: it opens this same page. You sign in there as yourself; the code gives
          nobody else access.
        </p>
      </div>
    </div>
  );
}
