import { scaleLinear } from 'd3-scale';

/**
 * Learning curves as an SVG file: one panel per figure (reconstruction error; free energy of training and
 * held-out data), epochs on the x axis with a tick per epoch (or a readable subset), "nice" value ticks
 * and grid lines from d3-scale, axis titles, a legend, and the value of every point on hover (an SVG
 * `<title>`, which browsers and image viewers show as a tooltip). Plain text, crisp at any size.
 */

export interface Series {
  readonly label: string;
  readonly values: ReadonlyArray<number | undefined>;
  readonly color: string;
}

export interface Panel {
  readonly title: string;
  /** What the y axis measures (default: the title). */
  readonly unit?: string;
  readonly series: ReadonlyArray<Series>;
}

const W = 560;
const H = 260;
const M = { left: 64, right: 16, top: 30, bottom: 44 };

function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Up to 4 significant digits, as people read a curve's values. */
function valueText(x: number): string {
  const a = Math.abs(x);
  if (a !== 0 && (a >= 1e5 || a < 1e-3)) return x.toExponential(3);
  return Number(x.toPrecision(4)).toString();
}

function panel(p: Panel, y0: number): string {
  const finite = (v: number | undefined): v is number => v !== undefined && Number.isFinite(v);
  const all = p.series.flatMap((s) => s.values.filter(finite));
  const epochs = Math.max(...p.series.map((s) => s.values.length), 1);
  if (all.length === 0) return '';
  let lo = Math.min(...all);
  let hi = Math.max(...all);
  if (hi === lo) {
    const pad = Math.abs(lo) * 0.05 || 1;
    hi += pad;
    lo -= pad;
  }
  const plot = { x0: M.left, x1: W - M.right, y0: y0 + M.top, y1: y0 + H - M.bottom };
  // Epoch e (1-based) at its own position; one epoch sits in the middle.
  const x = scaleLinear()
    .domain(epochs === 1 ? [0, 2] : [1, epochs])
    .range([plot.x0, plot.x1]);
  const y = scaleLinear().domain([lo, hi]).nice(6).range([plot.y1, plot.y0]);
  const yTicks = y.ticks(6);
  const yFormat = y.tickFormat(6);
  const xTicks = x.ticks(Math.min(epochs, 10)).filter((t) => Number.isInteger(t) && t >= 1 && t <= epochs);
  const parts: string[] = [
    `<g class="panel">`,
    `<text x="${M.left}" y="${y0 + 19}" font-size="14" font-weight="bold">${escapeXml(p.title)}</text>`,
  ];
  for (const t of yTicks) {
    const ty = y(t).toFixed(1);
    parts.push(
      `<line x1="${plot.x0}" x2="${plot.x1}" y1="${ty}" y2="${ty}" stroke="#e4e4e4"/>`,
      `<text x="${plot.x0 - 6}" y="${ty}" dy="0.32em" font-size="11" text-anchor="end">${yFormat(t)}</text>`,
    );
  }
  for (const t of xTicks) {
    const tx = x(t).toFixed(1);
    parts.push(
      `<line x1="${tx}" x2="${tx}" y1="${plot.y1}" y2="${plot.y1 + 5}" stroke="#555"/>`,
      `<text x="${tx}" y="${plot.y1 + 17}" font-size="11" text-anchor="middle">${t}</text>`,
    );
  }
  parts.push(
    `<rect x="${plot.x0}" y="${plot.y0}" width="${plot.x1 - plot.x0}" height="${plot.y1 - plot.y0}" fill="none" stroke="#888"/>`,
    `<text x="${(plot.x0 + plot.x1) / 2}" y="${y0 + H - 8}" font-size="12" text-anchor="middle">epoch</text>`,
    `<text transform="translate(14 ${(plot.y0 + plot.y1) / 2}) rotate(-90)" font-size="12" text-anchor="middle">${escapeXml(p.unit ?? p.title)}</text>`,
  );
  p.series.forEach((s, k) => {
    const points = s.values
      .map((v, i) => (finite(v) ? ([x(i + 1), y(v), v, i + 1] as const) : undefined))
      .filter((q) => q !== undefined);
    parts.push(
      `<polyline points="${points.map(([px, py]) => `${px.toFixed(1)},${py.toFixed(1)}`).join(' ')}" fill="none" stroke="${s.color}" stroke-width="1.8"/>`,
    );
    // A dot per epoch, with its value on hover.
    for (const [px, py, v, e] of points) {
      parts.push(
        `<circle cx="${px.toFixed(1)}" cy="${py.toFixed(1)}" r="${epochs > 60 ? 1.5 : 3}" fill="${s.color}"><title>${escapeXml(s.label)}, epoch ${e}: ${valueText(v)}</title></circle>`,
      );
    }
    const last = points.at(-1);
    parts.push(
      `<text x="${plot.x1 - 6}" y="${plot.y0 + 16 + 14 * k}" font-size="11" text-anchor="end" fill="${s.color}">${escapeXml(s.label)}${last ? `: ${valueText(last[2])}` : ''}</text>`,
    );
  });
  parts.push('</g>');
  return parts.join('\n');
}

export function curvesSvg(panels: ReadonlyArray<Panel>): string {
  const body = panels.map((p, i) => panel(p, i * H)).join('\n');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H * panels.length}" viewBox="0 0 ${W} ${H * panels.length}" font-family="sans-serif">\n<rect width="100%" height="100%" fill="white"/>\n${body}\n</svg>\n`;
}
