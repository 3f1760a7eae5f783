import { describe, expect, it } from 'vitest';
import { curvesSvg } from '../src/curves.js';

describe('learning curves (SVG)', () => {
  const svg = curvesSvg([
    {
      title: 'reconstruction error',
      unit: 'squared error per example',
      series: [{ label: 'training', values: [66.5, 62.25, 58.125, 55.0625, 53.4], color: '#1f77b4' }],
    },
    {
      title: 'mean free energy',
      series: [
        { label: 'training', values: [65, 52, 40], color: '#1f77b4' },
        { label: 'held out', values: [67, undefined, 43], color: '#d62728' },
      ],
    },
  ]);

  it('has a hover title with the value of every point, and skips missing ones', () => {
    const titles = [...svg.matchAll(/<title>([^<]*)<\/title>/g)].map((m) => m[1]);
    expect(titles).toContain('training, epoch 1: 66.5');
    expect(titles).toContain('training, epoch 4: 55.06');
    expect(titles).toContain('held out, epoch 3: 43');
    expect(titles.filter((t) => t!.startsWith('held out'))).toHaveLength(2);
    expect(titles).toHaveLength(5 + 3 + 2);
  });

  it('has epoch ticks 1..N, nice value ticks, axis titles and legends with the last value', () => {
    const texts = [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]);
    for (const e of ['1', '2', '3', '4', '5']) expect(texts).toContain(e);
    // d3's nice ticks over [53.4, 66.5]: 54, 56, ..., 66.
    for (const t of ['54', '56', '60', '66']) expect(texts).toContain(t);
    expect(texts.filter((t) => t === 'epoch')).toHaveLength(2);
    expect(texts).toContain('squared error per example');
    expect(texts).toContain('training: 53.4');
    expect(texts).toContain('held out: 43');
  });

  it('escapes labels and draws nothing for a panel with no finite value', () => {
    const odd = curvesSvg([{ title: 'a <b> & "c"', series: [{ label: 'x', values: [Number.NaN], color: '#000' }] }]);
    expect(odd).not.toContain('<b>');
    expect(odd).not.toContain('<polyline');
  });
});
