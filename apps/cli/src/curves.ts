/**
 * Learning curves as a small SVG: one panel per series (reconstruction error; free energy of training and
 * held-out data), epochs on the x axis. Plain text, no dependency, crisp at any size.
 */

export interface Series {
  readonly label: string;
  readonly values: ReadonlyArray<number | undefined>;
  readonly color: string;
}

export interface Panel {
  readonly title: string;
  readonly series: ReadonlyArray<Series>;
}

const W = 420;
const H = 220;
const M = { left: 56, right: 12, top: 28, bottom: 32 };

function fmt(x: number): string {
  const a = Math.abs(x);
  return a !== 0 && (a >= 1e4 || a < 1e-2) ? x.toExponential(1) : x.toFixed(a >= 100 ? 0 : 2);
}

function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function panel(p: Panel, y0: number): string {
  const all = p.series.flatMap((s) => s.values.filter((v): v is number => v !== undefined && Number.isFinite(v)));
  const n = Math.max(...p.series.map((s) => s.values.length), 1);
  if (all.length === 0) return '';
  let lo = Math.min(...all);
  let hi = Math.max(...all);
  if (hi === lo) {
    hi += 1;
    lo -= 1;
  }
  const x = (i: number) => M.left + (n === 1 ? 0.5 : i / (n - 1)) * (W - M.left - M.right);
  const y = (v: number) => y0 + M.top + (1 - (v - lo) / (hi - lo)) * (H - M.top - M.bottom);
  const parts = [
    `<text x="${M.left}" y="${y0 + 18}" font-size="13" font-weight="bold">${escapeXml(p.title)}</text>`,
    `<rect x="${M.left}" y="${y0 + M.top}" width="${W - M.left - M.right}" height="${H - M.top - M.bottom}" fill="none" stroke="#999"/>`,
    `<text x="${M.left - 4}" y="${y(hi) + 4}" font-size="10" text-anchor="end">${fmt(hi)}</text>`,
    `<text x="${M.left - 4}" y="${y(lo) + 4}" font-size="10" text-anchor="end">${fmt(lo)}</text>`,
    `<text x="${M.left}" y="${y0 + H - 14}" font-size="10">1</text>`,
    `<text x="${W - M.right}" y="${y0 + H - 14}" font-size="10" text-anchor="end">${n}</text>`,
    `<text x="${(W + M.left) / 2}" y="${y0 + H - 4}" font-size="10" text-anchor="middle">epoch</text>`,
  ];
  p.series.forEach((s, k) => {
    const pts = s.values
      .map((v, i) => (v === undefined || !Number.isFinite(v) ? undefined : `${x(i).toFixed(1)},${y(v).toFixed(1)}`))
      .filter(Boolean)
      .join(' ');
    parts.push(`<polyline points="${pts}" fill="none" stroke="${s.color}" stroke-width="1.5"/>`);
    parts.push(
      `<text x="${W - M.right - 4}" y="${y0 + M.top + 14 + 12 * k}" font-size="10" text-anchor="end" fill="${s.color}">${escapeXml(s.label)}</text>`,
    );
  });
  return parts.join('\n');
}

export function curvesSvg(panels: ReadonlyArray<Panel>): string {
  const body = panels.map((p, i) => panel(p, i * H)).join('\n');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H * panels.length}" font-family="sans-serif">\n<rect width="100%" height="100%" fill="white"/>\n${body}\n</svg>\n`;
}
