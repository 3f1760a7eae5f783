import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { labelledEpochs } from './epoch-labels.js';
import { chartData } from './render.js';
import type { CurvePoint } from './state.js';

/**
 * A learning curve as a uPlot chart: axes with ticks and titles, grid lines, a dashed mark where each epoch
 * ended, and the values under the cursor in the legend (hover). uPlot draws on a canvas and redraws only
 * when given new data, which keeps the page's main thread free.
 */

const AXIS = { stroke: '#9a9aa8', grid: { stroke: '#2e2e38', width: 1 }, ticks: { stroke: '#44444e', width: 1 } };

export class CurveChart {
  private readonly plot: uPlot;
  private marks: readonly number[] = [];
  /** What is drawn: the state's arrays are replaced, never changed, so identity says whether to redraw. */
  private shown: readonly CurvePoint[] | undefined;
  private readonly resize: ResizeObserver;

  constructor(container: HTMLElement, title: string, unit: string, color: string) {
    const width = Math.max(280, container.clientWidth || 440);
    const opts: uPlot.Options = {
      title,
      width,
      height: 170,
      scales: { x: { time: false } },
      axes: [
        { ...AXIS, label: 'step', labelSize: 18, size: 34 },
        { ...AXIS, label: unit, labelSize: 18, size: 58 },
      ],
      series: [
        { label: 'step' },
        {
          label: unit,
          stroke: color,
          width: 1.5,
          points: { show: false },
          value: (_u, v) => (v == null ? '–' : v.toPrecision(5)),
        },
      ],
      legend: { live: true },
      cursor: { drag: { x: false, y: false }, points: { size: 6 } },
      hooks: { draw: [(u) => this.drawEpochMarks(u)] },
    };
    this.plot = new uPlot(opts, [[], []], container);
    this.resize = new ResizeObserver(() => {
      const w = Math.max(280, container.clientWidth);
      if (Math.abs(w - this.plot.width) > 2) this.plot.setSize({ width: w, height: 170 });
    });
    this.resize.observe(container);
  }

  /** New points (redraws only when the curve or the epoch marks changed). */
  update(points: readonly CurvePoint[], marks: readonly number[]): void {
    if (points === this.shown && marks === this.marks) return;
    this.shown = points;
    this.marks = marks;
    this.plot.setData(chartData(points));
  }

  private drawEpochMarks(u: uPlot): void {
    const [lo, hi] = [u.scales.x.min, u.scales.x.max];
    if (lo == null || hi == null) return;
    const ctx = u.ctx;
    ctx.save();
    ctx.strokeStyle = '#6a6a7a';
    ctx.fillStyle = '#8a8a9a';
    ctx.setLineDash([4, 4]);
    ctx.lineWidth = uPlot.pxRatio;
    ctx.font = `${10 * uPlot.pxRatio}px sans-serif`;
    const xs = this.marks.map((step) => Math.round(u.valToPos(step, 'x', true)));
    // Labels thinned as axis ticks are (every 2nd, 5th, 10th, ...): never overlapping, however many epochs.
    const widest = ctx.measureText(`epoch ${this.marks.length}`).width;
    const labelled = new Set(labelledEpochs(xs, widest + 8 * uPlot.pxRatio));
    this.marks.forEach((step, i) => {
      if (step < lo || step > hi) return;
      const x = xs[i]!;
      ctx.beginPath();
      ctx.moveTo(x, u.bbox.top);
      ctx.lineTo(x, u.bbox.top + u.bbox.height);
      ctx.stroke();
      if (labelled.has(i)) ctx.fillText(`epoch ${i + 1}`, x + 3 * uPlot.pxRatio, u.bbox.top + 11 * uPlot.pxRatio);
    });
    ctx.restore();
  }

  destroy(): void {
    this.resize.disconnect();
    this.plot.destroy();
  }
}
