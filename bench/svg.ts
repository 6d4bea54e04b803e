/**
 * A self-contained SVG bar chart of ratios (no dependencies): labels on the left, one bar per row,
 * the ratio written at the bar's end, a dashed line at 1.0 and an optional target tick per bar.
 */

const LABEL_W = 240;
const BAR_W = 360;
const ROW_H = 28;
const TOP = 44;
const BOTTOM = 28;

const xml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export function ratioChart(bars: { label: string; ratio: number; target?: number }[], title: string): string {
  const width = LABEL_W + BAR_W + 80;
  const axisY = TOP + bars.length * ROW_H;
  const height = axisY + BOTTOM;
  // The scale reaches past 1.0, every ratio and every target, so nothing is clipped.
  const finite = bars.flatMap((b) => [b.ratio, b.target ?? 0]).filter(Number.isFinite);
  const max = Math.max(1.25, ...finite) * 1.1;
  const x = (r: number) => (LABEL_W + (Math.max(r, 0) / max) * BAR_W).toFixed(1);

  // Shapes first, then the 1.0 line over the bars, then all text on top.
  const shapes: string[] = [];
  const texts: string[] = [];
  bars.forEach((b, i) => {
    const y = TOP + i * ROW_H;
    const baseline = y + ROW_H / 2 + 4;
    const ok = Number.isFinite(b.ratio);
    // Green within the target (or at most 1.0 without one), amber past it.
    const fill = ok && b.ratio <= (b.target ?? 1) ? '#4caf50' : '#f0a030';
    if (ok) shapes.push(`<rect x="${LABEL_W}" y="${y + 5}" width="${(Number(x(b.ratio)) - LABEL_W).toFixed(1)}" height="${ROW_H - 10}" fill="${fill}"/>`);
    if (b.target !== undefined && Number.isFinite(b.target)) {
      shapes.push(`<line x1="${x(b.target)}" x2="${x(b.target)}" y1="${y + 2}" y2="${y + ROW_H - 2}" stroke="#c62828" stroke-width="2"><title>target ×${b.target.toFixed(2)}</title></line>`);
    }
    texts.push(`<text x="${LABEL_W - 8}" y="${baseline}" text-anchor="end">${xml(b.label)}</text>`);
    // A white halo keeps the number legible where it crosses a target tick or the 1.0 line.
    texts.push(`<text x="${(Number(x(ok ? b.ratio : 0)) + 6).toFixed(1)}" y="${baseline}" stroke="#fff" stroke-width="3" paint-order="stroke">${ok ? `×${b.ratio.toFixed(2)}` : 'n/a'}</text>`);
  });

  const one = x(1);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, sans-serif" font-size="13">`,
    `<title>${xml(title)}</title>`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="${width / 2}" y="24" text-anchor="middle" font-size="15" font-weight="600">${xml(title)}</text>`,
    ...shapes,
    `<line x1="${LABEL_W}" x2="${LABEL_W}" y1="${TOP - 4}" y2="${axisY}" stroke="#999"/>`,
    `<line x1="${one}" x2="${one}" y1="${TOP - 4}" y2="${axisY + 4}" stroke="#333" stroke-dasharray="4 3"/>`,
    `<text x="${one}" y="${axisY + 18}" text-anchor="middle" fill="#333">1.0</text>`,
    bars.some((b) => b.target !== undefined) ? `<text x="${width - 8}" y="${axisY + 18}" text-anchor="end" fill="#666" font-size="11">red tick: target</text>` : '',
    ...texts,
    '</svg>',
    '',
  ].join('\n');
}
